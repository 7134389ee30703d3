//! Reading any vector file GDAL opens (GeoJSON, GeoPackage, Shapefile also zipped, KML,
//! GPX, CSV with lon/lat columns or WKT) into field values and WGS84 geometries.
//!
//! The CRS comes from the file (.prj, the GeoPackage's SRS) or from `--crs`; a file without
//! one is refused, because guessing would put a village in the wrong place without a sign.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cuntu_core::import::{ImportLayer, SourceCrs};
use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};
use gdal::vector::LayerAccess;
use gdal::{Dataset, DatasetOptions, GdalOpenFlags};

/// A source file as read: its field names, its rows, and where its coordinates came from.
#[derive(Debug, Clone)]
pub struct SourceTable {
    pub driver: String,
    pub layer: String,
    pub fields: Vec<String>,
    pub rows: Vec<SourceFeature>,
    /// The CRS and the conversion applied, for the import report.
    pub crs: String,
    /// What the reader chose to leave out and why (an OSM extract's features that the target
    /// layer does not take), in Chinese and English, for the import report.
    pub notes: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct SourceFeature {
    pub values: BTreeMap<String, String>,
    /// In WGS84 lon/lat, or still in GCJ-02/BD-09 when `--crs` says so (core converts).
    pub geometry: Option<geo::Geometry<f64>>,
    /// Why the geometry could not be read, when it could not.
    pub geometry_error: Option<String>,
}

/// Why a file cannot be read, in words a cadre can act on (Chinese / English).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{zh} / {en}")]
pub struct ReadError {
    pub zh: String,
    pub en: String,
    /// The file has coordinates but no CRS: the caller may ask for one and read again.
    pub missing_crs: bool,
}

pub(crate) fn err(zh: impl Into<String>, en: impl Into<String>) -> ReadError {
    ReadError {
        zh: zh.into(),
        en: en.into(),
        missing_crs: false,
    }
}

/// The names GDAL may open, tried in order until one holds features: zipped files through
/// `/vsizip/`. A KMZ is tried first at its `doc.kml`, because LIBKML opening a single-document
/// `.kmz` itself loses the schema of `ExtendedData` (every attribute but the name); a KMZ whose
/// `doc.kml` only links to layers inside it (as GDAL writes them) is then opened whole.
fn gdal_paths(path: &Path) -> Vec<PathBuf> {
    let lower = path.to_string_lossy().to_lowercase();
    if lower.ends_with(".zip") {
        vec![PathBuf::from(format!("/vsizip/{}", path.display()))]
    } else if lower.ends_with(".kmz") {
        let zipped = PathBuf::from(format!("/vsizip/{}", path.display()));
        let doc = gdal::vsi::read_dir(&zipped, false).ok().and_then(|names| {
            names
                .into_iter()
                .find(|n| n.to_string_lossy().eq_ignore_ascii_case("doc.kml"))
        });
        doc.map(|d| zipped.join(d))
            .into_iter()
            .chain([path.to_path_buf()])
            .collect()
    } else {
        vec![path.to_path_buf()]
    }
}

fn is_csv(path: &Path) -> bool {
    path.extension()
        .map(|e| e.eq_ignore_ascii_case("csv"))
        .unwrap_or(false)
}

fn wgs84() -> Result<SpatialRef, ReadError> {
    let mut s = SpatialRef::from_epsg(4326).map_err(|e| err("无法建立 WGS84", e.to_string()))?;
    s.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    Ok(s)
}

/// Reads the first layer with features; from an OSM extract, the features the target layer
/// takes (see [`crate::osm::read_for_import`]). `progress` hears the rows read so far.
pub fn read(
    path: &Path,
    layer: ImportLayer,
    crs: Option<SourceCrs>,
    progress: &mut dyn FnMut(usize),
) -> Result<SourceTable, ReadError> {
    if !path.exists() {
        return Err(err(
            format!("找不到文件 {}", path.display()),
            format!("no file {}", path.display()),
        ));
    }
    if crate::roster::is_spreadsheet(path) {
        return crate::roster::read_roster(path, crs, progress);
    }
    if crate::osm::is_osm(path) {
        return crate::osm::read_for_import(path, layer, crs, progress);
    }
    // CSV: GDAL finds the point in lon/lat columns (Chinese names too) or a WKT column.
    let csv_options = [
        "X_POSSIBLE_NAMES=lon,lng,longitude,经度,x,X",
        "Y_POSSIBLE_NAMES=lat,latitude,纬度,y,Y",
        "GEOM_POSSIBLE_NAMES=WKT,wkt,geometry,geom",
        "KEEP_GEOM_COLUMNS=YES",
        "AUTODETECT_TYPE=NO",
    ];
    let options = || DatasetOptions {
        open_flags: GdalOpenFlags::GDAL_OF_VECTOR | GdalOpenFlags::GDAL_OF_READONLY,
        open_options: is_csv(path).then_some(&csv_options[..]),
        ..Default::default()
    };
    let mut opened = None;
    let mut open_error = None;
    for candidate in gdal_paths(path) {
        match Dataset::open_ex(&candidate, options()) {
            Ok(d) if d.layers().any(|l| l.feature_count() > 0) => {
                opened = Some(d);
                break;
            }
            Ok(_) => {}
            Err(e) => open_error = Some(e),
        }
    }
    let dataset = match (opened, open_error) {
        (Some(d), _) => d,
        (None, Some(e)) => {
            return Err(err(
                format!("无法打开 {}：文件损坏或格式不支持（{e}）", path.display()),
                format!(
                    "cannot open {}: the file is damaged or not a supported format ({e})",
                    path.display()
                ),
            ))
        }
        (None, None) => {
            return Err(err(
                format!("{} 中没有任何要素", path.display()),
                format!("{} holds no features", path.display()),
            ))
        }
    };
    let driver = dataset.driver().short_name();
    let cad = driver == "DXF";
    let mut layer = dataset
        .layers()
        .find(|l| l.feature_count() > 0)
        .ok_or_else(|| {
            err(
                format!("{} 中没有任何要素", path.display()),
                format!("{} holds no features", path.display()),
            )
        })?;
    let layer_name = layer.name();
    let fields: Vec<String> = layer.defn().fields().map(|f| f.name()).collect();
    let file_srs = layer.spatial_ref();

    // A table without any geometry column (a roster as CSV) has nothing to place: no CRS.
    let (transform, crs_text) = if layer.defn().geom_fields().count() == 0 {
        (None, "无坐标 / no coordinates".to_string())
    } else {
        transform_to_wgs84(path, crs, file_srs)?
    };

    let mut rows = Vec::with_capacity(layer.feature_count() as usize);
    for feature in layer.features() {
        let mut values = BTreeMap::new();
        for (i, name) in fields.iter().enumerate() {
            if let Ok(Some(v)) = feature.field_as_string(i) {
                values.insert(name.clone(), v);
            }
        }
        let (geometry, geometry_error) = match feature.geometry() {
            None => (None, None),
            Some(g) if g.is_empty() => (None, None),
            Some(g) => {
                let moved = match &transform {
                    Some(t) => g.transform(t),
                    None => Ok(g.clone()),
                };
                // Heights (KML's Z, 3D CAD) are not kept; geo reads 2D geometries only.
                match moved.and_then(|mut g| {
                    g.flatten_to_2d();
                    g.to_geo()
                }) {
                    Ok(g) if cad => (Some(closed_polyline_as_polygon(g)), None),
                    Ok(g) => (Some(g), None),
                    Err(e) => (None, Some(e.to_string())),
                }
            }
        };
        rows.push(SourceFeature {
            values,
            geometry,
            geometry_error,
        });
        if rows.len() % 10_000 == 0 {
            progress(rows.len());
        }
    }
    progress(rows.len());
    Ok(SourceTable {
        driver,
        layer: layer_name,
        fields,
        rows,
        crs: crs_text,
        notes: Vec::new(),
    })
}

/// CAD drawings outline parcels and zones with closed polylines, which GDAL 3.6 reads as
/// lines (`DXF_CLOSED_LINE_AS_POLYGON` came later): a closed ring of at least three distinct
/// points is read as the polygon it draws.
fn closed_polyline_as_polygon(g: geo::Geometry<f64>) -> geo::Geometry<f64> {
    match g {
        geo::Geometry::LineString(l) if l.is_closed() && l.0.len() >= 4 => {
            geo::Geometry::Polygon(geo::Polygon::new(l, Vec::new()))
        }
        other => other,
    }
}

/// The transform to WGS84 (None: coordinates are lon/lat to keep, or GCJ-02/BD-09 that core
/// converts) and its description for the report. A file without CRS is refused.
pub(crate) fn transform_to_wgs84(
    path: &Path,
    crs: Option<SourceCrs>,
    file_srs: Option<SpatialRef>,
) -> Result<(Option<CoordTransform>, String), ReadError> {
    Ok(match crs {
        Some(SourceCrs::Offset(o)) => (None, format!("{o:?} (--crs) → {}", o.describe())),
        Some(SourceCrs::Epsg(code)) => {
            let mut s = SpatialRef::from_epsg(code).map_err(|e| {
                err(
                    format!("未知坐标系 EPSG:{code}"),
                    format!("unknown CRS EPSG:{code} ({e})"),
                )
            })?;
            s.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
            let t = CoordTransform::new(&s, &wgs84()?)
                .map_err(|e| err("无法换算坐标系", e.to_string()))?;
            (Some(t), format!("EPSG:{code} (--crs) → EPSG:4326 (GDAL/PROJ)"))
        }
        None => match file_srs {
            Some(mut s) => {
                s.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
                let name = describe(&s);
                let t = CoordTransform::new(&s, &wgs84()?)
                    .map_err(|e| err("无法换算文件的坐标系", e.to_string()))?;
                (Some(t), format!("{name} (file) → EPSG:4326 (GDAL/PROJ)"))
            }
            None => {
                return Err(ReadError {
                    missing_crs: true,
                    ..err(
                    format!(
                        "{} 没有坐标系（缺少 .prj 等）：请用 --crs 指定，如 --crs EPSG:4490、--crs EPSG:4547 或 --crs gcj02",
                        path.display()
                    ),
                    format!(
                        "{} has no CRS (no .prj or similar): give one with --crs, e.g. --crs EPSG:4490, EPSG:4547 or gcj02",
                        path.display()
                    ),
                )})
            }
        },
    })
}

fn describe(s: &SpatialRef) -> String {
    match (s.auth_name(), s.auth_code()) {
        (Some(a), Ok(c)) => format!("{a}:{c} {}", s.name().unwrap_or_default()),
        _ => s.name().unwrap_or_else(|| "unnamed CRS".into()),
    }
}
