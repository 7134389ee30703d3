//! OGC API - Features at `/ogc`: Part 1 (core, GeoJSON, HTML, OpenAPI 3.0), Part 2 (CRS by
//! reference) and Part 4 (create, replace, update, delete), so that QGIS, GDAL and OWSLib
//! read and edit the map within the caller's scope.
//!
//! What real clients need beyond the text: every collection says `itemType: "feature"`
//! (OWSLib skips others), links are absolute, ids have no dots (QGIS), content types are
//! exact (GDAL), and nothing redirects. Households are personal data: read only within the
//! caller's scope, masked per role and audited, exactly as `/api/households` does.

mod caller;
mod cql2;
mod html;
mod openapi;
mod params;
mod write;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use cuntu_core::auth::{
    household_access, mask_id_card, mask_phone, reveal, HouseholdAccess, Visibility,
};
use cuntu_store::audit::AuditEntry;
use cuntu_store::ogc::{
    collection as find_collection, Collection, ColumnType, FeatureRow, ItemsQuery, OutputCrs,
    WriteOutcome, COLLECTIONS,
};
use serde_json::{json, Map, Value};

use crate::auth::Viewer;
use crate::error::ApiError;
use crate::AppState;
use caller::Caller;
use params::{bad, base_url, param, Format, CRS84, SUPPORTED_CRS};

pub const GEOJSON: &str = "application/geo+json";
pub const JSON: &str = "application/json";
pub const HTML: &str = "text/html; charset=utf-8";
pub const OPENAPI: &str = "application/vnd.oai.openapi+json;version=3.0";
pub const SCHEMA: &str = "application/schema+json";

/// The conformance classes this server implements.
pub const CONFORMANCE: &[&str] = &[
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/features",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ogc", get(landing))
        .route("/ogc/", get(landing))
        .route("/ogc/conformance", get(conformance))
        .route("/ogc/collections", get(collections))
        .route("/ogc/collections/{collection_id}", get(collection))
        .route(
            "/ogc/collections/{collection_id}/queryables",
            get(queryables),
        )
        .route(
            "/ogc/collections/{collection_id}/items",
            get(items).post(create).options(items_options),
        )
        .route(
            "/ogc/collections/{collection_id}/items/{feature_id}",
            get(item)
                .put(replace)
                .patch(update)
                .delete(delete)
                .options(item_options),
        )
        // Anything else under /ogc is a JSON 404, never the web page's index.html.
        .route("/ogc/{*rest}", get(ogc_not_found))
        .route("/api/openapi.json", get(openapi::openapi_json))
        .route("/api/docs", get(openapi::docs_page))
        .layer(middleware::from_fn(challenge))
}

/// A 401 of the OGC API asks for Basic credentials, so that clients such as QGIS and curl
/// know how to authenticate.
async fn challenge(request: axum::extract::Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if response.status() == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"cuntu\", charset=\"UTF-8\""),
        );
    }
    response
}

async fn ogc_not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound {
        what_zh: format!("OGC API 中的 {}", uri.path()),
        what_en: format!("The OGC API resource {}", uri.path()),
    }
}

type Params = Result<Query<Vec<(String, String)>>, QueryRejection>;

fn query_params(params: Params) -> Result<Vec<(String, String)>, ApiError> {
    params.map(|Query(p)| p).map_err(|e| {
        bad(
            format!("查询参数无法读取：{e}"),
            format!("The query parameters cannot be read: {e}"),
        )
    })
}

fn respond(
    format: Format,
    doc: Value,
    json_type: &'static str,
    page: impl FnOnce(&Value) -> String,
) -> Response {
    match format {
        Format::Html => ([(header::CONTENT_TYPE, HTML)], page(&doc)).into_response(),
        Format::Json => (
            [(header::CONTENT_TYPE, json_type)],
            serde_json::to_vec(&doc).unwrap_or_default(),
        )
            .into_response(),
    }
}

fn link(href: String, rel: &str, media: &str, title: &str) -> Value {
    json!({ "href": href, "rel": rel, "type": media, "title": title })
}

/// The self and alternate links of a document at `path` (with its query, without `f`).
fn self_links(base: &str, path: &str, format: Format, json_type: &str, title: &str) -> Vec<Value> {
    let json_href = with_f(base, path, "json");
    let html_href = with_f(base, path, "html");
    let (this, other) = match format {
        Format::Json => ((json_href, json_type), (html_href, "text/html")),
        Format::Html => ((html_href, "text/html"), (json_href, json_type)),
    };
    vec![
        link(this.0, "self", this.1, title),
        link(other.0, "alternate", other.1, title),
    ]
}

fn with_f(base: &str, path: &str, f: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{base}{path}{sep}f={f}")
}

fn unknown_collection(id: &str) -> ApiError {
    let known: Vec<&str> = COLLECTIONS.iter().map(|c| c.id).collect();
    ApiError::NotFound {
        what_zh: format!("要素集“{id}”（可用：{}）", known.join("，")),
        what_en: format!("Collection '{id}' (known: {})", known.join(", ")),
    }
}

fn lookup(id: &str) -> Result<&'static Collection, ApiError> {
    find_collection(id).ok_or_else(|| unknown_collection(id))
}

async fn landing(headers: HeaderMap, params: Params) -> Result<Response, ApiError> {
    let params = query_params(params)?;
    params::check_known(&params, None, &["f"])?;
    let format = Format::negotiate(param(&params, "f"), &headers)?;
    let base = base_url(&headers);
    let mut links = self_links(&base, "/ogc", format, JSON, "村图 OGC API - Features");
    links.extend([
        link(
            format!("{base}/api/openapi.json"),
            "service-desc",
            OPENAPI,
            "The API definition (OpenAPI 3.0)",
        ),
        link(
            format!("{base}/api/docs"),
            "service-doc",
            "text/html",
            "The API documentation",
        ),
        link(
            format!("{base}/ogc/conformance?f=json"),
            "conformance",
            JSON,
            "Conformance classes",
        ),
        link(
            format!("{base}/ogc/conformance?f=json"),
            "http://www.opengis.net/def/rel/ogc/1.0/conformance",
            JSON,
            "Conformance classes",
        ),
        link(
            format!("{base}/ogc/collections?f=json"),
            "data",
            JSON,
            "Collections",
        ),
        link(
            format!("{base}/ogc/collections?f=json"),
            "http://www.opengis.net/def/rel/ogc/1.0/data",
            JSON,
            "Collections",
        ),
    ]);
    let doc = json!({
        "title": "村图 cuntu OGC API - Features",
        "description": "The township map's layers (areas, households within your scope, facilities, hazards, roads, waterways) for standard GIS clients. Authenticate with an API token (Authorization: Bearer) or HTTP Basic.",
        "links": links,
    });
    Ok(respond(format, doc, JSON, html::landing))
}

async fn conformance(headers: HeaderMap, params: Params) -> Result<Response, ApiError> {
    let params = query_params(params)?;
    params::check_known(&params, None, &["f"])?;
    let format = Format::negotiate(param(&params, "f"), &headers)?;
    let base = base_url(&headers);
    let doc = json!({
        "conformsTo": CONFORMANCE,
        "links": self_links(&base, "/ogc/conformance", format, JSON, "Conformance classes"),
    });
    Ok(respond(format, doc, JSON, html::conformance))
}

/// Households are listed only to callers who may read some: others see the public layers.
fn visible(c: &Collection, viewer: &Viewer) -> bool {
    !c.personal || !viewer.household_roots().is_empty()
}

async fn collection_doc(
    state: &AppState,
    viewer: &Viewer,
    c: &Collection,
    base: &str,
    format: Format,
) -> Result<Value, ApiError> {
    let extent = state.store.ogc_extent(c, &viewer.household_roots()).await?;
    let path = format!("/ogc/collections/{}", c.id);
    let mut links = self_links(base, &path, format, JSON, c.title_en);
    links.push(link(
        format!("{base}{path}/items?f=json"),
        "items",
        GEOJSON,
        c.title_en,
    ));
    links.push(link(
        format!("{base}{path}/items?f=html"),
        "items",
        "text/html",
        c.title_en,
    ));
    links.push(link(
        format!("{base}{path}/queryables"),
        "http://www.opengis.net/def/rel/ogc/1.0/queryables",
        SCHEMA,
        "Queryable properties",
    ));
    let mut doc = json!({
        "id": c.id,
        "title": format!("{} {}", c.title_zh, c.title_en),
        "description": c.description_en,
        "itemType": "feature",
        "crs": SUPPORTED_CRS.iter().map(|(uri, _)| *uri).collect::<Vec<_>>(),
        "storageCrs": CRS84,
        "links": links,
    });
    let mut extent_doc = Map::new();
    if let Some(bbox) = extent.bbox {
        extent_doc.insert("spatial".into(), json!({ "bbox": [bbox], "crs": CRS84 }));
    }
    if c.temporal {
        let time = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.to_rfc3339());
        extent_doc.insert(
            "temporal".into(),
            json!({
                "interval": [[time(extent.first_update), time(extent.last_update)]],
                "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
            }),
        );
    }
    if !extent_doc.is_empty() {
        doc["extent"] = Value::Object(extent_doc);
    }
    Ok(doc)
}

async fn collections(
    State(state): State<AppState>,
    Caller(viewer): Caller,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let params = query_params(params)?;
    params::check_known(&params, None, &["f"])?;
    let format = Format::negotiate(param(&params, "f"), &headers)?;
    let base = base_url(&headers);
    let mut list = Vec::new();
    for c in COLLECTIONS.iter().filter(|c| visible(c, &viewer)) {
        list.push(collection_doc(&state, &viewer, c, &base, Format::Json).await?);
    }
    let doc = json!({
        "collections": list,
        "crs": SUPPORTED_CRS.iter().map(|(uri, _)| *uri).collect::<Vec<_>>(),
        "links": self_links(&base, "/ogc/collections", format, JSON, "Collections"),
    });
    Ok(respond(format, doc, JSON, html::collections))
}

/// For a personal collection: the caller's household scope, or 401 (anonymous) / 403 (a
/// role that reads no households).
fn read_scope(c: &Collection, viewer: &Viewer) -> Result<Vec<i64>, ApiError> {
    if !c.personal {
        return Ok(Vec::new());
    }
    viewer.require()?;
    let roots = viewer.household_roots();
    if roots.is_empty() {
        return Err(ApiError::Forbidden);
    }
    Ok(roots)
}

async fn collection(
    State(state): State<AppState>,
    Caller(viewer): Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let c = lookup(&id)?;
    let params = query_params(params)?;
    params::check_known(&params, None, &["f"])?;
    let format = Format::negotiate(param(&params, "f"), &headers)?;
    read_scope(c, &viewer)?;
    let doc = collection_doc(&state, &viewer, c, &base_url(&headers), format).await?;
    Ok(respond(format, doc, JSON, html::collection))
}

/// The properties `filter` and `?name=value` may name, as a JSON Schema (Part 3).
async fn queryables(
    Caller(viewer): Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let c = lookup(&id)?;
    let params = query_params(params)?;
    params::check_known(&params, None, &["f"])?;
    read_scope(c, &viewer)?;
    let mut properties = Map::new();
    properties.insert(
        "geometry".into(),
        json!({ "format": format!("geometry-{}", c.geometry_type.to_lowercase()) }),
    );
    for col in c.columns.iter().filter(|col| col.queryable) {
        let schema = match col.ty {
            ColumnType::Text => json!({"type": "string"}),
            ColumnType::Integer => json!({"type": "integer"}),
            ColumnType::Bool => json!({"type": "boolean"}),
            ColumnType::TextArray => json!({"type": "array", "items": {"type": "string"}}),
            ColumnType::Timestamp => json!({"type": "string", "format": "date-time"}),
        };
        properties.insert(col.name.into(), schema);
    }
    let doc = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("{}/ogc/collections/{}/queryables", base_url(&headers), c.id),
        "type": "object",
        "title": c.title_en,
        "properties": properties,
        "additionalProperties": false,
    });
    Ok((
        [(header::CONTENT_TYPE, SCHEMA)],
        serde_json::to_vec(&doc).unwrap_or_default(),
    )
        .into_response())
}

/// Hides or masks a household's personal properties as the viewer's role reads them (the
/// same rules as `/api/households/{id}`).
fn mask_household(properties: &mut Map<String, Value>, access: HouseholdAccess) {
    if access.names == Visibility::Hidden {
        properties.remove("head_name");
        properties.remove("members");
    }
    if access.tags == Visibility::Hidden {
        properties.remove("tags");
    }
    for (name, visibility, mask) in [
        ("phone", access.phone, mask_phone as fn(&str) -> String),
        ("id_card", access.id_card, mask_id_card),
    ] {
        let value = properties
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_string);
        match reveal(value, visibility, mask) {
            Some(v) => {
                properties.insert(name.into(), Value::String(v));
            }
            None if visibility == Visibility::Hidden => {
                properties.remove(name);
            }
            None => {}
        }
    }
}

/// A row as a GeoJSON feature the viewer may see; `None` for a household outside their
/// access (the query's scope already excludes those; this is the second lock).
fn feature(c: &Collection, viewer: &Viewer, row: FeatureRow, base: &str) -> Option<Value> {
    let mut properties = row.properties;
    if c.personal {
        let access = household_access(&viewer.assignments(), &row.chain)?;
        mask_household(&mut properties, access);
    }
    let href = format!("{base}/ogc/collections/{}/items/{}", c.id, row.id);
    Some(json!({
        "type": "Feature",
        "id": row.id,
        "geometry": row.geometry,
        "properties": properties,
        "links": [
            link(format!("{href}?f=json"), "self", GEOJSON, "this feature"),
            link(format!("{base}/ogc/collections/{}?f=json", c.id), "collection", JSON, c.title_en),
        ],
    }))
}

fn content_crs(uri: &str) -> (HeaderName, HeaderValue) {
    (
        HeaderName::from_static("content-crs"),
        HeaderValue::from_str(&format!("<{uri}>")).unwrap_or(HeaderValue::from_static("")),
    )
}

fn output_crs(params: &[(String, String)]) -> Result<(&'static str, OutputCrs), ApiError> {
    match param(params, "crs") {
        Some(raw) => params::crs(raw, "crs"),
        None => Ok((CRS84, OutputCrs::CRS84)),
    }
}

async fn items(
    State(state): State<AppState>,
    Caller(viewer): Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let c = lookup(&id)?;
    let params = query_params(params)?;
    params::check_known(&params, Some(c), params::ITEMS_PARAMETERS)?;
    let format = Format::negotiate(param(&params, "f"), &headers)?;
    let roots = read_scope(c, &viewer)?;
    let (crs_uri, crs) = output_crs(&params)?;
    let bbox = match param(&params, "bbox") {
        Some(raw) => {
            let (_, bbox_crs) = match param(&params, "bbox-crs") {
                Some(b) => params::crs(b, "bbox-crs")?,
                None => (CRS84, OutputCrs::CRS84),
            };
            Some(params::bbox(raw, bbox_crs)?)
        }
        None => None,
    };
    let datetime = match param(&params, "datetime") {
        Some(raw) if c.temporal => Some(params::datetime(raw)?),
        // A collection without time: every feature matches any time (Part 1, 7.15.4).
        Some(raw) => {
            params::datetime(raw)?;
            None
        }
        None => None,
    };
    let limit = match param(&params, "limit") {
        Some(raw) => params::integer(raw, "limit", 1)?.min(params::MAX_LIMIT),
        None => params::DEFAULT_LIMIT,
    };
    let offset = match param(&params, "offset") {
        Some(raw) => params::integer(raw, "offset", 0)?,
        None => 0,
    };
    let filter = match param(&params, "filter") {
        Some(text) => {
            match param(&params, "filter-lang") {
                None | Some("cql2-text") => {}
                Some(other) => {
                    return Err(bad(
                        format!("不支持 filter-lang“{other}”，仅支持 cql2-text"),
                        format!("filter-lang '{other}' is not supported, only cql2-text"),
                    ))
                }
            }
            let (_, filter_crs) = match param(&params, "filter-crs") {
                Some(raw) => params::crs(raw, "filter-crs")?,
                None => (CRS84, OutputCrs::CRS84),
            };
            Some(cql2::parse(text, c, filter_crs)?)
        }
        None => None,
    };
    let equals = params
        .iter()
        .filter_map(|(name, value)| {
            let column = c.column(name).filter(|col| col.queryable)?;
            Some((column, value.clone()))
        })
        .collect();
    let query = ItemsQuery {
        bbox,
        datetime,
        equals,
        filter,
        limit,
        offset,
        crs,
        scope_roots: &roots,
        id: None,
    };
    let page = state.store.ogc_items(c, &query).await?;
    if c.personal {
        state
            .store
            .audit(AuditEntry {
                detail: json!({ "count": page.features.len(), "offset": offset }),
                ..viewer.audit_entry("list_households", Some("ogc:households".into()))
            })
            .await?;
    }
    let base = base_url(&headers);
    let returned = page.features.len() as i64;
    let features: Vec<Value> = page
        .features
        .into_iter()
        .filter_map(|row| feature(c, &viewer, row, &base))
        .collect();
    // Links keep every parameter but the page's own.
    let kept: Vec<String> = params
        .iter()
        .filter(|(n, _)| n != "offset" && n != "f" && n != "limit")
        .map(|(n, v)| {
            format!(
                "{}={}",
                crate::routes::percent_encode(n),
                crate::routes::percent_encode(v)
            )
        })
        .collect();
    let page_path = |offset: i64| {
        let mut q = kept.clone();
        q.push(format!("limit={limit}"));
        if offset > 0 {
            q.push(format!("offset={offset}"));
        }
        format!("/ogc/collections/{}/items?{}", c.id, q.join("&"))
    };
    let mut links = self_links(&base, &page_path(offset), format, GEOJSON, c.title_en);
    // Pages lead to pages in the same format: a person reading HTML stays in HTML.
    let (page_f, page_type) = match format {
        Format::Json => ("json", GEOJSON),
        Format::Html => ("html", "text/html"),
    };
    if offset + returned < page.number_matched {
        links.push(link(
            with_f(&base, &page_path(offset + returned), page_f),
            "next",
            page_type,
            "next page",
        ));
    }
    if offset > 0 {
        links.push(link(
            with_f(&base, &page_path((offset - limit).max(0)), page_f),
            "prev",
            page_type,
            "previous page",
        ));
    }
    links.push(link(
        format!("{base}/ogc/collections/{}?f=json", c.id),
        "collection",
        JSON,
        c.title_en,
    ));
    let doc = json!({
        "type": "FeatureCollection",
        "timeStamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "numberMatched": page.number_matched,
        "numberReturned": returned,
        "features": features,
        "links": links,
    });
    let title = format!("{} {}", c.title_zh, c.title_en);
    let mut response = respond(format, doc, GEOJSON, |d| html::items(&title, d));
    let (name, value) = content_crs(crs_uri);
    response.headers_mut().insert(name, value);
    Ok(response)
}

fn feature_id(raw: &str, c: &Collection) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound {
        what_zh: format!("{}中编号为 {raw} 的要素", c.title_zh),
        what_en: format!("Feature {raw} of {}", c.id),
    })
}

fn not_found(c: &Collection, id: i64) -> ApiError {
    ApiError::NotFound {
        what_zh: format!("{}中编号为 {id} 的要素", c.title_zh),
        what_en: format!("Feature {id} of {}", c.id),
    }
}

fn etag(version: i32) -> (HeaderName, HeaderValue) {
    (
        header::ETAG,
        HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("")),
    )
}

async fn item(
    State(state): State<AppState>,
    Caller(viewer): Caller,
    headers: HeaderMap,
    Path((cid, raw)): Path<(String, String)>,
    params: Params,
) -> Result<Response, ApiError> {
    let c = lookup(&cid)?;
    let params = query_params(params)?;
    params::check_known(&params, None, &["f", "crs"])?;
    let format = Format::negotiate(param(&params, "f"), &headers)?;
    let id = feature_id(&raw, c)?;
    let roots = read_scope(c, &viewer)?;
    let (crs_uri, crs) = output_crs(&params)?;
    let base = base_url(&headers);
    let row = state.store.ogc_item(c, id, crs, &roots).await?;
    let version = row.as_ref().and_then(|r| r.version);
    let Some(mut doc) = row.and_then(|r| feature(c, &viewer, r, &base)) else {
        // Outside the scope: 403 if it exists, 404 if not, with nothing of the data.
        return Err(if c.personal && state.store.ogc_exists(c, id).await? {
            ApiError::Forbidden
        } else {
            not_found(c, id)
        });
    };
    if c.personal {
        state
            .store
            .audit(viewer.audit_entry("read_household", Some(format!("household:{id}"))))
            .await?;
    }
    let path = format!("/ogc/collections/{}/items/{id}", c.id);
    let mut links = self_links(&base, &path, format, GEOJSON, "this feature");
    links.push(link(
        format!("{base}/ogc/collections/{}?f=json", c.id),
        "collection",
        JSON,
        c.title_en,
    ));
    doc["links"] = Value::Array(links);
    let title = format!("{} {}", c.title_zh, c.title_en);
    let mut response = respond(format, doc, GEOJSON, |d| html::item(&title, d));
    let (name, value) = content_crs(crs_uri);
    response.headers_mut().insert(name, value);
    if let Some(v) = version {
        let (name, value) = etag(v);
        response.headers_mut().insert(name, value);
    }
    Ok(response)
}

// ---- Part 4: writes ----

/// The version the client edited, from `If-Match` (`"7"` or `W/"7"`); absent means the
/// client does not lock (QGIS does not send it), and the write applies to the current one.
fn if_match(headers: &HeaderMap) -> Result<Option<i32>, ApiError> {
    let Some(raw) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = raw.to_str().unwrap_or("");
    if text.trim() == "*" {
        return Ok(None);
    }
    let tag = text.trim().trim_start_matches("W/").trim_matches('"');
    tag.parse().map(Some).map_err(|_| {
        bad(
            format!("If-Match 头须为本服务给出的 ETag，如 \"3\"，收到 {text}"),
            format!(
                "The If-Match header must be an ETag this service gave, such as \"3\", got {text}"
            ),
        )
    })
}

/// Writes take CRS84 only: a body in another CRS (Part 2's `Content-Crs`) is refused
/// rather than stored in the wrong place.
fn content_crs_is_crs84(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(raw) = headers.get("content-crs") else {
        return Ok(());
    };
    let uri = raw
        .to_str()
        .unwrap_or("")
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>');
    match params::crs(uri, "Content-Crs") {
        Ok((CRS84, _)) => Ok(()),
        _ => Err(bad(
            format!("写入的要素须为 CRS84（{CRS84}），收到 Content-Crs {uri}"),
            format!("Features are written in CRS84 ({CRS84}) only, got Content-Crs {uri}"),
        )),
    }
}

fn json_body(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        bad(
            format!("请求内容不是有效的 JSON：{e}"),
            format!("The body is not valid JSON: {e}"),
        )
    })
}

/// The caller's editing roots for `c`, or 405 (a read-only layer), 401 or 403.
fn writer(c: &Collection, viewer: &Viewer) -> Result<Vec<i64>, ApiError> {
    if !c.editable {
        return Err(ApiError::ReadOnly {
            zh: format!("{}为只读图层，不能通过 OGC API 修改。", c.title_zh),
            en: format!("{} is read-only through the OGC API.", c.title_en),
        });
    }
    let account = viewer.require()?;
    let roots = write::editor_roots(c, &account.assignments());
    if roots.is_empty() {
        return Err(ApiError::Forbidden);
    }
    Ok(roots)
}

/// Which personal fields the viewer sees masked in feature `id` (all, when unsure).
async fn masked_fields(
    state: &AppState,
    c: &Collection,
    viewer: &Viewer,
    id: i64,
) -> Result<write::Masked, ApiError> {
    if !c.personal {
        return Ok(write::Masked {
            phone: false,
            id_card: false,
        });
    }
    let row = state
        .store
        .ogc_item(c, id, OutputCrs::CRS84, &viewer.household_roots())
        .await?;
    let access = row.and_then(|r| household_access(&viewer.assignments(), &r.chain));
    Ok(match access {
        Some(a) => write::Masked {
            phone: a.phone != Visibility::Full,
            id_card: a.id_card != Visibility::Full,
        },
        None => write::Masked {
            phone: true,
            id_card: true,
        },
    })
}

async fn audit_write(
    state: &AppState,
    viewer: &Viewer,
    action: &str,
    c: &Collection,
    id: i64,
) -> Result<(), ApiError> {
    state
        .store
        .audit(viewer.audit_entry(action, Some(format!("{}:{id}", c.id))))
        .await?;
    Ok(())
}

fn outcome(
    c: &Collection,
    id: i64,
    expected: Option<i32>,
    o: WriteOutcome,
) -> Result<i32, ApiError> {
    match o {
        WriteOutcome::Written { version, .. } => Ok(version),
        WriteOutcome::Deleted => Ok(0),
        WriteOutcome::OutOfScope => Err(ApiError::Forbidden),
        WriteOutcome::NotFound => Err(not_found(c, id)),
        WriteOutcome::Stale { current } => Err(ApiError::PreconditionFailed {
            expected: expected.unwrap_or_default(),
            current,
        }),
    }
}

async fn create(
    State(state): State<AppState>,
    Caller(viewer): Caller,
    headers: HeaderMap,
    Path(cid): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let c = lookup(&cid)?;
    let roots = writer(c, &viewer)?;
    content_crs_is_crs84(&headers)?;
    let value = json_body(&body)?;
    let unmasked = write::Masked {
        phone: false,
        id_card: false,
    };
    let mut write = write::feature_write(c, &value, write::Mode::Replace, &unmasked)?;
    write.editor = viewer.account.as_ref().map(|a| a.id);
    let outcome = state.store.ogc_create(c, &write, &roots).await?;
    let WriteOutcome::Written { id, version } = outcome else {
        return Err(ApiError::Forbidden);
    };
    audit_write(&state, &viewer, "ogc_create", c, id).await?;
    let location = format!("{}/ogc/collections/{}/items/{id}", base_url(&headers), c.id);
    let (etag_name, etag_value) = etag(version);
    Ok((
        StatusCode::CREATED,
        [
            (
                header::LOCATION,
                HeaderValue::from_str(&location).map_err(|_| ApiError::Internal)?,
            ),
            (etag_name, etag_value),
        ],
    )
        .into_response())
}

/// What the caller may do here, in `Allow`: QGIS asks with OPTIONS before it offers to
/// edit a layer, and offers it only when the write methods are listed.
fn allow(c: &Collection, viewer: &Viewer, writes: &'static str) -> Response {
    let may_write = c.editable
        && viewer
            .account
            .as_ref()
            .is_some_and(|a| !write::editor_roots(c, &a.assignments()).is_empty());
    let methods = if may_write {
        writes
    } else {
        "GET, HEAD, OPTIONS"
    };
    (StatusCode::NO_CONTENT, [(header::ALLOW, methods)]).into_response()
}

async fn items_options(
    Caller(viewer): Caller,
    Path(cid): Path<String>,
) -> Result<Response, ApiError> {
    Ok(allow(lookup(&cid)?, &viewer, "GET, HEAD, POST, OPTIONS"))
}

async fn item_options(
    Caller(viewer): Caller,
    Path((cid, _)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    Ok(allow(
        lookup(&cid)?,
        &viewer,
        "GET, HEAD, PUT, PATCH, DELETE, OPTIONS",
    ))
}

async fn put_or_patch(
    state: AppState,
    viewer: Viewer,
    headers: HeaderMap,
    cid: String,
    raw: String,
    body: Bytes,
    mode: write::Mode,
) -> Result<Response, ApiError> {
    let c = lookup(&cid)?;
    let roots = writer(c, &viewer)?;
    let id = feature_id(&raw, c)?;
    let expected = if_match(&headers)?;
    content_crs_is_crs84(&headers)?;
    let value = json_body(&body)?;
    let masked = masked_fields(&state, c, &viewer, id).await?;
    let mut write = write::feature_write(c, &value, mode, &masked)?;
    write.editor = viewer.account.as_ref().map(|a| a.id);
    let result = state
        .store
        .ogc_update(c, id, expected, &write, &roots)
        .await?;
    let version = outcome(c, id, expected, result)?;
    let action = match mode {
        write::Mode::Replace => "ogc_replace",
        write::Mode::Patch => "ogc_update",
    };
    audit_write(&state, &viewer, action, c, id).await?;
    Ok((StatusCode::NO_CONTENT, [etag(version)]).into_response())
}

async fn replace(
    State(state): State<AppState>,
    Caller(viewer): Caller,
    headers: HeaderMap,
    Path((cid, raw)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    put_or_patch(state, viewer, headers, cid, raw, body, write::Mode::Replace).await
}

async fn update(
    State(state): State<AppState>,
    Caller(viewer): Caller,
    headers: HeaderMap,
    Path((cid, raw)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    put_or_patch(state, viewer, headers, cid, raw, body, write::Mode::Patch).await
}

async fn delete(
    State(state): State<AppState>,
    Caller(viewer): Caller,
    headers: HeaderMap,
    Path((cid, raw)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let c = lookup(&cid)?;
    let roots = writer(c, &viewer)?;
    let id = feature_id(&raw, c)?;
    let expected = if_match(&headers)?;
    let result = state.store.ogc_delete(c, id, expected, &roots).await?;
    outcome(c, id, expected, result)?;
    audit_write(&state, &viewer, "ogc_delete", c, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
