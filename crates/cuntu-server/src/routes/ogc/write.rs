//! Part 4 bodies: a GeoJSON feature (create, replace) or a JSON merge patch (update), checked
//! against the collection's columns and vocabularies before anything reaches the database,
//! with messages in both languages. Who may write where is decided here too.

use cuntu_core::auth::{Assignment, Role};
use cuntu_core::feature::{FacilityKind, HazardKind, KeyPopulation, Severity};
use cuntu_store::ogc::{Collection, Column, ColumnType, FeatureWrite, FieldValue};
use serde_json::{Map, Value};

use crate::error::ApiError;

fn bad(zh: impl Into<String>, en: impl Into<String>) -> ApiError {
    ApiError::BadQuery {
        zh: zh.into(),
        en: en.into(),
    }
}

fn rule(zh: impl Into<String>, en: impl Into<String>) -> ApiError {
    ApiError::Rule {
        zh: zh.into(),
        en: en.into(),
    }
}

/// The areas below which the caller may write features of `collection`: grid workers,
/// village cadres and township admins edit households in their areas; cadres and admins
/// facilities; leaders and township admins hazards, as `/api/hazards` lets them.
/// Departments read.
pub fn editor_roots(collection: &Collection, assignments: &[Assignment]) -> Vec<i64> {
    let mut roots: Vec<i64> = assignments
        .iter()
        .filter(|a| match (collection.id, a.role) {
            ("hazards", role) => matches!(role, Role::TownshipAdmin | Role::Leader),
            (_, Role::TownshipAdmin | Role::VillageCadre) => true,
            (_, Role::GridWorker) => collection.personal,
            (_, Role::Leader | Role::Department) => false,
        })
        .map(|a| a.area_id)
        .collect();
    roots.sort_unstable();
    roots.dedup();
    roots
}

/// Replace (and create) sets every writable column; update only those in the patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Replace,
    Patch,
}

/// How the caller sees personal fields: a value they were shown masked (it holds `*`) and
/// send back unchanged is not a new value, and is left as stored.
pub struct Masked {
    pub phone: bool,
    pub id_card: bool,
}

fn geometry(collection: &Collection, value: &Value) -> Result<String, ApiError> {
    let Some(object) = value.as_object() else {
        return Err(bad(
            "geometry 须为 GeoJSON 几何对象",
            "geometry must be a GeoJSON geometry object",
        ));
    };
    let kind = object.get("type").and_then(Value::as_str).unwrap_or("");
    let allowed: &[&str] = match collection.geometry_type {
        "Point" => &["Point"],
        _ => &[
            "Point",
            "MultiPoint",
            "LineString",
            "MultiLineString",
            "Polygon",
            "MultiPolygon",
        ],
    };
    if !allowed.contains(&kind) {
        return Err(rule(
            format!(
                "{} 的几何须为 {}，收到“{kind}”",
                collection.title_zh,
                allowed.join("、")
            ),
            format!(
                "The geometry of {} must be {}, got '{kind}'",
                collection.title_en,
                allowed.join(", ")
            ),
        ));
    }
    // The bound of grid edits: more points than any drawn shape, a bound on the work.
    fn positions(v: &Value, depth: usize) -> usize {
        match v.as_array() {
            Some(_) if depth == 0 => 1,
            Some(items) => items.iter().map(|i| positions(i, depth - 1)).sum(),
            None => 0,
        }
    }
    fn positions_ok(v: &Value, depth: usize) -> bool {
        match v.as_array() {
            Some(items) if depth == 0 => {
                items.len() >= 2
                    && items.len() <= 3
                    && matches!(
                        (items[0].as_f64(), items[1].as_f64()),
                        (Some(x), Some(y)) if x.abs() <= 180.0 && y.abs() <= 90.0
                    )
            }
            Some(items) => !items.is_empty() && items.iter().all(|i| positions_ok(i, depth - 1)),
            None => false,
        }
    }
    let depth = match kind {
        "Point" => 0,
        "MultiPoint" | "LineString" => 1,
        "MultiLineString" | "Polygon" => 2,
        _ => 3,
    };
    let max = crate::routes::grid_edits::MAX_VERTICES;
    let count = object.get("coordinates").map_or(0, |c| positions(c, depth));
    if count > max {
        return Err(rule(
            format!("几何有 {count} 个点，超过上限 {max}"),
            format!("The geometry has {count} points, more than the limit of {max}"),
        ));
    }
    if !object
        .get("coordinates")
        .is_some_and(|c| positions_ok(c, depth))
    {
        return Err(rule(
            "几何坐标无效：须为 CRS84（经度、纬度，十进制度）中的坐标",
            "The geometry's coordinates are invalid: they must be CRS84 (longitude, latitude in decimal degrees)",
        ));
    }
    Ok(value.to_string())
}

fn vocabulary_check(collection: &Collection, column: &Column, value: &str) -> Result<(), ApiError> {
    let known: Vec<&str> = match (collection.id, column.name) {
        ("facilities", "kind") => FacilityKind::ALL.iter().map(|k| k.code()).collect(),
        ("hazards", "kind") => HazardKind::ALL.iter().map(|k| k.code()).collect(),
        ("hazards", "severity") => Severity::ALL.iter().map(|k| k.code()).collect(),
        ("hazards", "status") => vec!["open", "closed"],
        ("households", "tags") => KeyPopulation::ALL.iter().map(|k| k.code()).collect(),
        _ => return Ok(()),
    };
    if known.contains(&value) {
        Ok(())
    } else {
        Err(rule(
            format!(
                "属性 {} 的值“{value}”无效。可用：{}",
                column.name,
                known.join("，")
            ),
            format!(
                "'{value}' is not a valid {}. Valid: {}",
                column.name,
                known.join(", ")
            ),
        ))
    }
}

fn required(collection: &Collection, column: &Column) -> bool {
    matches!(
        (collection.id, column.name),
        ("facilities", "kind")
            | ("hazards", "kind")
            | ("hazards", "severity")
            | ("hazards", "status")
    )
}

/// What a replace writes for a column it was not given, when that is not empty.
fn default_of(collection: &Collection, column: &Column) -> Option<FieldValue> {
    match (collection.id, column.name) {
        ("hazards", "status") => Some(FieldValue::Text(Some("open".into()))),
        _ => None,
    }
}

fn type_error(column: &Column, zh_type: &str, en_type: &str) -> ApiError {
    bad(
        format!("属性 {} 须为{zh_type}", column.name),
        format!("Property {} must be {en_type}", column.name),
    )
}

fn field_value(
    collection: &Collection,
    column: &'static Column,
    value: &Value,
) -> Result<FieldValue, ApiError> {
    let out = match column.ty {
        ColumnType::Text => match value {
            Value::Null => FieldValue::Text(None),
            Value::String(s) => {
                let s = s.trim();
                if s.chars().count() > 500 {
                    return Err(rule(
                        format!("属性 {} 过长（最多 500 个字符）", column.name),
                        format!(
                            "Property {} is too long (500 characters at most)",
                            column.name
                        ),
                    ));
                }
                vocabulary_check(collection, column, s)?;
                FieldValue::Text((!s.is_empty()).then(|| s.to_string()))
            }
            _ => return Err(type_error(column, "字符串", "a string")),
        },
        ColumnType::Integer => match value {
            Value::Null => FieldValue::Int(None),
            Value::Number(n) => {
                let n = n
                    .as_i64()
                    .ok_or_else(|| type_error(column, "整数", "an integer"))?;
                let (min, max) = match column.name {
                    "members" => (0, 100),
                    _ => (0, i64::from(i32::MAX)),
                };
                if n < min || n > max {
                    return Err(rule(
                        format!("属性 {} 须在 {min} 到 {max} 之间，收到 {n}", column.name),
                        format!(
                            "Property {} must lie between {min} and {max}, got {n}",
                            column.name
                        ),
                    ));
                }
                FieldValue::Int(Some(n))
            }
            _ => return Err(type_error(column, "整数", "an integer")),
        },
        ColumnType::Bool => match value {
            Value::Bool(b) => FieldValue::Bool(*b),
            Value::Null => FieldValue::Bool(false),
            _ => return Err(type_error(column, "true 或 false", "true or false")),
        },
        ColumnType::TextArray => match value {
            Value::Null => FieldValue::TextArray(Vec::new()),
            Value::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    let s = item
                        .as_str()
                        .ok_or_else(|| type_error(column, "字符串数组", "an array of strings"))?;
                    vocabulary_check(collection, column, s)?;
                    if !out.iter().any(|o: &String| o == s) {
                        out.push(s.to_string());
                    }
                }
                FieldValue::TextArray(out)
            }
            _ => return Err(type_error(column, "字符串数组", "an array of strings")),
        },
        ColumnType::Timestamp => return Err(type_error(column, "只读", "read-only")),
    };
    if required(collection, column) && matches!(out, FieldValue::Text(None)) {
        return Err(rule(
            format!("属性 {} 不能为空", column.name),
            format!("Property {} is required", column.name),
        ));
    }
    Ok(out)
}

/// The default a replace writes for a writable column it was not given.
fn absent(column: &Column) -> FieldValue {
    match column.ty {
        ColumnType::Integer => FieldValue::Int(None),
        ColumnType::Bool => FieldValue::Bool(false),
        ColumnType::TextArray => FieldValue::TextArray(Vec::new()),
        ColumnType::Text | ColumnType::Timestamp => FieldValue::Text(None),
    }
}

/// A write from a request body: a GeoJSON Feature for `Replace`, a merge patch (a Feature
/// whose `properties` and `geometry` may be partial or absent) for `Patch`.
pub fn feature_write(
    collection: &Collection,
    body: &Value,
    mode: Mode,
    masked: &Masked,
) -> Result<FeatureWrite, ApiError> {
    let Some(object) = body.as_object() else {
        return Err(bad(
            "请求内容须为 GeoJSON Feature 对象",
            "The body must be a GeoJSON Feature object",
        ));
    };
    if mode == Mode::Replace && object.get("type").and_then(Value::as_str) != Some("Feature") {
        return Err(bad(
            "请求内容须为 GeoJSON Feature（\"type\": \"Feature\"）",
            "The body must be a GeoJSON Feature (\"type\": \"Feature\")",
        ));
    }
    let geometry = match object.get("geometry") {
        Some(Value::Null) | None if mode == Mode::Patch => None,
        Some(g) if !g.is_null() => Some(geometry(collection, g)?),
        _ => {
            return Err(rule(
                "要素须有几何（geometry）",
                "The feature needs a geometry",
            ))
        }
    };
    let empty = Map::new();
    let properties = match object.get("properties") {
        Some(Value::Object(p)) => p,
        None | Some(Value::Null) => &empty,
        Some(_) => return Err(bad("properties 须为对象", "properties must be an object")),
    };
    for name in properties.keys() {
        // Read-only properties a client read and sends back (version, grid_id...) are
        // ignored; only names the collection does not have at all are refused.
        if collection.column(name).is_none() {
            let writable: Vec<&str> = collection
                .columns
                .iter()
                .filter(|c| c.writable)
                .map(|c| c.name)
                .collect();
            return Err(bad(
                format!(
                    "{} 没有属性“{name}”。可写的属性：{}",
                    collection.title_zh,
                    writable.join("，")
                ),
                format!(
                    "{} have no property '{name}'. Writable: {}",
                    collection.title_en,
                    writable.join(", ")
                ),
            ));
        }
    }
    let mut fields = Vec::new();
    for column in collection.columns.iter().filter(|c| c.writable) {
        let is_masked = match column.name {
            "phone" => masked.phone,
            "id_card" => masked.id_card,
            _ => false,
        };
        match properties.get(column.name) {
            Some(Value::String(s)) if is_masked && s.contains('*') => continue,
            Some(value) => fields.push((column, field_value(collection, column, value)?)),
            None if mode == Mode::Replace => {
                if let Some(default) = default_of(collection, column) {
                    fields.push((column, default));
                    continue;
                }
                if required(collection, column) {
                    return Err(rule(
                        format!("属性 {} 不能为空", column.name),
                        format!("Property {} is required", column.name),
                    ));
                }
                // A replace of a masked field the caller cannot see keeps it rather than
                // erasing what they were never shown.
                if !is_masked {
                    fields.push((column, absent(column)));
                }
            }
            None => {}
        }
    }
    Ok(FeatureWrite {
        geometry,
        fields,
        editor: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cuntu_store::ogc::collection;
    use serde_json::json;

    const SEEN: Masked = Masked {
        phone: false,
        id_card: false,
    };

    #[test]
    fn a_facility_needs_a_known_kind_and_a_point() {
        let c = collection("facilities").unwrap();
        let ok = json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [9.5, 47.1]},
                        "properties": {"kind": "clinic", "name": "卫生室", "version": 3}});
        let w = feature_write(c, &ok, Mode::Replace, &SEEN).unwrap();
        assert_eq!(w.fields.len(), 3, "kind, name, capacity (null)");
        let bad_kind = json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [9.5, 47.1]},
                              "properties": {"kind": "casino"}});
        assert!(matches!(
            feature_write(c, &bad_kind, Mode::Replace, &SEEN),
            Err(ApiError::Rule { .. })
        ));
        let line = json!({"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[9.5, 47.1], [9.6, 47.1]]},
                          "properties": {"kind": "clinic"}});
        assert!(feature_write(c, &line, Mode::Replace, &SEEN).is_err());
        let far = json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [947.1, 9.5]},
                         "properties": {"kind": "clinic"}});
        assert!(feature_write(c, &far, Mode::Replace, &SEEN).is_err());
        let unknown = json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [9.5, 47.1]},
                             "properties": {"kind": "clinic", "colour": "red"}});
        assert!(matches!(
            feature_write(c, &unknown, Mode::Replace, &SEEN),
            Err(ApiError::BadQuery { .. })
        ));
    }

    #[test]
    fn a_patch_sets_only_what_it_names_and_masked_values_stay() {
        let c = collection("households").unwrap();
        let masked = Masked {
            phone: true,
            id_card: true,
        };
        let patch = json!({"properties": {"members": 4, "phone": "138****5678"}});
        let w = feature_write(c, &patch, Mode::Patch, &masked).unwrap();
        assert!(w.geometry.is_none());
        assert_eq!(w.fields.len(), 1);
        assert_eq!(w.fields[0].0.name, "members");
        let too_many = json!({"properties": {"members": 400}});
        assert!(feature_write(c, &too_many, Mode::Patch, &masked).is_err());
        let tags = json!({"properties": {"tags": ["elderly_alone", "vip"]}});
        assert!(feature_write(c, &tags, Mode::Patch, &masked).is_err());
    }

    #[test]
    fn each_layer_has_its_editors() {
        let households = collection("households").unwrap();
        let hazards = collection("hazards").unwrap();
        let worker = [Assignment {
            role: Role::GridWorker,
            area_id: 7,
            grants: vec![],
        }];
        let leader = [Assignment {
            role: Role::Leader,
            area_id: 1,
            grants: vec![],
        }];
        assert_eq!(editor_roots(households, &worker), vec![7]);
        assert_eq!(editor_roots(hazards, &leader), vec![1]);
        assert!(editor_roots(hazards, &worker).is_empty());
        assert!(editor_roots(households, &leader).is_empty());
        let cadre = [Assignment {
            role: Role::VillageCadre,
            area_id: 3,
            grants: vec![],
        }];
        assert!(editor_roots(hazards, &cadre).is_empty());
        assert_eq!(
            editor_roots(collection("facilities").unwrap(), &cadre),
            vec![3]
        );
    }
}
