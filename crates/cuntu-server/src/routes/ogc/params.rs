//! What an OGC API request asks for: the base of absolute links, JSON or HTML, the CRS of
//! the answer and of the box, the page, the time span and the property filters.

use axum::http::{header, HeaderMap};
use chrono::{DateTime, NaiveDate, Utc};
use cuntu_store::ogc::{Collection, Envelope, OutputCrs, TimeSpan};

use crate::error::ApiError;

pub const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";

/// The CRSs features can be had in (Part 2), with their EPSG code and axis order.
pub const SUPPORTED_CRS: &[(&str, OutputCrs)] = &[
    (CRS84, OutputCrs::CRS84),
    (
        "http://www.opengis.net/def/crs/EPSG/0/4326",
        OutputCrs {
            srid: 4326,
            lat_first: true,
        },
    ),
    (
        "http://www.opengis.net/def/crs/EPSG/0/4490",
        OutputCrs {
            srid: 4490,
            lat_first: true,
        },
    ),
    (
        "http://www.opengis.net/def/crs/EPSG/0/3857",
        OutputCrs {
            srid: 3857,
            lat_first: false,
        },
    ),
];

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 10_000;

pub fn bad(zh: impl Into<String>, en: impl Into<String>) -> ApiError {
    ApiError::BadQuery {
        zh: zh.into(),
        en: en.into(),
    }
}

/// `scheme://host` as the client reached us, so that every link is absolute and usable from
/// behind a proxy (`X-Forwarded-Proto`/`-Host`), falling back to `Host`.
pub fn base_url(headers: &HeaderMap) -> String {
    let first = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let proto = first("x-forwarded-proto")
        .filter(|p| p == "http" || p == "https")
        .unwrap_or_else(|| "http".to_string());
    // A host that could not be one (a path, markup) is ignored rather than echoed in links.
    let plausible = |h: &String| {
        h.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:[]_".contains(c))
    };
    let host = first("x-forwarded-host")
        .filter(plausible)
        .or_else(|| first(header::HOST.as_str()).filter(plausible))
        .unwrap_or_else(|| "127.0.0.1:8080".to_string());
    format!("{proto}://{host}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Html,
}

impl Format {
    /// `f=json|html` wins; otherwise HTML only when the client prefers it to JSON (a
    /// browser), so that clients sending `*/*` or nothing get JSON.
    pub fn negotiate(f: Option<&str>, headers: &HeaderMap) -> Result<Format, ApiError> {
        match f {
            Some("json" | "geojson" | "application/json" | "application/geo+json") => {
                return Ok(Format::Json)
            }
            Some("html" | "text/html") => return Ok(Format::Html),
            Some(other) => {
                return Err(bad(
                    format!("参数 f 须为 json 或 html，收到“{other}”"),
                    format!("Parameter f must be json or html, got '{other}'"),
                ))
            }
            None => {}
        }
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let quality = |wanted: &[&str]| -> f32 {
            accept
                .split(',')
                .filter_map(|part| {
                    let mut pieces = part.trim().split(';');
                    let media = pieces.next()?.trim();
                    let q = pieces
                        .find_map(|p| p.trim().strip_prefix("q="))
                        .and_then(|q| q.parse::<f32>().ok())
                        .unwrap_or(1.0);
                    wanted.contains(&media).then_some(q)
                })
                .fold(0.0, f32::max)
        };
        let html = quality(&["text/html"]);
        let json = quality(&["application/json", "application/geo+json"]);
        Ok(if html > 0.0 && html > json {
            Format::Html
        } else {
            Format::Json
        })
    }
}

/// A CRS URI (or `EPSG:n` / `[EPSG:n]` shorthand) of the supported list.
pub fn crs(raw: &str, parameter: &str) -> Result<(&'static str, OutputCrs), ApiError> {
    let raw = raw.trim();
    let short = raw.trim_start_matches('[').trim_end_matches(']');
    let matches = |uri: &str| {
        uri == raw
            || uri.replace("http://www.opengis.net/def/crs/EPSG/0/", "EPSG:") == short
            || (uri == CRS84 && (short == "OGC:CRS84" || short == "CRS84"))
    };
    SUPPORTED_CRS
        .iter()
        .find(|(uri, _)| matches(uri))
        .map(|(uri, crs)| (*uri, *crs))
        .ok_or_else(|| {
            let list: Vec<&str> = SUPPORTED_CRS.iter().map(|(u, _)| *u).collect();
            bad(
                format!(
                    "不支持参数 {parameter} 的坐标系“{raw}”。支持：{}",
                    list.join("，")
                ),
                format!(
                    "The CRS '{raw}' of parameter {parameter} is not supported. Supported: {}",
                    list.join(", ")
                ),
            )
        })
}

fn number(raw: &str, parameter: &str) -> Result<f64, ApiError> {
    raw.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| {
            bad(
                format!("参数 {parameter} 须为数字，收到“{raw}”"),
                format!("Parameter {parameter} must be a number, got '{raw}'"),
            )
        })
}

/// `bbox=minx,miny,maxx,maxy` (or with heights, which are ignored) in `bbox_crs`'s axis
/// order, as an envelope with x (longitude/easting) first.
pub fn bbox(raw: &str, bbox_crs: OutputCrs) -> Result<Envelope, ApiError> {
    let values: Vec<f64> = raw
        .split(',')
        .map(|v| number(v, "bbox"))
        .collect::<Result<_, _>>()?;
    let [a, b, c, d] = match values.as_slice() {
        [a, b, c, d] => [*a, *b, *c, *d],
        [a, b, _, d, e, _] => [*a, *b, *d, *e],
        _ => {
            return Err(bad(
                format!("参数 bbox 须为 4 个（或 6 个）以逗号分隔的数，收到“{raw}”"),
                format!("Parameter bbox must be 4 (or 6) comma-separated numbers, got '{raw}'"),
            ))
        }
    };
    let (min_x, min_y, max_x, max_y) = if bbox_crs.lat_first {
        (b, a, d, c)
    } else {
        (a, b, c, d)
    };
    if min_y > max_y || min_x > max_x {
        return Err(bad(
            format!("参数 bbox 的最小值大于最大值：“{raw}”"),
            format!("Parameter bbox has a minimum above its maximum: '{raw}'"),
        ));
    }
    Ok(Envelope {
        min_x,
        min_y,
        max_x,
        max_y,
        srid: bbox_crs.srid,
    })
}

fn instant(raw: &str, end_of_day: bool) -> Result<Option<DateTime<Utc>>, ApiError> {
    let raw = raw.trim();
    if raw.is_empty() || raw == ".." {
        return Ok(None);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    if let Ok(day) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        let time = if end_of_day {
            day.and_hms_milli_opt(23, 59, 59, 999)
        } else {
            day.and_hms_opt(0, 0, 0)
        };
        return Ok(time.map(|t| t.and_utc()));
    }
    Err(bad(
        format!("参数 datetime 须为 RFC 3339 时间（如 2024-05-01T08:00:00Z）、日期或以 / 分隔的区间，收到“{raw}”"),
        format!("Parameter datetime must be an RFC 3339 time (such as 2024-05-01T08:00:00Z), a date, or an interval separated by /, got '{raw}'"),
    ))
}

/// `datetime`: an instant, a date (the whole day) or an interval `start/end` with `..` or
/// nothing for an open end.
pub fn datetime(raw: &str) -> Result<TimeSpan, ApiError> {
    match raw.split_once('/') {
        Some((start, end)) => Ok((instant(start, false)?, instant(end, true)?)),
        None => {
            let start = instant(raw, false)?;
            let end = instant(raw, true)?;
            if start.is_none() {
                return Err(bad(
                    "参数 datetime 不能为空",
                    "Parameter datetime cannot be empty",
                ));
            }
            Ok((start, end))
        }
    }
}

pub fn integer(raw: &str, parameter: &str, min: i64) -> Result<i64, ApiError> {
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|v| *v >= min)
        .ok_or_else(|| {
            bad(
                format!("参数 {parameter} 须为不小于 {min} 的整数，收到“{raw}”"),
                format!("Parameter {parameter} must be an integer of at least {min}, got '{raw}'"),
            )
        })
}

/// Parameters of `/items` besides the property filters.
pub const ITEMS_PARAMETERS: &[&str] = &[
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

/// The query parameters that are property filters: the collection's queryable properties.
/// Any other unknown parameter is an error, so a misspelt filter never silently returns
/// everything.
pub fn check_known(
    params: &[(String, String)],
    collection: Option<&Collection>,
    known: &[&str],
) -> Result<(), ApiError> {
    for (name, _) in params {
        let is_filter = collection
            .and_then(|c| c.column(name))
            .is_some_and(|col| col.queryable);
        if !known.contains(&name.as_str()) && !is_filter {
            let mut allowed: Vec<&str> = known.to_vec();
            if let Some(c) = collection {
                allowed.extend(c.columns.iter().filter(|c| c.queryable).map(|c| c.name));
            }
            return Err(bad(
                format!("未知的查询参数“{name}”。可用：{}", allowed.join("，")),
                format!(
                    "Unknown query parameter '{name}'. Known: {}",
                    allowed.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn links_follow_the_proxy_and_never_take_a_strange_host() {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("127.0.0.1:8091"));
        assert_eq!(base_url(&h), "http://127.0.0.1:8091");
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        h.insert(
            "x-forwarded-host",
            HeaderValue::from_static("map.example.cn"),
        );
        assert_eq!(base_url(&h), "https://map.example.cn");
        h.insert(
            "x-forwarded-host",
            HeaderValue::from_static("evil.example/<script>"),
        );
        assert_eq!(base_url(&h), "https://127.0.0.1:8091");
    }

    #[test]
    fn browsers_get_html_and_clients_json() {
        let mut h = HeaderMap::new();
        assert_eq!(Format::negotiate(None, &h).unwrap(), Format::Json);
        h.insert(
            "accept",
            HeaderValue::from_static("text/html,application/xhtml+xml,*/*;q=0.8"),
        );
        assert_eq!(Format::negotiate(None, &h).unwrap(), Format::Html);
        assert_eq!(Format::negotiate(Some("json"), &h).unwrap(), Format::Json);
        h.insert(
            "accept",
            HeaderValue::from_static("application/geo+json, text/html;q=0.5"),
        );
        assert_eq!(Format::negotiate(None, &h).unwrap(), Format::Json);
        assert!(Format::negotiate(Some("xml"), &h).is_err());
    }

    #[test]
    fn bbox_follows_the_axis_order_of_its_crs() {
        let (_, crs84) = crs(CRS84, "bbox-crs").unwrap();
        let e = bbox("9.5,47.1,9.6,47.2", crs84).unwrap();
        assert_eq!((e.min_x, e.min_y, e.max_x, e.max_y), (9.5, 47.1, 9.6, 47.2));
        let (_, epsg4326) = crs("http://www.opengis.net/def/crs/EPSG/0/4326", "bbox-crs").unwrap();
        let e = bbox("47.1,9.5,47.2,9.6", epsg4326).unwrap();
        assert_eq!((e.min_x, e.min_y, e.max_x, e.max_y), (9.5, 47.1, 9.6, 47.2));
        assert_eq!(crs("EPSG:3857", "crs").unwrap().1.srid, 3857);
        assert!(crs("EPSG:2000", "crs").is_err());
        assert!(bbox("1,2,3", crs84).is_err());
        assert!(bbox("1,2,0,3", crs84).is_err());
    }

    #[test]
    fn datetime_takes_instants_days_and_open_intervals() {
        let (s, e) = datetime("2024-05-01").unwrap();
        assert_eq!(s.unwrap().to_rfc3339(), "2024-05-01T00:00:00+00:00");
        assert!(e.unwrap() > s.unwrap());
        let (s, e) = datetime("../2024-05-01T08:00:00Z").unwrap();
        assert!(s.is_none());
        assert_eq!(e.unwrap().to_rfc3339(), "2024-05-01T08:00:00+00:00");
        assert!(datetime("yesterday").is_err());
    }
}
