//! Reading areas: the whole tree for the R-tree, one area in detail.

use cuntu_core::area::{AreaKind, AreaRef};
use cuntu_core::index::{AreaMeta, Indexed};
use serde::Serialize;
use sqlx::{FromRow, PgExecutor};

use crate::{wkb, Store, StoreError};

#[derive(FromRow)]
struct AreaRow {
    id: i64,
    kind: String,
    code: String,
    name: String,
    parent_id: Option<i64>,
    wkb: Vec<u8>,
}

fn to_indexed(row: AreaRow) -> Result<Indexed<AreaMeta>, StoreError> {
    let kind: AreaKind = row
        .kind
        .parse()
        .map_err(|e: cuntu_core::CoreError| StoreError::Geometry(e.to_string()))?;
    Ok(Indexed {
        id: row.id,
        geometry: wkb::decode(&row.wkb)?,
        data: AreaMeta {
            kind,
            code: row.code,
            name: row.name,
            parent_id: row.parent_id,
        },
    })
}

const SELECT_AREA: &str =
    "SELECT id, kind, code, name, parent_id, ST_AsBinary(geom) AS wkb FROM areas";

/// One area with its geometry, for the R-tree; `None` when it no longer exists.
pub async fn area_for_index(
    db: impl PgExecutor<'_>,
    id: i64,
) -> Result<Option<Indexed<AreaMeta>>, StoreError> {
    let row: Option<AreaRow> = sqlx::query_as(&format!("{SELECT_AREA} WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?;
    row.map(to_indexed).transpose()
}

/// The details a popup or a breadcrumb shows for one area.
#[derive(Debug, Clone, Serialize)]
pub struct AreaDetail {
    pub id: i64,
    pub kind: AreaKind,
    pub code: String,
    pub name: String,
    pub parent_id: Option<i64>,
    pub households: i64,
    pub area_km2: f64,
    pub version: i32,
    /// From the township down to this area.
    pub chain: Vec<AreaRef>,
}

impl Store {
    pub async fn areas_for_index(&self) -> Result<Vec<Indexed<AreaMeta>>, StoreError> {
        let rows: Vec<AreaRow> = sqlx::query_as(SELECT_AREA).fetch_all(self.pool()).await?;
        rows.into_iter().map(to_indexed).collect()
    }

    pub async fn area_detail(&self, id: i64) -> Result<AreaDetail, StoreError> {
        #[derive(FromRow)]
        struct Row {
            id: i64,
            kind: String,
            code: String,
            name: String,
            parent_id: Option<i64>,
            households: i64,
            area_km2: f64,
            version: i32,
        }
        // Households inside, at any level: grids count their own; higher levels count by
        // containment, which the GiST index on households answers.
        let row: Row = sqlx::query_as(
            "SELECT a.id, a.kind, a.code, a.name, a.parent_id, a.version, \
                    ST_Area(a.geom::geography) / 1e6 AS area_km2, \
                    CASE WHEN a.kind = 'grid' \
                         THEN (SELECT count(*) FROM households h WHERE h.grid_id = a.id) \
                         ELSE (SELECT count(*) FROM households h WHERE ST_Intersects(a.geom, h.geom)) \
                    END AS households \
             FROM areas a WHERE a.id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
        let chain_rows: Vec<(i64, String, String, String)> = sqlx::query_as(
            "WITH RECURSIVE up AS ( \
                 SELECT id, kind, code, name, parent_id, 0 AS depth FROM areas WHERE id = $1 \
                 UNION ALL \
                 SELECT a.id, a.kind, a.code, a.name, a.parent_id, up.depth + 1 \
                 FROM areas a JOIN up ON a.id = up.parent_id WHERE up.depth < 8) \
             SELECT id, kind, code, name FROM up ORDER BY depth DESC",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        let chain = chain_rows
            .into_iter()
            .filter_map(|(id, kind, code, name)| {
                Some(AreaRef {
                    id,
                    kind: kind.parse().ok()?,
                    code,
                    name,
                })
            })
            .collect();
        Ok(AreaDetail {
            id: row.id,
            kind: row
                .kind
                .parse()
                .map_err(|e: cuntu_core::CoreError| StoreError::Geometry(e.to_string()))?,
            code: row.code,
            name: row.name,
            parent_id: row.parent_id,
            households: row.households,
            area_km2: row.area_km2,
            version: row.version,
            chain,
        })
    }
}
