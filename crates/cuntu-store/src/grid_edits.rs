//! Editing the grid layer: split, merge, history, restore. Each edit is one transaction that
//! checks the caller's version (optimistic concurrency), lets the database's triggers check
//! containment and sibling overlap, and reassigns households to grids by location.
//!
//! Geometry work is PostGIS's: `ST_Split` cuts along the drawn line, so the two halves share
//! exactly the vertices of their common edge.

use serde::Serialize;
use sqlx::{Postgres, Transaction};

use crate::{Store, StoreError};

/// One grid after an edit, with its household count.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct GridState {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub version: i32,
    pub households: i64,
}

/// What an edit did, in people's terms.
#[derive(Debug, Clone, Serialize)]
pub struct EditReport {
    pub grids: Vec<GridState>,
    pub removed: Vec<i64>,
    /// Households that now belong to another grid than before.
    pub moved_households: i64,
    /// Of those, how many carry a key-population tag (and so change grid worker).
    pub moved_key_population: i64,
    pub dry_run: bool,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AreaVersionView {
    pub version: i32,
    pub name: String,
    pub geometry: serde_json::Value,
    pub valid_from: chrono::DateTime<chrono::Utc>,
    pub valid_to: Option<chrono::DateTime<chrono::Utc>>,
    pub changed_by: Option<String>,
    pub operation: String,
}

struct Locked {
    kind: String,
    parent_id: Option<i64>,
    code: String,
}

async fn begin(store: &Store, actor: &str) -> Result<Transaction<'static, Postgres>, StoreError> {
    let mut tx = store.pool().begin().await?;
    sqlx::query("SELECT set_config('cuntu.actor', $1, true)")
        .bind(actor)
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// Locks an area for the edit and checks the version the caller edited.
async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    id: i64,
    expected: i32,
) -> Result<Locked, StoreError> {
    let row: Option<(i32, String, Option<i64>, String)> =
        sqlx::query_as("SELECT version, kind, parent_id, code FROM areas WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
    let (current, kind, parent_id, code) = row.ok_or(StoreError::NotFound)?;
    if current != expected {
        return Err(StoreError::Conflict { expected, current });
    }
    Ok(Locked {
        kind,
        parent_id,
        code,
    })
}

fn editable(area: &Locked) -> Result<(), StoreError> {
    if matches!(area.kind.as_str(), "grid" | "lane") {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "only grids and lanes are split and merged here, not a {}",
            area.kind
        )))
    }
}

async fn grid_states(
    tx: &mut Transaction<'_, Postgres>,
    ids: &[i64],
) -> Result<Vec<GridState>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT a.id, a.code, a.name, a.version, \
                (SELECT count(*) FROM households h WHERE h.grid_id = a.id) AS households \
         FROM areas a WHERE a.id = ANY($1) ORDER BY a.id",
    )
    .bind(ids)
    .fetch_all(&mut **tx)
    .await?)
}

/// Households of these grids, as `(id, grid_id, has key-population tag)`.
async fn placements(
    tx: &mut Transaction<'_, Postgres>,
    grids: &[i64],
) -> Result<Vec<(i64, Option<i64>, bool)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, grid_id, tags <> '{}' FROM households WHERE grid_id = ANY($1) ORDER BY id",
    )
    .bind(grids)
    .fetch_all(&mut **tx)
    .await?)
}

/// Re-files the households whose grid may have changed: the trigger decides by location.
async fn reassign(
    tx: &mut Transaction<'_, Postgres>,
    household_ids: &[i64],
) -> Result<(), StoreError> {
    sqlx::query("UPDATE households SET geom = geom WHERE id = ANY($1)")
        .bind(household_ids)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn finish(tx: Transaction<'_, Postgres>, dry_run: bool) -> Result<(), StoreError> {
    if dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    Ok(())
}

/// The common end of every edit: re-file the households it touched, count who moved,
/// report the resulting grids, and commit (or roll back a dry run).
async fn conclude(
    mut tx: Transaction<'_, Postgres>,
    before: &[(i64, Option<i64>, bool)],
    grids: &[i64],
    removed: Vec<i64>,
    dry_run: bool,
) -> Result<EditReport, StoreError> {
    let ids: Vec<i64> = before.iter().map(|b| b.0).collect();
    reassign(&mut tx, &ids).await?;
    let (moved_households, moved_key_population) = moved(&mut tx, before).await?;
    let grids = grid_states(&mut tx, grids).await?;
    finish(tx, dry_run).await?;
    Ok(EditReport {
        grids,
        removed,
        moved_households,
        moved_key_population,
        dry_run,
    })
}

/// How many of `before` now sit in another grid, and how many of those carry tags.
async fn moved(
    tx: &mut Transaction<'_, Postgres>,
    before: &[(i64, Option<i64>, bool)],
) -> Result<(i64, i64), StoreError> {
    let ids: Vec<i64> = before.iter().map(|b| b.0).collect();
    let now: Vec<(i64, Option<i64>)> =
        sqlx::query_as("SELECT id, grid_id FROM households WHERE id = ANY($1) ORDER BY id")
            .bind(&ids)
            .fetch_all(&mut **tx)
            .await?;
    let mut count = 0;
    let mut key = 0;
    for ((_, old, tagged), (_, new)) in before.iter().zip(now.iter()) {
        if old != new {
            count += 1;
            if *tagged {
                key += 1;
            }
        }
    }
    Ok((count, key))
}

impl Store {
    /// Splits a grid in two along a line (EPSG:4326) that crosses it once.
    pub async fn split_area(
        &self,
        id: i64,
        expected_version: i32,
        line: &geo::LineString<f64>,
        actor: &str,
        dry_run: bool,
    ) -> Result<EditReport, StoreError> {
        let line_wkb = crate::wkb::encode(&geo::Geometry::LineString(line.clone()))?;
        let line_wkb = line_wkb.as_slice();
        let mut tx = begin(self, actor).await?;
        let area = lock(&mut tx, id, expected_version).await?;
        editable(&area)?;
        let pieces: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT ST_AsBinary(d.geom) FROM areas a, \
                 LATERAL ST_Dump(ST_Split(a.geom, ST_GeomFromWKB($2, 4326))) d \
             WHERE a.id = $1 ORDER BY ST_Area(d.geom) DESC",
        )
        .bind(id)
        .bind(line_wkb)
        .fetch_all(&mut *tx)
        .await?;
        if pieces.len() != 2 {
            return Err(StoreError::Invalid(format!(
                "the line must cross the grid once, from one edge to another, cutting it in two \
                 (it cuts it into {} pieces)",
                pieces.len()
            )));
        }
        let before = placements(&mut tx, &[id]).await?;
        sqlx::query("UPDATE areas SET geom = ST_Multi(ST_GeomFromWKB($2, 4326)) WHERE id = $1")
            .bind(id)
            .bind(&pieces[0])
            .execute(&mut *tx)
            .await?;
        let parent = area
            .parent_id
            .ok_or_else(|| StoreError::Invalid("a grid without a village".into()))?;
        let (code, name) = next_grid_name(&mut tx, parent, &area.code).await?;
        let new_id: i64 = sqlx::query_scalar(
            "INSERT INTO areas (kind, parent_id, code, name, geom) \
             VALUES ($1, $2, $3, $4, ST_Multi(ST_GeomFromWKB($5, 4326))) RETURNING id",
        )
        .bind(&area.kind)
        .bind(parent)
        .bind(&code)
        .bind(&name)
        .bind(&pieces[1])
        .fetch_one(&mut *tx)
        .await?;
        conclude(tx, &before, &[id, new_id], Vec::new(), dry_run).await
    }

    /// Merges grid `absorbed` into its neighbour `kept`; role assignments on the absorbed grid
    /// move to the kept one.
    pub async fn merge_areas(
        &self,
        kept: (i64, i32),
        absorbed: (i64, i32),
        actor: &str,
        dry_run: bool,
    ) -> Result<EditReport, StoreError> {
        if kept.0 == absorbed.0 {
            return Err(StoreError::Invalid(
                "a grid cannot be merged with itself".into(),
            ));
        }
        let mut tx = begin(self, actor).await?;
        // Lock in id order so two merges of the same pair cannot deadlock.
        let (first, second) = if kept.0 < absorbed.0 {
            (kept, absorbed)
        } else {
            (absorbed, kept)
        };
        let a = lock(&mut tx, first.0, first.1).await?;
        let b = lock(&mut tx, second.0, second.1).await?;
        editable(&a)?;
        editable(&b)?;
        if a.parent_id != b.parent_id || a.kind != b.kind {
            return Err(StoreError::Invalid(
                "only grids of the same village can be merged".into(),
            ));
        }
        let (adjacent, has_children): (bool, bool) = sqlx::query_as(
            "SELECT ST_DWithin(k.geom, x.geom, 1e-7), EXISTS (SELECT 1 FROM areas c WHERE c.parent_id = x.id) \
             FROM areas k, areas x WHERE k.id = $1 AND x.id = $2",
        )
        .bind(kept.0)
        .bind(absorbed.0)
        .fetch_one(&mut *tx)
        .await?;
        if !adjacent {
            return Err(StoreError::Invalid(
                "the two grids do not touch: only neighbours can be merged".into(),
            ));
        }
        if has_children {
            return Err(StoreError::Invalid(
                "the grid to merge away still holds lanes: merge or move them first".into(),
            ));
        }
        let before = placements(&mut tx, &[kept.0, absorbed.0]).await?;
        let union: Vec<u8> = sqlx::query_scalar(
            "SELECT ST_AsBinary(ST_Multi(ST_CollectionExtract(ST_MakeValid( \
                 ST_Union(ST_Snap(k.geom, x.geom, 1e-7), x.geom)), 3))) \
             FROM areas k, areas x WHERE k.id = $1 AND x.id = $2",
        )
        .bind(kept.0)
        .bind(absorbed.0)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM role_assignments r WHERE r.area_id = $2 AND EXISTS ( \
                 SELECT 1 FROM role_assignments k WHERE k.area_id = $1 AND k.user_id = r.user_id AND k.role = r.role)",
        )
        .bind(kept.0)
        .bind(absorbed.0)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE role_assignments SET area_id = $1 WHERE area_id = $2")
            .bind(kept.0)
            .bind(absorbed.0)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM areas WHERE id = $1")
            .bind(absorbed.0)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE areas SET geom = ST_GeomFromWKB($2, 4326) WHERE id = $1")
            .bind(kept.0)
            .bind(&union)
            .execute(&mut *tx)
            .await?;
        conclude(tx, &before, &[kept.0], vec![absorbed.0], dry_run).await
    }

    /// Every earlier version of an area, newest first, with the current one on top.
    pub async fn area_history(&self, id: i64) -> Result<Vec<AreaVersionView>, StoreError> {
        let versions: Vec<AreaVersionView> = sqlx::query_as(
            "SELECT version, name, ST_AsGeoJSON(geom)::jsonb AS geometry, updated_at AS valid_from, \
                    NULL::timestamptz AS valid_to, NULL::text AS changed_by, 'current' AS operation \
             FROM areas WHERE id = $1 \
             UNION ALL \
             SELECT version, name, ST_AsGeoJSON(geom)::jsonb, valid_from, valid_to, replaced_by, operation \
             FROM area_versions WHERE area_id = $1 \
             ORDER BY 1 DESC",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        if versions.is_empty() {
            return Err(StoreError::NotFound);
        }
        Ok(versions)
    }

    /// Makes an earlier version of an area current again, as a new version. Refused when the
    /// old shape no longer fits (outside the village, over a sibling).
    pub async fn restore_area(
        &self,
        id: i64,
        expected_version: i32,
        to_version: i32,
        actor: &str,
        dry_run: bool,
    ) -> Result<EditReport, StoreError> {
        let mut tx = begin(self, actor).await?;
        let area = lock(&mut tx, id, expected_version).await?;
        editable(&area)?;
        let old: Option<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT name, ST_AsBinary(geom) FROM area_versions WHERE area_id = $1 AND version = $2",
        )
        .bind(id)
        .bind(to_version)
        .fetch_optional(&mut *tx)
        .await?;
        let (name, geom) = old
            .ok_or_else(|| StoreError::Invalid(format!("grid {id} has no version {to_version}")))?;
        let affected: Vec<i64> = sqlx::query_scalar::<_, i64>(
            "SELECT DISTINCT h.grid_id FROM households h \
             WHERE h.grid_id IS NOT NULL AND (h.grid_id = $1 OR h.geom && ST_GeomFromWKB($2, 4326))",
        )
        .bind(id)
        .bind(&geom)
        .fetch_all(&mut *tx)
        .await?;
        let before = placements(&mut tx, &affected).await?;
        sqlx::query("UPDATE areas SET name = $2, geom = ST_GeomFromWKB($3, 4326) WHERE id = $1")
            .bind(id)
            .bind(&name)
            .bind(&geom)
            .execute(&mut *tx)
            .await?;
        conclude(tx, &before, &[id], Vec::new(), dry_run).await
    }
}

/// The next free grid number of a village: code `<village>-NN`, name `网格NN`.
async fn next_grid_name(
    tx: &mut Transaction<'_, Postgres>,
    parent: i64,
    sibling_code: &str,
) -> Result<(String, String), StoreError> {
    let prefix = sibling_code
        .rsplit_once('-')
        .map(|(p, _)| p.to_string())
        .unwrap_or_else(|| sibling_code.to_string());
    let codes: Vec<String> = sqlx::query_scalar("SELECT code FROM areas WHERE parent_id = $1")
        .bind(parent)
        .fetch_all(&mut **tx)
        .await?;
    let highest = codes
        .iter()
        .filter_map(|c| c.rsplit_once('-').and_then(|(_, n)| n.parse::<u32>().ok()))
        .max()
        .unwrap_or(0);
    let n = highest + 1;
    Ok((format!("{prefix}-{n:02}"), format!("网格{n:02}")))
}
