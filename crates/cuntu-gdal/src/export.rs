//! Writing a layer to a file: GeoPackage, Shapefile (zipped), KML, GeoJSON and CSV through
//! GDAL; XLSX with rust_xlsxwriter (lon/lat for points, WKT otherwise).
//!
//! Values arrive as text (masked already where the role asks); geometries as WKB in
//! EPSG:4326. For EPSG:4490 (CGCS2000) the coordinates stay as they are: the two frames
//! differ by centimetres, below what these data carry, and GDAL's own 4326→4490 is a null
//! transformation too, so only the declared CRS changes.

use std::path::{Path, PathBuf};

use gdal::spatial_ref::{AxisMappingStrategy, SpatialRef};
use gdal::vector::{Feature, FieldDefn, Geometry, LayerAccess, LayerOptions, OGRFieldType};
use gdal::{Dataset, DriverManager};

use crate::import::ReadError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Gpkg,
    Shp,
    Kml,
    GeoJson,
    Csv,
    Xlsx,
}

impl ExportFormat {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "gpkg" | "geopackage" => Self::Gpkg,
            "shp" | "shapefile" => Self::Shp,
            "kml" => Self::Kml,
            "geojson" | "json" => Self::GeoJson,
            "csv" => Self::Csv,
            "xlsx" => Self::Xlsx,
            _ => return None,
        })
    }

    /// The file's ending as written (a Shapefile travels zipped).
    pub fn extension(self) -> &'static str {
        match self {
            Self::Gpkg => "gpkg",
            Self::Shp => "shp.zip",
            Self::Kml => "kml",
            Self::GeoJson => "geojson",
            Self::Csv => "csv",
            Self::Xlsx => "xlsx",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Gpkg => "application/geopackage+sqlite3",
            Self::Shp => "application/zip",
            Self::Kml => "application/vnd.google-earth.kml+xml",
            Self::GeoJson => "application/geo+json",
            Self::Csv => "text/csv; charset=utf-8",
            Self::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }
}

/// The CRSs a layer is exported in: WGS84 (4326) or CGCS2000 (4490), as a number or
/// `EPSG:` code.
pub fn parse_epsg(s: &str) -> Option<u32> {
    match s
        .trim()
        .trim_start_matches("EPSG:")
        .trim_start_matches("epsg:")
    {
        "4326" => Some(4326),
        "4490" => Some(4490),
        _ => None,
    }
}

/// One layer to write.
#[derive(Debug, Clone, Default)]
pub struct OutTable {
    pub name: String,
    pub columns: Vec<String>,
    /// WKB in EPSG:4326 and the values, one per column.
    pub rows: Vec<(Vec<u8>, Vec<Option<String>>)>,
}

fn err(zh: impl Into<String>, en: impl std::fmt::Display) -> ReadError {
    crate::import::err(zh, en.to_string())
}

/// Writes `table` to `path` in `format`, declared in EPSG:`epsg` (4326 or 4490), and answers
/// the file written: a Shapefile is always zipped (its four files travel as one), so a name
/// not ending in `.zip` gets `.zip` added.
pub fn write(
    table: &OutTable,
    format: ExportFormat,
    epsg: u32,
    path: &Path,
) -> Result<PathBuf, ReadError> {
    let zipped;
    let path = if format == ExportFormat::Shp
        && !path.to_string_lossy().to_lowercase().ends_with(".zip")
    {
        zipped = PathBuf::from(format!("{}.zip", path.display()));
        zipped.as_path()
    } else {
        path
    };
    if !matches!(epsg, 4326 | 4490) {
        return Err(err(
            format!("导出坐标系只能是 4326 或 4490，不是 {epsg}"),
            format!("export CRS must be 4326 or 4490, not {epsg}"),
        ));
    }
    if path.exists() {
        return Err(err(
            format!("{} 已存在，请换个文件名或先删除", path.display()),
            format!(
                "{} exists already: choose another name or delete it",
                path.display()
            ),
        ));
    }
    if format == ExportFormat::Xlsx {
        write_xlsx(table, path)?;
        return Ok(path.to_path_buf());
    }
    let (driver, target) = match format {
        ExportFormat::Gpkg => ("GPKG", path.to_path_buf()),
        ExportFormat::GeoJson => ("GeoJSON", path.to_path_buf()),
        ExportFormat::Kml => ("KML", path.to_path_buf()),
        ExportFormat::Csv => ("CSV", path.to_path_buf()),
        // GDAL writes a zipped Shapefile when the name ends in .shp.zip; other names get
        // that suffix while writing and are renamed after.
        ExportFormat::Shp => {
            let s = path.to_string_lossy();
            if s.to_lowercase().ends_with(".shp.zip") {
                (driver_name_shp(), path.to_path_buf())
            } else {
                (
                    driver_name_shp(),
                    Path::new(&format!("{s}.tmp.shp.zip")).to_path_buf(),
                )
            }
        }
        ExportFormat::Xlsx => unreachable!("handled above"),
    };
    let drv = DriverManager::get_driver_by_name(driver)
        .map_err(|e| err(format!("本机 GDAL 没有 {driver} 驱动"), e))?;
    let mut ds = drv
        .create_vector_only(&target)
        .map_err(|e| err(format!("无法创建 {}", path.display()), e))?;
    // KML is WGS84 by definition.
    let code = if format == ExportFormat::Kml {
        4326
    } else {
        epsg
    };
    let mut srs = SpatialRef::from_epsg(code).map_err(|e| err("无法建立坐标系", e))?;
    srs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    // A Shapefile holds one geometry type; the others take any.
    let geometry_type = table
        .rows
        .first()
        .and_then(|(wkb, _)| Geometry::from_wkb(wkb).ok())
        .map(|g| g.geometry_type())
        .unwrap_or(gdal::vector::OGRwkbGeometryType::wkbUnknown);
    let all_points = geometry_type == gdal::vector::OGRwkbGeometryType::wkbPoint;
    let layer_options: Vec<&str> = match format {
        ExportFormat::Shp => vec!["ENCODING=UTF-8"],
        ExportFormat::Csv if all_points => vec!["GEOMETRY=AS_XY"],
        ExportFormat::Csv => vec!["GEOMETRY=AS_WKT"],
        _ => vec![],
    };
    if format == ExportFormat::Gpkg {
        // One transaction: a GeoPackage written row by row in autocommit is very slow.
        let mut txn = ds.start_transaction().map_err(|e| err("无法开始写入", e))?;
        fill(&mut txn, table, &srs, geometry_type, &layer_options)?;
        txn.commit().map_err(|e| err("写入失败", e))?;
    } else {
        fill(&mut ds, table, &srs, geometry_type, &layer_options)?;
    }
    ds.close().map_err(|e| err("写入失败", e))?;
    if target != path {
        std::fs::rename(&target, path).map_err(|e| err("无法重命名输出文件", e))?;
    }
    Ok(path.to_path_buf())
}

fn driver_name_shp() -> &'static str {
    "ESRI Shapefile"
}

fn fill(
    ds: &mut Dataset,
    table: &OutTable,
    srs: &SpatialRef,
    ty: gdal::vector::OGRwkbGeometryType::Type,
    options: &[&str],
) -> Result<(), ReadError> {
    let layer = ds
        .create_layer(LayerOptions {
            name: &table.name,
            srs: Some(srs),
            ty,
            options: (!options.is_empty()).then_some(options),
        })
        .map_err(|e| err("无法创建图层", e))?;
    // Some drivers start a layer with fields of their own (KML: Name, Description) and some
    // rename ours (Shapefile: ten characters), so each column's index is taken as it is made.
    let mut index = Vec::with_capacity(table.columns.len());
    for c in &table.columns {
        FieldDefn::new(c, OGRFieldType::OFTString)
            .and_then(|f| f.add_to_layer(&layer))
            .map_err(|e| err(format!("无法创建字段 {c}"), e))?;
        index.push(layer.defn().fields().count() - 1);
    }
    let defn = layer.defn();
    for (wkb, values) in &table.rows {
        let mut feature = Feature::new(defn).map_err(|e| err("无法创建要素", e))?;
        let geometry = Geometry::from_wkb(wkb).map_err(|e| err("数据库中的几何无法读取", e))?;
        feature
            .set_geometry(geometry)
            .map_err(|e| err("无法写入几何", e))?;
        for (i, v) in index.iter().zip(values) {
            if let Some(v) = v {
                feature
                    .set_field_string(*i, v)
                    .map_err(|e| err("无法写入字段", e))?;
            }
        }
        feature.create(&layer).map_err(|e| err("无法写入要素", e))?;
    }
    Ok(())
}

fn write_xlsx(table: &OutTable, path: &Path) -> Result<(), ReadError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let bold = Format::new().set_bold();
    let x = |e: rust_xlsxwriter::XlsxError| err("无法写入 XLSX", e);
    let points = table.rows.iter().all(|(wkb, _)| {
        Geometry::from_wkb(wkb)
            .map(|g| g.geometry_type() == gdal::vector::OGRwkbGeometryType::wkbPoint)
            .unwrap_or(false)
    });
    let geo_columns: &[&str] = if points { &["lon", "lat"] } else { &["wkt"] };
    for (i, c) in table
        .columns
        .iter()
        .map(String::as_str)
        .chain(geo_columns.iter().copied())
        .enumerate()
    {
        sheet
            .write_string_with_format(0, i as u16, c, &bold)
            .map_err(x)?;
    }
    let n = table.columns.len() as u16;
    for (r, (wkb, values)) in table.rows.iter().enumerate() {
        let row = r as u32 + 1;
        for (i, v) in values.iter().enumerate() {
            if let Some(v) = v {
                sheet.write_string(row, i as u16, v).map_err(x)?;
            }
        }
        let g = Geometry::from_wkb(wkb).map_err(|e| err("数据库中的几何无法读取", e))?;
        if points {
            let (lon, lat, _) = g.get_point(0);
            sheet.write_number(row, n, lon).map_err(x)?;
            sheet.write_number(row, n + 1, lat).map_err(x)?;
        } else {
            let wkt = g.wkt().map_err(|e| err("几何无法转为 WKT", e))?;
            sheet.write_string(row, n, wkt).map_err(x)?;
        }
    }
    book.save(path).map_err(x)?;
    Ok(())
}
