//! The OpenAPI 3.0 document of the whole HTTP surface at `/api/openapi.json`, and a page that
//! shows it at `/api/docs`.
//!
//! The document is built from one declarative table (`OPERATIONS`) rather than from
//! annotations on every handler: one place to read, no churn in the handlers' files. A test
//! (`tests/ogc.rs`, `the_openapi_document_lists_every_route`) reads the routers' sources for
//! every `.route(...)` and asks the running server for every documented one, so a route
//! added without a line here (or a line without a route) fails the build's tests.

use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::html::escape;
use super::params::{base_url, DEFAULT_LIMIT, MAX_LIMIT, SUPPORTED_CRS};
use super::{CONFORMANCE, GEOJSON, HTML, JSON, OPENAPI};
use cuntu_store::ogc::COLLECTIONS;

/// One operation: method, path (axum's `{param}` syntax, which is also OpenAPI's), a tag,
/// what it is for, its query parameters, its request body and its answer's media type.
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    pub query: &'static [&'static str],
    pub body: Option<&'static str>,
    pub answer: &'static str,
}

const fn op(
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    query: &'static [&'static str],
    body: Option<&'static str>,
    answer: &'static str,
) -> Operation {
    Operation {
        method,
        path,
        tag,
        summary,
        query,
        body,
        answer,
    }
}

const MVT: &str = "application/vnd.mapbox-vector-tile";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const CSV: &str = "text/csv";
const PNG: &str = "image/*";
/// An export: GeoPackage, zipped Shapefile, KML, GeoJSON, CSV or XLSX, as asked.
const FILE: &str = "*/*";
const NONE: &str = "";
const B: Option<&str> = Some("application/json");
const FEATURE: Option<&str> = Some("application/geo+json");
const ITEMS_QUERY: &[&str] = &[
    "f",
    "bbox",
    "bbox-crs",
    "crs",
    "limit",
    "offset",
    "datetime",
    "filter",
    "filter-lang",
    "filter-crs",
];

/// Every route of the HTTP surface but the web pages and the catch-all 404 of `/api`.
#[rustfmt::skip]
pub const OPERATIONS: &[Operation] = &[
    // OGC API - Features
    op("GET", "/ogc", "OGC API - Features", "Landing page", &["f"], None, JSON),
    op("GET", "/ogc/conformance", "OGC API - Features", "Conformance classes", &["f"], None, JSON),
    op("GET", "/ogc/collections", "OGC API - Features", "The collections you may read", &["f"], None, JSON),
    op("GET", "/ogc/collections/{collection_id}", "OGC API - Features", "One collection", &["f"], None, JSON),
    op("GET", "/ogc/collections/{collection_id}/queryables", "OGC API - Features", "The properties filters may name, as JSON Schema", &["f"], None, "application/schema+json"),
    op("GET", "/ogc/collections/{collection_id}/items", "OGC API - Features", "Features of a collection, paged; any queryable property is also a filter (?name=value)", ITEMS_QUERY, None, GEOJSON),
    op("POST", "/ogc/collections/{collection_id}/items", "OGC API - Features", "Create a feature (households, facilities, hazards; within your areas)", &[], FEATURE, NONE),
    op("OPTIONS", "/ogc/collections/{collection_id}/items", "OGC API - Features", "The methods you may use here (Allow), as QGIS asks before editing", &[], None, NONE),
    op("OPTIONS", "/ogc/collections/{collection_id}/items/{feature_id}", "OGC API - Features", "The methods you may use on a feature (Allow)", &[], None, NONE),
    op("GET", "/ogc/collections/{collection_id}/items/{feature_id}", "OGC API - Features", "One feature, with its version as ETag", &["f", "crs"], None, GEOJSON),
    op("PUT", "/ogc/collections/{collection_id}/items/{feature_id}", "OGC API - Features", "Replace a feature (If-Match: its ETag, optional)", &[], FEATURE, NONE),
    op("PATCH", "/ogc/collections/{collection_id}/items/{feature_id}", "OGC API - Features", "Update some properties or the geometry (JSON merge patch)", &[], Some("application/merge-patch+json"), NONE),
    op("DELETE", "/ogc/collections/{collection_id}/items/{feature_id}", "OGC API - Features", "Delete a feature (If-Match: its ETag, optional)", &[], None, NONE),
    op("GET", "/api/openapi.json", "API", "This document", &[], None, OPENAPI),
    op("GET", "/api/docs", "API", "This document as a page", &[], None, "text/html"),
    // Tiles
    op("GET", "/tiles", "Tiles", "The tile layers", &[], None, JSON),
    op("GET", "/tiles/{layer}", "Tiles", "TileJSON 3.0.0 of a layer", &[], None, JSON),
    op("GET", "/tiles/{layer}/{z}/{x}/{y}", "Tiles", "A Mapbox Vector Tile (204 when empty); households within your scope only", &[], None, MVT),
    op("GET", "/healthz", "Service", "Database and index health (503 when the database is away)", &[], None, JSON),
    op("GET", "/metrics", "Service", "Prometheus metrics: requests and latency per route, pool, tile cache, missed incident deadlines (loopback or township admins)", &[], None, "text/plain"),
    // Map
    op("GET", "/api/locate", "Map", "The area chain holding a point", &["lon", "lat"], None, JSON),
    op("POST", "/api/locate", "Map", "Area chains of up to 100,000 points in one request", &[], B, JSON),
    op("GET", "/api/areas/{id}", "Map", "One area with its chain and household count", &[], None, JSON),
    op("GET", "/api/summary", "Map", "The map's extent and counts per layer", &[], None, JSON),
    // Sessions
    op("POST", "/api/login", "Sessions", "Log in (sets the session cookie)", &[], B, JSON),
    op("POST", "/api/logout", "Sessions", "Log out", &[], None, NONE),
    op("GET", "/api/me", "Sessions", "Who you are, with your roles", &[], None, JSON),
    op("POST", "/api/me/password", "Sessions", "Change your password", &[], B, NONE),
    // Households
    op("GET", "/api/households/{id}", "Households", "One household as your role may see it", &[], None, JSON),
    op("GET", "/api/areas/{id}/households", "Households", "The households of an area within your scope, a page of at most 1000 (limit, offset; total and next_offset)", &["limit", "offset"], None, JSON),
    op("GET", "/api/households/search", "Households", "Households in your scope by name, number, address, phone tail or tag (limit: 20, at most 100)", &["q", "limit"], None, JSON),
    op("GET", "/api/audit", "Households", "The audit log, newest first (township admins)", &["before", "limit"], None, JSON),
    // Grid editing
    op("GET", "/api/villages", "Grid editing", "The villages you edit", &[], None, JSON),
    op("GET", "/api/villages/{id}/grids", "Grid editing", "A village's grids with counts, staff, the rule and the gaps", &[], None, GEOJSON),
    op("POST", "/api/villages/{id}/grids", "Grid editing", "Draw a grid", &[], B, JSON),
    op("PATCH", "/api/areas/{id}", "Grid editing", "Rename or reshape a grid (If-Match or version)", &[], B, JSON),
    op("DELETE", "/api/areas/{id}", "Grid editing", "Delete a grid (If-Match or version)", &["version", "dry_run"], None, JSON),
    op("POST", "/api/areas/{id}/split", "Grid editing", "Cut a grid in two along a line", &[], B, JSON),
    op("POST", "/api/areas/merge", "Grid editing", "Merge two neighbouring grids", &[], B, JSON),
    op("POST", "/api/areas/{id}/children", "Grid editing", "Draw a lane inside a grid", &[], B, JSON),
    op("POST", "/api/villages/{id}/grids/move-vertices", "Grid editing", "Move shared vertices", &[], B, JSON),
    op("POST", "/api/villages/{id}/grids/validate", "Grid editing", "Dry run of any edit", &[], B, JSON),
    op("POST", "/api/villages/{id}/grids/propose", "Grid editing", "An automatic division into grids (nothing saved)", &[], B, JSON),
    op("POST", "/api/villages/{id}/grids/accept", "Grid editing", "Store a (possibly adjusted) proposal", &[], B, JSON),
    op("GET", "/api/areas/{id}/history", "Grid editing", "Every version of a grid", &[], None, JSON),
    op("POST", "/api/areas/{id}/restore", "Grid editing", "Make an old version current again", &[], B, JSON),
    op("GET", "/api/areas/{id}/staff", "Grid editing", "A grid's leader and workers", &[], None, JSON),
    op("PUT", "/api/areas/{id}/staff", "Grid editing", "Assign a grid's leader and workers", &[], B, JSON),
    op("GET", "/api/townships/{id}/grid-rule", "Grid editing", "The township's households-per-grid rule", &[], None, JSON),
    op("PUT", "/api/townships/{id}/grid-rule", "Grid editing", "Set the township's rule (its admin)", &[], B, JSON),
    // Grid workers
    op("GET", "/api/worker/overview", "Grid workers", "Your grids and households with visit states and coverage", &[], None, JSON),
    op("POST", "/api/route", "Grid workers", "A walking route through chosen households (JSON or GPX)", &["format"], B, JSON),
    op("POST", "/api/visits", "Grid workers", "Record a visit (idempotent by client id)", &[], B, JSON),
    op("GET", "/api/households/{id}/visits", "Grid workers", "A household's visits", &[], None, JSON),
    op("GET", "/api/visits/{id}/photo", "Grid workers", "A visit's photo", &[], None, PNG),
    // Incidents (事件)
    op("GET", "/api/incident-categories", "Incidents", "The categories of incidents", &[], None, JSON),
    op("GET", "/api/departments", "Incidents", "The departments of your township(s)", &[], None, JSON),
    op("GET", "/api/incidents", "Incidents", "Incidents in your scope, or your department's inbox, newest first: a page of at most 500 (limit, offset; next_offset)", &["state", "overdue", "inbox", "source", "limit", "offset"], None, JSON),
    op("POST", "/api/imports", "Imports", "Upload a file to import (multipart: file, layer, crs; at most 50 MB): the dry run", &[], Some("multipart/form-data"), JSON),
    op("GET", "/api/imports/{id}", "Imports", "An import's state: rows done of total, rows per second, the final report", &[], None, JSON),
    op("POST", "/api/imports/{id}/dry-run", "Imports", "The dry run again with an edited mapping, CRS or key", &[], B, JSON),
    op("POST", "/api/imports/{id}/commit", "Imports", "Import, all or nothing, as a background job (202)", &[], B, JSON),
    op("GET", "/api/exports/{layer}", "Imports", "A layer (households, areas, roads, facilities, hazards) as a file: format gpkg (default), shp (zipped), kml, geojson, csv or xlsx; crs 4326 (default) or 4490. Households only in your scope, masked per role", &["format", "crs"], None, FILE),
    op("POST", "/api/incidents", "Incidents", "Report an incident, placed by its location", &[], B, JSON),
    op("GET", "/api/incidents/stats", "Incidents", "On-time figures per grade and department", &[], None, JSON),
    op("GET", "/api/incidents/stats.csv", "Incidents", "The on-time figures as CSV (headings in the request's language)", &[], None, CSV),
    op("GET", "/api/incidents/stats.xlsx", "Incidents", "The on-time figures as XLSX (headings in the request's language)", &[], None, XLSX),
    op("GET", "/api/incidents/{id}", "Incidents", "One incident with its actions", &[], None, JSON),
    op("POST", "/api/incidents/{id}/actions", "Incidents", "Act on an incident (the workflow's next step, with its version)", &[], B, JSON),
    op("POST", "/api/incidents/{id}/score", "Incidents", "Score the department's response once closed", &[], B, JSON),
    op("POST", "/api/incidents/{id}/photos", "Incidents", "Add a photo as evidence (JSON with the image)", &[], B, JSON),
    op("GET", "/api/incidents/{id}/photos/{photo}", "Incidents", "A photo of an incident", &[], None, PNG),
    // Leaders: the risk map
    op("GET", "/api/leader/hazards", "Risk map", "Hazards in your township", &[], None, GEOJSON),
    op("GET", "/api/leader/hazard-zones", "Risk map", "Hazards' influence zones", &[], None, GEOJSON),
    op("GET", "/api/leader/exposure", "Risk map", "Who is exposed to each hazard", &[], None, JSON),
    op("GET", "/api/leader/exposure.xlsx", "Risk map", "The exposure table as XLSX", &[], None, XLSX),
    op("GET", "/api/leader/exposure.csv", "Risk map", "The exposure table as CSV", &[], None, CSV),
    op("GET", "/api/leader/shelter-route", "Risk map", "The road route to the nearest shelter", &[], None, GEOJSON),
    op("GET", "/api/leader/choropleth", "Risk map", "Figures per village and grid for thematic maps", &[], None, JSON),
    op("GET", "/api/leader/dashboard", "Risk map", "The dashboard's figures", &[], None, JSON),
    op("GET", "/api/leader/heat", "Risk map", "Points for the heatmap", &[], None, JSON),
    op("GET", "/api/leader/noticeboard/{grid}", "Risk map", "A grid's noticeboard", &[], None, JSON),
    op("GET", "/api/leader/buffers", "Risk map", "The influence distance of each hazard kind", &[], None, JSON),
    op("PUT", "/api/leader/buffers", "Risk map", "Set the influence distances", &[], B, JSON),
    op("GET", "/api/leader/evacuations", "Risk map", "Evacuations", &[], None, JSON),
    op("POST", "/api/leader/evacuations", "Risk map", "Start an evacuation", &[], B, JSON),
    op("GET", "/api/evacuations/{id}", "Risk map", "One evacuation with its households", &[], None, JSON),
    op("PUT", "/api/evacuations/{id}/households/{household}", "Risk map", "Mark a household of an evacuation", &[], B, JSON),
    op("POST", "/api/hazards", "Risk map", "Add a hazard", &[], B, JSON),
    op("PATCH", "/api/hazards/{id}", "Risk map", "Change a hazard", &[], B, JSON),
    op("GET", "/api/hazards/{id}/history", "Risk map", "A hazard's versions", &[], None, JSON),
    op("GET", "/api/hazards/{id}/inspections", "Risk map", "A hazard's inspections", &[], None, JSON),
    op("POST", "/api/hazards/{id}/inspections", "Risk map", "Record an inspection", &[], B, JSON),
    op("PUT", "/api/incident-categories/{code}", "Incidents", "Add, rename or retire a category (township admins)", &[], B, JSON),
    op("GET", "/api/incident-deadlines", "Incidents", "The deadline of each grade's step", &[], None, JSON),
    op("PUT", "/api/incident-deadlines", "Incidents", "Set a grade's step deadline (township admins)", &[], B, JSON),
    op("GET", "/api/notifications", "Incidents", "Your notifications: incidents reaching your inbox or overdue there", &[], None, JSON),
    op("POST", "/api/notifications/read", "Incidents", "Mark all your notifications read", &[], None, JSON),
    op("POST", "/api/notifications/{id}/read", "Incidents", "Mark one notification read", &[], None, JSON),
    op("GET", "/api/townships/{id}/webhook", "Incidents", "The township's webhook URL (its admin)", &[], None, JSON),
    op("PUT", "/api/townships/{id}/webhook", "Incidents", "Set the township's webhook: URL and signing secret", &[], B, JSON),
    op("DELETE", "/api/townships/{id}/webhook", "Incidents", "Remove the township's webhook", &[], None, JSON),
    // Open311 GeoReport v2 ({format}: json or xml; {code}, {id}, {token} carry .json or .xml)
    op("GET", "/open311/v2/discovery.{format}", "Open311", "Discovery: the endpoint and its formats", &[], None, JSON),
    op("GET", "/open311/v2/services.{format}", "Open311", "Services: the incident categories", &[], None, JSON),
    op("GET", "/open311/v2/services/{code}", "Open311", "A service's definition (its grade attribute)", &[], None, JSON),
    op("GET", "/open311/v2/requests.{format}", "Open311", "Service requests (filters: service_request_id, service_code, status, start_date, end_date, api_key)", &[], None, JSON),
    op("POST", "/open311/v2/requests.{format}", "Open311", "Post a service request (form-encoded, with api_key)", &[], Some("application/x-www-form-urlencoded"), JSON),
    op("GET", "/open311/v2/requests/{id}", "Open311", "One service request", &[], None, JSON),
    op("GET", "/open311/v2/tokens/{token}", "Open311", "The request id behind a token", &[], None, JSON),
];

fn query_parameter(name: &str) -> Value {
    let crs_list: Vec<&str> = SUPPORTED_CRS.iter().map(|(uri, _)| *uri).collect();
    let (schema, description) = match name {
        "f" => (
            json!({"type": "string", "enum": ["json", "html"]}),
            "Answer format (else by Accept)",
        ),
        "bbox" => (
            json!({"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}}),
            "minx,miny,maxx,maxy in bbox-crs (CRS84 by default)",
        ),
        "bbox-crs" | "crs" => (
            json!({"type": "string", "format": "uri", "enum": crs_list, "default": crs_list[0]}),
            "A CRS of the collection's crs list",
        ),
        "limit" => (
            json!({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}),
            "Features per page",
        ),
        "offset" => (
            json!({"type": "integer", "minimum": 0, "default": 0}),
            "Features to skip (next links carry it)",
        ),
        "datetime" => (
            json!({"type": "string"}),
            "An instant, a date or an interval a/b (.. open) of the last update",
        ),
        "filter" => (json!({"type": "string"}), "CQL2 text: comparisons, LIKE, IN, BETWEEN, IS NULL, AND/OR/NOT, S_INTERSECTS(geometry, WKT or BBOX(...))"),
        "filter-lang" => (json!({"type": "string", "enum": ["cql2-text"], "default": "cql2-text"}), "The filter's language"),
        "filter-crs" => (
            json!({"type": "string", "format": "uri", "enum": crs_list, "default": crs_list[0]}),
            "The CRS of the filter's geometries",
        ),
        "lon" | "lat" => (json!({"type": "number"}), "Decimal degrees, WGS84/CGCS2000"),
        "before" => (json!({"type": "integer"}), "Entries before this id"),
        "q" => (json!({"type": "string"}), "Search text"),
        "format" => (
            json!({"type": "string", "enum": ["json", "gpx"]}),
            "Answer format",
        ),
        "version" => (json!({"type": "integer"}), "The version edited"),
        "dry_run" => (json!({"type": "boolean"}), "Answer without saving"),
        _ => (json!({"type": "string"}), ""),
    };
    let style = if name == "bbox" {
        json!({"style": "form", "explode": false})
    } else {
        json!({})
    };
    let mut p = json!({
        "name": name, "in": "query", "required": matches!(name, "lon" | "lat" | "q"),
        "description": description, "schema": schema,
    });
    if let (Some(p), Some(extra)) = (p.as_object_mut(), style.as_object()) {
        p.extend(extra.clone());
    }
    p
}

fn path_parameters(path: &str) -> Vec<Value> {
    // A parameter may be a whole segment (`{id}`) or part of one (`requests.{format}`).
    path.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
        .map(|name| {
            let schema = if name == "collection_id" {
                json!({"type": "string", "enum": COLLECTIONS.iter().map(|c| c.id).collect::<Vec<_>>()})
            } else if matches!(name, "layer" | "format" | "token" | "code") {
                json!({"type": "string"})
            } else {
                json!({"type": "integer"})
            };
            json!({"name": name, "in": "path", "required": true, "schema": schema})
        })
        .collect()
}

fn operation(o: &Operation) -> Value {
    let mut parameters = path_parameters(o.path);
    parameters.extend(o.query.iter().map(|q| query_parameter(q)));
    let ok = match o.answer {
        NONE => json!({"description": "Done"}),
        media => {
            json!({"description": "OK", "content": {media: {"schema": {"type": if media.contains("json") {"object"} else {"string"}}}}})
        }
    };
    let status = match (o.method, o.answer) {
        ("POST", NONE) => "201",
        (_, NONE) => "204",
        _ => "200",
    };
    let mut responses = Map::new();
    responses.insert(status.into(), ok);
    responses.insert(
        "default".into(),
        json!({"$ref": "#/components/responses/Error"}),
    );
    let mut out = json!({
        "tags": [o.tag],
        "summary": o.summary,
        "operationId": operation_id(o),
        "parameters": parameters,
        "responses": responses,
    });
    if let Some(media) = o.body {
        out["requestBody"] =
            json!({"required": true, "content": {media: {"schema": {"type": "object"}}}});
    }
    out
}

fn operation_id(o: &Operation) -> String {
    let mut id = o.method.to_lowercase();
    for part in o
        .path
        .split(['/', '-', '.', '{', '}'])
        .filter(|p| !p.is_empty())
    {
        id.push('_');
        id.push_str(part);
    }
    id
}

/// The document, with servers at the address the client used.
pub fn document(base: &str) -> Value {
    let mut paths = Map::new();
    for o in OPERATIONS {
        let entry = paths.entry(o.path.to_string()).or_insert_with(|| json!({}));
        entry[o.method.to_lowercase()] = operation(o);
    }
    let mut tags: Vec<&str> = OPERATIONS.iter().map(|o| o.tag).collect();
    tags.dedup();
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "村图 cuntu",
            "version": env!("CARGO_PKG_VERSION"),
            "description": format!(
                "The HTTP surface of cuntu: OGC API - Features ({}), vector tiles, and the JSON API. \
                 Errors are {{\"error\": {{\"status\", \"code\", \"message\"}}}}, the message in the language of Accept-Language. \
                 Authenticate with a session cookie, an API token (Authorization: Bearer) or, on /ogc, HTTP Basic.",
                CONFORMANCE.len()
            ),
        },
        "servers": [{"url": base}],
        "tags": tags.iter().map(|t| json!({"name": t})).collect::<Vec<_>>(),
        "paths": paths,
        "components": {
            "securitySchemes": {
                "token": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic"},
                "session": {"type": "apiKey", "in": "cookie", "name": crate::auth::SESSION_COOKIE},
            },
            "responses": {
                "Error": {
                    "description": "An error, its message in the request's language",
                    "content": {"application/json": {"schema": {
                        "type": "object",
                        "properties": {"error": {"type": "object", "properties": {
                            "status": {"type": "integer"}, "code": {"type": "string"}, "message": {"type": "string"}}}},
                    }}},
                },
            },
        },
        "security": [{}, {"token": []}, {"basic": []}, {"session": []}],
    })
}

pub async fn openapi_json(headers: HeaderMap) -> Response {
    (
        [(header::CONTENT_TYPE, OPENAPI)],
        serde_json::to_vec(&document(&base_url(&headers))).unwrap_or_default(),
    )
        .into_response()
}

/// The document as a page: every operation by tag, with its parameters. No script: the
/// page must work offline like the rest of the product.
pub async fn docs_page(headers: HeaderMap) -> Response {
    let base = base_url(&headers);
    let mut body = format!(
        "<p>The machine-readable document: <a href=\"{0}/api/openapi.json\">{0}/api/openapi.json</a> (OpenAPI 3.0). \
         OGC API - Features: <a href=\"{0}/ogc?f=html\">{0}/ogc</a>.</p>",
        escape(&base)
    );
    let mut tag = "";
    for o in OPERATIONS {
        if o.tag != tag {
            if !tag.is_empty() {
                body.push_str("</table>");
            }
            tag = o.tag;
            body.push_str(&format!(
                "<h2>{}</h2><table><tr><th>method</th><th>path</th><th>what</th><th>query</th><th>answer</th></tr>",
                escape(tag)
            ));
        }
        body.push_str(&format!(
            "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            o.method,
            escape(o.path),
            escape(o.summary),
            escape(&o.query.join(", ")),
            escape(o.answer),
        ));
    }
    body.push_str("</table>");
    (
        [(header::CONTENT_TYPE, HTML)],
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>村图 cuntu API</title>\
             <style>body{{font:15px/1.5 system-ui,sans-serif;margin:1.5em auto;max-width:70em;padding:0 1em}}\
             table{{border-collapse:collapse;width:100%}}td,th{{border:1px solid #ccc;padding:.2em .5em;text-align:left}}</style>\
             </head><body><h1>村图 cuntu API</h1>{body}</body></html>"
        ),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_unique_and_well_formed() {
        let doc = document("http://127.0.0.1:8080");
        let mut seen = std::collections::HashSet::new();
        for o in OPERATIONS {
            assert!(
                seen.insert((o.method, o.path)),
                "{} {} twice",
                o.method,
                o.path
            );
            assert!(o.path.starts_with('/'));
            let path_params = doc["paths"][o.path][o.method.to_lowercase()]["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["in"] == "path")
                .count();
            assert_eq!(path_params, o.path.matches('{').count(), "{}", o.path);
        }
        let limit = &doc["paths"]["/ogc/collections/{collection_id}/items"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "limit")
            .unwrap()["schema"];
        assert_eq!(limit["maximum"], MAX_LIMIT);
    }
}
