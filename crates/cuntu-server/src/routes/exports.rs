//! `GET /api/exports/{layer}?format=gpkg&crs=4490`: a layer as a file, written by GDAL (issue 9),
//! the same writer as `cuntu export`. Households come only from the caller's scope, masked per
//! role as the API shows them, and each such export is audited; the other layers (areas,
//! roads, facilities, hazards) carry no personal fields.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use cuntu_gdal::export::{parse_epsg, ExportFormat, OutTable};
use serde::Deserialize;

use crate::auth::Viewer;
use crate::error::ApiError;
use crate::routes::{attachment, bad};
use crate::AppState;

const LAYERS: [&str; 5] = ["households", "areas", "roads", "facilities", "hazards"];

pub fn router() -> Router<AppState> {
    Router::new().route("/api/exports/{layer}", get(export))
}

#[derive(Debug, Deserialize)]
struct ExportQuery {
    /// gpkg (default), shp, kml, geojson, csv, xlsx.
    format: Option<String>,
    /// 4326 (default) or 4490.
    crs: Option<String>,
}

async fn export(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(layer): Path<String>,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    viewer.require()?;
    if !LAYERS.contains(&layer.as_str()) {
        return Err(ApiError::NotFound {
            what_zh: format!("图层 {layer}（可导出：{}）", LAYERS.join("、")),
            what_en: format!("The layer {layer} (exported: {})", LAYERS.join(", ")),
        });
    }
    let asked = q.format.as_deref().unwrap_or("gpkg");
    let format = ExportFormat::parse(asked).ok_or_else(|| {
        bad(
            format!("不能导出为 {asked}：可选 gpkg、shp、kml、geojson、csv、xlsx"),
            format!("{asked} is not an export format: gpkg, shp, kml, geojson, csv or xlsx"),
        )
    })?;
    let crs = q.crs.as_deref().unwrap_or("4326");
    let epsg = parse_epsg(crs).ok_or_else(|| {
        bad(
            format!("导出坐标系只能是 4326（WGS84）或 4490（CGCS2000），不是 {crs}"),
            format!("The export CRS is 4326 (WGS84) or 4490 (CGCS2000), not {crs}"),
        )
    })?;
    let table = if layer == "households" {
        state.store.export_households(&viewer.assignments()).await?
    } else {
        state.store.export_public_layer(&layer).await?
    };
    let rows = table.rows.len();
    let out = OutTable {
        name: layer.clone(),
        columns: table.columns.iter().map(|c| c.to_string()).collect(),
        rows: table.rows.into_iter().map(|r| (r.wkb, r.values)).collect(),
    };
    let file_name = format!("cuntu-{layer}-{epsg}.{}", format.extension());
    let target = file_name.clone();
    // GDAL writes files, and blocks: a private temporary folder, gone when the bytes are read.
    let written = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let written = cuntu_gdal::export::write(&out, format, epsg, &dir.path().join(&target))
            .map_err(|e| e.en)?;
        std::fs::read(written).map_err(|e| e.to_string())
    })
    .await;
    let bytes = match written {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => {
            tracing::error!("export of {layer} as {asked} failed: {e}");
            return Err(ApiError::Internal);
        }
        Err(e) => {
            tracing::error!("export of {layer} as {asked} panicked: {e}");
            return Err(ApiError::Internal);
        }
    };
    if layer == "households" {
        let mut entry = viewer.audit_entry("export_households", Some(file_name.clone()));
        entry.detail = serde_json::json!({ "rows": rows, "format": asked, "crs": epsg });
        state.store.audit(entry).await?;
    }
    Ok(attachment(
        format.content_type(),
        &file_name,
        &file_name,
        bytes,
    ))
}
