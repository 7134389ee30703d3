//! The OGC API's HTML pages (`f=html`, or a browser's Accept): the same documents as the
//! JSON, as plain linked pages a person can walk. Every value is escaped.

use serde_json::Value;

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · 村图 OGC API</title>\
         <style>body{{font:15px/1.5 system-ui,sans-serif;margin:1.5em auto;max-width:60em;padding:0 1em}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.2em .5em;text-align:left}}\
         code{{font-size:90%}}</style></head><body><h1>{title}</h1>{body}</body></html>",
        title = escape(title)
    )
}

/// The links of a document as a list, skipping the page itself.
fn links(doc: &Value) -> String {
    let mut out = String::from("<ul>");
    for link in doc["links"].as_array().into_iter().flatten() {
        if link["rel"] == "self" {
            continue;
        }
        let href = text(&link["href"]);
        let title = match text(&link["title"]) {
            t if t.is_empty() => href.clone(),
            t => t,
        };
        out.push_str(&format!(
            "<li><a href=\"{}\">{}</a> <small>({}, {})</small></li>",
            escape(&href),
            escape(&title),
            escape(&text(&link["rel"])),
            escape(&text(&link["type"]))
        ));
    }
    out.push_str("</ul>");
    out
}

pub fn landing(doc: &Value) -> String {
    page(
        &text(&doc["title"]),
        &format!(
            "<p>{}</p><h2>Links</h2>{}",
            escape(&text(&doc["description"])),
            links(doc)
        ),
    )
}

pub fn conformance(doc: &Value) -> String {
    let items: String = doc["conformsTo"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| format!("<li><code>{}</code></li>", escape(&text(c))))
        .collect();
    page("Conformance", &format!("<ul>{items}</ul>"))
}

pub fn collections(doc: &Value) -> String {
    let mut rows = String::new();
    for c in doc["collections"].as_array().into_iter().flatten() {
        let id = text(&c["id"]);
        rows.push_str(&format!(
            "<tr><td><a href=\"{href}\">{id}</a></td><td>{title}</td><td>{description}</td>\
             <td><a href=\"{href}/items?f=html\">items</a></td></tr>",
            href = escape(&text(&c["links"][0]["href"]).replace("?f=json", "")),
            id = escape(&id),
            title = escape(&text(&c["title"])),
            description = escape(&text(&c["description"])),
        ));
    }
    page(
        "Collections",
        &format!(
            "<table><tr><th>id</th><th>title</th><th>description</th><th></th></tr>{rows}</table>"
        ),
    )
}

pub fn collection(doc: &Value) -> String {
    let crs: String = doc["crs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| format!("<li><code>{}</code></li>", escape(&text(c))))
        .collect();
    page(
        &text(&doc["title"]),
        &format!(
            "<p>{}</p><p>id <code>{}</code> · itemType {}</p><h2>CRS</h2><ul>{crs}</ul><h2>Links</h2>{}",
            escape(&text(&doc["description"])),
            escape(&text(&doc["id"])),
            escape(&text(&doc["itemType"])),
            links(doc)
        ),
    )
}

fn feature_table(features: &[Value]) -> String {
    let mut names: Vec<String> = Vec::new();
    for f in features {
        for key in f["properties"]
            .as_object()
            .into_iter()
            .flat_map(|p| p.keys())
        {
            if !names.contains(key) {
                names.push(key.clone());
            }
        }
    }
    let mut out = String::from("<table><tr><th>id</th><th>geometry</th>");
    for n in &names {
        out.push_str(&format!("<th>{}</th>", escape(n)));
    }
    out.push_str("</tr>");
    for f in features {
        let self_link = f["links"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["rel"] == "self")
            .map(|l| text(&l["href"]))
            .unwrap_or_default();
        out.push_str(&format!(
            "<tr><td><a href=\"{}\">{}</a></td><td>{}</td>",
            escape(&self_link.replace("f=json", "f=html")),
            escape(&text(&f["id"])),
            escape(&text(&f["geometry"]["type"]))
        ));
        for n in &names {
            out.push_str(&format!("<td>{}</td>", escape(&text(&f["properties"][n]))));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
    out
}

pub fn items(title: &str, doc: &Value) -> String {
    let features = doc["features"].as_array().cloned().unwrap_or_default();
    page(
        title,
        &format!(
            "<p>{} of {} features</p>{}{}",
            escape(&text(&doc["numberReturned"])),
            escape(&text(&doc["numberMatched"])),
            links(doc),
            feature_table(&features)
        ),
    )
}

pub fn item(title: &str, doc: &Value) -> String {
    let mut rows = String::new();
    for (k, v) in doc["properties"].as_object().into_iter().flatten() {
        rows.push_str(&format!(
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(k),
            escape(&text(v))
        ));
    }
    page(
        &format!("{title} {}", text(&doc["id"])),
        &format!(
            "<table>{rows}</table><h2>Geometry</h2><pre>{}</pre>{}",
            escape(&doc["geometry"].to_string()),
            links(doc)
        ),
    )
}
