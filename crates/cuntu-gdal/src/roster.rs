//! Household rosters in Excel (`.xlsx`, `.xls`, `.ods`) through calamine: the first sheet
//! with data, its first non-empty row the field names, every later non-empty row a row.
//!
//! A roster with longitude/latitude columns (经度/纬度, lon/lat...) gives points, which need
//! a CRS like any file without one (`--crs`, or the page's choice). A roster without them
//! gives values only: the import then joins it to stored households by house number or
//! address (`cuntu_core::import::join_roster`).

use std::collections::BTreeMap;
use std::path::Path;

use calamine::{open_workbook_auto, Data, Reader};
use cuntu_core::import::{propose_mapping, ImportLayer, SourceCrs};
use gdal::vector::Geometry as GdalGeometry;

use crate::import::{err, transform_to_wgs84, ReadError, SourceFeature, SourceTable};

/// `.xlsx`, `.xlsm`, `.xls`, `.ods`: read by calamine.
pub fn is_spreadsheet(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| {
            matches!(
                e.to_ascii_lowercase().as_str(),
                "xlsx" | "xlsm" | "xls" | "ods"
            )
        })
        .unwrap_or(false)
}

fn cell_text(d: &Data) -> String {
    match d {
        // 13812340000 is stored as a number: no ".0", no exponent.
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        other => other.to_string().trim().to_string(),
    }
}

/// Reads the roster; `progress` hears the rows read.
pub fn read_roster(
    path: &Path,
    crs: Option<SourceCrs>,
    progress: &mut dyn FnMut(usize),
) -> Result<SourceTable, ReadError> {
    let mut book = open_workbook_auto(path).map_err(|e| {
        err(
            format!(
                "无法打开表格 {}：文件损坏或不是 Excel（{e}）",
                path.display()
            ),
            format!(
                "cannot open the spreadsheet {}: damaged or not Excel ({e})",
                path.display()
            ),
        )
    })?;
    let names = book.sheet_names();
    let mut found = None;
    for (i, name) in names.iter().enumerate() {
        if let Some(Ok(range)) = book.worksheet_range_at(i) {
            if !range.is_empty() {
                found = Some((name.clone(), range));
                break;
            }
        }
    }
    let Some((sheet, range)) = found else {
        return Err(err(
            format!("{} 中没有任何数据", path.display()),
            format!("{} holds no data", path.display()),
        ));
    };
    let mut lines = range
        .rows()
        .map(|r| r.iter().map(cell_text).collect::<Vec<String>>())
        .filter(|r| r.iter().any(|c| !c.is_empty()));
    let header = lines.next().unwrap_or_default();
    let fields: Vec<String> = header
        .iter()
        .enumerate()
        .map(|(i, h)| {
            if h.is_empty() {
                format!("列{}", i + 1)
            } else {
                h.clone()
            }
        })
        .collect();
    let proposal = propose_mapping(ImportLayer::Households, &fields);
    let lon_lat = match (proposal.fields.get("lon"), proposal.fields.get("lat")) {
        (Some(x), Some(y)) => Some((x.clone(), y.clone())),
        _ => None,
    };
    let (transform, crs_text) = match &lon_lat {
        Some(_) => transform_to_wgs84(path, crs, None)?,
        None => (None, "无坐标：按门牌号或地址对应已有住户 / no coordinates: joined to stored households by house number or address".to_string()),
    };
    let mut rows = Vec::new();
    for line in lines {
        let values: BTreeMap<String, String> = fields
            .iter()
            .zip(line)
            .filter(|(_, v)| !v.is_empty())
            .map(|(f, v)| (f.clone(), v))
            .collect();
        let mut geometry = None;
        let mut geometry_error = None;
        if let Some((x, y)) = &lon_lat {
            let parsed = values
                .get(x)
                .and_then(|v| v.parse::<f64>().ok())
                .zip(values.get(y).and_then(|v| v.parse::<f64>().ok()));
            if let Some((x, y)) = parsed {
                match &transform {
                    None => geometry = Some(geo::Geometry::Point(geo::Point::new(x, y))),
                    Some(t) => {
                        let moved = GdalGeometry::from_wkt(&format!("POINT ({x} {y})"))
                            .and_then(|g| g.transform(t))
                            .and_then(|g| g.to_geo());
                        match moved {
                            Ok(g) => geometry = Some(g),
                            Err(e) => geometry_error = Some(e.to_string()),
                        }
                    }
                }
            }
        }
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
    if rows.is_empty() {
        return Err(err(
            format!("{} 只有表头，没有数据行", path.display()),
            format!("{} has a header but no rows", path.display()),
        ));
    }
    Ok(SourceTable {
        driver: "XLSX (calamine)".into(),
        layer: sheet,
        fields,
        rows,
        crs: crs_text,
        notes: Vec::new(),
    })
}
