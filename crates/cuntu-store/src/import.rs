//! Imports from files, all or nothing, and the rows of a layer for an export.
//!
//! An import is one transaction: the rows go in as arrays (`UNNEST`), a chunk at a time so
//! the command can show progress, and nothing is visible until the last chunk is in. A row
//! with a key (`--key FIELD`) updates the row an earlier import made with that key in the same
//! village (see [`VILLAGE_KEY`]).

use cuntu_core::auth::{self, Assignment, Visibility};
use cuntu_core::import::{
    FacilityRow, HazardRow, HouseholdRow, HouseholdUpdate, JoinCandidate, RoadRow, StagedRow,
};
use serde::Serialize;

use crate::households::SCOPE_CTE;
use crate::{Store, StoreError};

/// Rows per statement: large enough for speed, small enough for a lively progress bar.
const CHUNK: usize = 5_000;

/// The stored import key of a row with key `k` at point `p`: `<village id>/<k>`, so numbering
/// restarts in each village (编号、门牌号 are a village's own) and an import in one village can
/// never update a household of another through a key both happen to use. A row in no village
/// keeps `k` as it is. Rows without a key skip the lookup.
const VILLAGE_KEY: &str = "CASE WHEN k IS NULL THEN NULL ELSE coalesce((SELECT a.id::text || '/' \
     FROM areas a WHERE a.kind = 'village' AND ST_Intersects(a.geom, p) ORDER BY a.id LIMIT 1), '') \
     || k END";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ImportCounts {
    pub inserted: u64,
    pub updated: u64,
}

/// Rows of a layer for an export: column names, then per row the geometry as WKB in
/// EPSG:4326 and the values as text.
#[derive(Debug, Clone, Default)]
pub struct ExportTable {
    pub columns: Vec<&'static str>,
    pub rows: Vec<ExportRow>,
}

#[derive(Debug, Clone)]
pub struct ExportRow {
    pub wkb: Vec<u8>,
    pub values: Vec<Option<String>>,
    /// Households only: area ids from the grid up to the township, to mask per role.
    pub chain: Vec<i64>,
}

impl Store {
    /// Stores households in one transaction; `progress` hears the rows done after each chunk.
    pub async fn import_households(
        &self,
        rows: &[HouseholdRow],
        progress: &mut (dyn FnMut(usize) + Send),
    ) -> Result<ImportCounts, StoreError> {
        let mut tx = self.pool().begin().await?;
        let mut counts = ImportCounts::default();
        let mut done = 0;
        for chunk in rows.chunks(CHUNK) {
            let col = |f: fn(&HouseholdRow) -> Option<String>| -> Vec<Option<String>> {
                chunk.iter().map(f).collect()
            };
            let lon: Vec<f64> = chunk.iter().map(|r| r.lon).collect();
            let lat: Vec<f64> = chunk.iter().map(|r| r.lat).collect();
            let members: Vec<Option<i16>> = chunk.iter().map(|r| r.members).collect();
            // A 2-D array cannot hold rows of different lengths, so tags travel joined.
            let tags: Vec<String> = chunk.iter().map(|r| r.tags.join(",")).collect();
            let inserted: Vec<bool> = sqlx::query_scalar(&format!(
                "INSERT INTO households (geom, house_number, address, head_name, members, phone, \
                     id_card, tags, import_key) \
                 SELECT p, hn, ad, na, me, ph, ic, \
                     coalesce(string_to_array(NULLIF(tg, ''), ','), '{{}}'), {VILLAGE_KEY} \
                 FROM (SELECT ST_SetSRID(ST_MakePoint(x, y), 4326) AS p, * \
                       FROM UNNEST($1::float8[], $2::float8[], $3::text[], $4::text[], $5::text[], \
                           $6::int2[], $7::text[], $8::text[], $9::text[], $10::text[]) \
                           AS t(x, y, hn, ad, na, me, ph, ic, tg, k)) u \
                 ON CONFLICT (import_key) WHERE import_key IS NOT NULL DO UPDATE SET \
                     geom = EXCLUDED.geom, house_number = EXCLUDED.house_number, \
                     address = EXCLUDED.address, head_name = EXCLUDED.head_name, \
                     members = EXCLUDED.members, phone = EXCLUDED.phone, \
                     id_card = EXCLUDED.id_card, tags = EXCLUDED.tags \
                 RETURNING (xmax = 0)",
            ))
            .bind(&lon)
            .bind(&lat)
            .bind(col(|r| r.house_number.clone()))
            .bind(col(|r| r.address.clone()))
            .bind(col(|r| r.head_name.clone()))
            .bind(&members)
            .bind(col(|r| r.phone.clone()))
            .bind(col(|r| r.id_card.clone()))
            .bind(&tags)
            .bind(col(|r| r.key.clone()))
            .fetch_all(&mut *tx)
            .await?;
            tally(&mut counts, &inserted);
            done += chunk.len();
            progress(done);
        }
        tx.commit().await?;
        Ok(counts)
    }

    /// Stores facilities in one transaction, like [`Store::import_households`].
    pub async fn import_facilities(
        &self,
        rows: &[FacilityRow],
        progress: &mut (dyn FnMut(usize) + Send),
    ) -> Result<ImportCounts, StoreError> {
        let mut tx = self.pool().begin().await?;
        let mut counts = ImportCounts::default();
        let mut done = 0;
        for chunk in rows.chunks(CHUNK) {
            let lon: Vec<f64> = chunk.iter().map(|r| r.lon).collect();
            let lat: Vec<f64> = chunk.iter().map(|r| r.lat).collect();
            let kind: Vec<String> = chunk.iter().map(|r| r.kind.clone()).collect();
            let name: Vec<Option<String>> = chunk.iter().map(|r| r.name.clone()).collect();
            let capacity: Vec<Option<i32>> = chunk.iter().map(|r| r.capacity).collect();
            let key: Vec<Option<String>> = chunk.iter().map(|r| r.key.clone()).collect();
            let inserted: Vec<bool> = sqlx::query_scalar(&format!(
                "INSERT INTO facilities (geom, kind, name, capacity, import_key) \
                 SELECT p, kd, n, c, {VILLAGE_KEY} \
                 FROM (SELECT ST_SetSRID(ST_MakePoint(x, y), 4326) AS p, * \
                       FROM UNNEST($1::float8[], $2::float8[], $3::text[], $4::text[], $5::int4[], \
                           $6::text[]) AS t(x, y, kd, n, c, k)) u \
                 ON CONFLICT (import_key) WHERE import_key IS NOT NULL DO UPDATE SET \
                     geom = EXCLUDED.geom, kind = EXCLUDED.kind, name = EXCLUDED.name, \
                     capacity = EXCLUDED.capacity, version = facilities.version + 1, \
                     updated_at = now() \
                 RETURNING (xmax = 0)",
            ))
            .bind(&lon)
            .bind(&lat)
            .bind(&kind)
            .bind(&name)
            .bind(&capacity)
            .bind(&key)
            .fetch_all(&mut *tx)
            .await?;
            tally(&mut counts, &inserted);
            done += chunk.len();
            progress(done);
        }
        tx.commit().await?;
        Ok(counts)
    }

    /// Stores staged rows of one layer (households or facilities) in one transaction: the
    /// write of `cuntu import` and of the web upload alike.
    pub async fn import_staged(
        &self,
        staged: Vec<StagedRow>,
        progress: &mut (dyn FnMut(usize) + Send),
    ) -> Result<ImportCounts, StoreError> {
        let mut households = Vec::new();
        let mut facilities = Vec::new();
        let mut hazards = Vec::new();
        let mut roads = Vec::new();
        for s in staged {
            match s {
                StagedRow::Household(h) => households.push(h),
                StagedRow::Facility(f) => facilities.push(f),
                StagedRow::Hazard(h) => hazards.push(h),
                StagedRow::Road(r) => roads.push(r),
                StagedRow::Area(_) => {
                    return Err(StoreError::Invalid {
                        zh: "区域须经区域导入写入（按类型与上级区域）".into(),
                        en: "areas are written by the area import (by kind and container)".into(),
                    })
                }
            }
        }
        let layers = [
            !households.is_empty(),
            !facilities.is_empty(),
            !hazards.is_empty(),
            !roads.is_empty(),
        ];
        if layers.iter().filter(|l| **l).count() > 1 {
            return Err(StoreError::Invalid {
                zh: "一次导入只能写入一个图层".into(),
                en: "one import writes one layer".into(),
            });
        }
        if !facilities.is_empty() {
            self.import_facilities(&facilities, progress).await
        } else if !hazards.is_empty() {
            self.import_hazards(&hazards, progress).await
        } else if !roads.is_empty() {
            self.import_roads(&roads, progress).await
        } else {
            self.import_households(&households, progress).await
        }
    }

    /// Stores hazards in one transaction (`rule` names the import).
    pub async fn import_hazards(
        &self,
        rows: &[HazardRow],
        progress: &mut (dyn FnMut(usize) + Send),
    ) -> Result<ImportCounts, StoreError> {
        let mut tx = self.pool().begin().await?;
        let mut counts = ImportCounts::default();
        let mut done = 0;
        for chunk in rows.chunks(CHUNK) {
            let kind: Vec<&str> = chunk.iter().map(|r| r.kind.as_str()).collect();
            let severity: Vec<&str> = chunk.iter().map(|r| r.severity.as_str()).collect();
            let name: Vec<Option<&str>> = chunk.iter().map(|r| r.name.as_deref()).collect();
            let wkb = chunk
                .iter()
                .map(|r| crate::wkb::encode(&r.geometry))
                .collect::<Result<Vec<_>, _>>()?;
            let n = sqlx::query(
                "INSERT INTO hazards (kind, severity, name, rule, geom) \
                 SELECT k, s, n, '导入 / imported from a file', ST_GeomFromWKB(g, 4326) \
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bytea[]) AS t(k, s, n, g)",
            )
            .bind(&kind)
            .bind(&severity)
            .bind(&name)
            .bind(&wkb)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            counts.inserted += n;
            done += chunk.len();
            progress(done);
        }
        tx.commit().await?;
        Ok(counts)
    }

    /// Stores roads in one transaction, one row per line of each source row.
    pub async fn import_roads(
        &self,
        rows: &[RoadRow],
        progress: &mut (dyn FnMut(usize) + Send),
    ) -> Result<ImportCounts, StoreError> {
        let mut tx = self.pool().begin().await?;
        let mut counts = ImportCounts::default();
        let mut done = 0;
        for chunk in rows.chunks(CHUNK) {
            let mut class = Vec::new();
            let mut name = Vec::new();
            let mut wkb = Vec::new();
            for r in chunk {
                for line in &r.lines {
                    class.push(r.class.as_str());
                    name.push(r.name.as_deref());
                    wkb.push(crate::wkb::encode(&geo::Geometry::LineString(
                        line.clone(),
                    ))?);
                }
            }
            let n = sqlx::query(
                "INSERT INTO roads (class, name, geom) SELECT c, n, ST_GeomFromWKB(g, 4326) \
                 FROM UNNEST($1::text[], $2::text[], $3::bytea[]) AS t(c, n, g)",
            )
            .bind(&class)
            .bind(&name)
            .bind(&wkb)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            counts.inserted += n;
            done += chunk.len();
            progress(done);
        }
        tx.commit().await?;
        Ok(counts)
    }

    /// The households below `scope_roots` a roster without coordinates may join.
    pub async fn join_candidates(
        &self,
        scope_roots: &[i64],
    ) -> Result<Vec<JoinCandidate>, StoreError> {
        let rows: Vec<(i64, Option<String>, Option<String>)> = sqlx::query_as(&format!(
            "{SCOPE_CTE} SELECT h.id, h.house_number, h.address FROM households h \
             WHERE h.grid_id IN (SELECT id FROM scope) ORDER BY h.id"
        ))
        .bind(scope_roots)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, house_number, address)| JoinCandidate {
                id,
                house_number,
                address,
            })
            .collect())
    }

    /// Updates households from a joined roster in one transaction; a value the roster leaves
    /// empty keeps the stored one. Answers the households updated.
    pub async fn update_households(
        &self,
        updates: &[(i64, HouseholdUpdate)],
        progress: &mut (dyn FnMut(usize) + Send),
    ) -> Result<ImportCounts, StoreError> {
        let mut tx = self.pool().begin().await?;
        let mut counts = ImportCounts::default();
        let mut done = 0;
        for chunk in updates.chunks(CHUNK) {
            let col = |f: fn(&HouseholdUpdate) -> Option<String>| -> Vec<Option<String>> {
                chunk.iter().map(|(_, u)| f(u)).collect()
            };
            let ids: Vec<i64> = chunk.iter().map(|(id, _)| *id).collect();
            let members: Vec<Option<i16>> = chunk.iter().map(|(_, u)| u.members).collect();
            let tags: Vec<Option<String>> = chunk
                .iter()
                .map(|(_, u)| u.tags.as_ref().map(|t| t.join(",")))
                .collect();
            let n = sqlx::query(
                "UPDATE households h SET \
                     house_number = coalesce(t.hn, h.house_number), \
                     address = coalesce(t.ad, h.address), \
                     head_name = coalesce(t.na, h.head_name), \
                     members = coalesce(t.me, h.members), \
                     phone = coalesce(t.ph, h.phone), \
                     id_card = coalesce(t.ic, h.id_card), \
                     tags = CASE WHEN t.tg IS NULL THEN h.tags \
                         ELSE coalesce(string_to_array(NULLIF(t.tg, ''), ','), '{}') END \
                 FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::text[], $5::int2[], \
                     $6::text[], $7::text[], $8::text[]) AS t(id, hn, ad, na, me, ph, ic, tg) \
                 WHERE h.id = t.id",
            )
            .bind(&ids)
            .bind(col(|u| u.house_number.clone()))
            .bind(col(|u| u.address.clone()))
            .bind(col(|u| u.head_name.clone()))
            .bind(&members)
            .bind(col(|u| u.phone.clone()))
            .bind(col(|u| u.id_card.clone()))
            .bind(&tags)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            counts.updated += n;
            done += chunk.len();
            progress(done);
        }
        tx.commit().await?;
        Ok(counts)
    }

    /// The box (west, south, east, north) around some households, for a map link.
    pub async fn households_bbox(&self, ids: &[i64]) -> Result<Option<[f64; 4]>, StoreError> {
        let b: Option<(f64, f64, f64, f64)> = sqlx::query_as(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM \
             (SELECT ST_Extent(geom)::geometry AS e FROM households WHERE id = ANY($1)) t \
             WHERE e IS NOT NULL",
        )
        .bind(ids)
        .fetch_optional(self.pool())
        .await?;
        Ok(b.map(|(w, s, e, n)| [w, s, e, n]))
    }

    /// Rows in a layer, for counts before and after an import.
    pub async fn layer_count(&self, layer: &str) -> Result<i64, StoreError> {
        let table = table_of(layer)?;
        Ok(sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(self.pool())
            .await?)
    }

    /// The households someone with `assignments` may read, their personal fields masked as
    /// the API masks them: per row, by the role held on the household's chain.
    pub async fn export_households(
        &self,
        assignments: &[Assignment],
    ) -> Result<ExportTable, StoreError> {
        let roots = auth::household_scope_roots(assignments);
        let mut table = self.export_households_unmasked(&roots).await?;
        let col = |n: &str| table.columns.iter().position(|c| *c == n);
        let (name_i, phone_i, id_i, tags_i) =
            (col("head_name"), col("phone"), col("id_card"), col("tags"));
        table.rows.retain_mut(|r| {
            let Some(access) = auth::household_access(assignments, &r.chain) else {
                return false;
            };
            let mut apply = |i: Option<usize>, v: Visibility, mask: fn(&str) -> String| {
                if let Some(i) = i {
                    r.values[i] = auth::reveal(r.values[i].take(), v, mask);
                }
            };
            apply(name_i, access.names, |s| s.to_string());
            apply(phone_i, access.phone, auth::mask_phone);
            apply(id_i, access.id_card, auth::mask_id_card);
            apply(tags_i, access.tags, |s| s.to_string());
            true
        });
        Ok(table)
    }

    async fn export_households_unmasked(
        &self,
        scope_roots: &[i64],
    ) -> Result<ExportTable, StoreError> {
        let rows: Vec<HouseholdExportRow> = sqlx::query_as(&format!(
            "{SCOPE_CTE} SELECT ST_AsBinary(h.geom), ARRAY[h.id::text, h.house_number, \
                 h.address, h.head_name, h.members::text, h.phone, h.id_card, \
                 array_to_string(h.tags, ','), g.name, h.import_key], {} \
             FROM households h LEFT JOIN areas g ON g.id = h.grid_id \
             WHERE h.grid_id IN (SELECT id FROM scope) ORDER BY h.id",
            crate::households::household_chain!()
        ))
        .bind(scope_roots)
        .fetch_all(self.pool())
        .await?;
        Ok(ExportTable {
            columns: vec![
                "id",
                "house_number",
                "address",
                "head_name",
                "members",
                "phone",
                "id_card",
                "tags",
                "grid",
                "import_key",
            ],
            rows: rows
                .into_iter()
                .map(|(wkb, values, chain)| ExportRow { wkb, values, chain })
                .collect(),
        })
    }

    /// The public layers (everything but households): every row, no personal fields.
    pub async fn export_public_layer(&self, layer: &str) -> Result<ExportTable, StoreError> {
        let (columns, sql): (Vec<&'static str>, &str) = match layer {
            "facilities" => (
                vec!["id", "kind", "name", "capacity", "import_key"],
                "SELECT ST_AsBinary(geom), ARRAY[id::text, kind, name, capacity::text, import_key] \
                 FROM facilities ORDER BY id",
            ),
            "hazards" => (
                vec!["id", "kind", "severity", "name"],
                "SELECT ST_AsBinary(geom), ARRAY[id::text, kind, severity, name] \
                 FROM hazards ORDER BY id",
            ),
            "roads" => (
                vec!["id", "class", "name"],
                "SELECT ST_AsBinary(geom), ARRAY[id::text, class, name] FROM roads ORDER BY id",
            ),
            "areas" => (
                vec!["id", "kind", "code", "name", "parent_id"],
                "SELECT ST_AsBinary(geom), ARRAY[id::text, kind, code, name, parent_id::text] \
                 FROM areas ORDER BY id",
            ),
            other => {
                return Err(StoreError::Invalid {
                    zh: format!("没有可导出的图层 {other}"),
                    en: format!("no layer {other} to export"),
                })
            }
        };
        let rows: Vec<(Vec<u8>, Vec<Option<String>>)> =
            sqlx::query_as(sql).fetch_all(self.pool()).await?;
        Ok(ExportTable {
            columns,
            rows: rows
                .into_iter()
                .map(|(wkb, values)| ExportRow {
                    wkb,
                    values,
                    chain: Vec::new(),
                })
                .collect(),
        })
    }
}

/// WKB, the values, the chain.
type HouseholdExportRow = (Vec<u8>, Vec<Option<String>>, Vec<i64>);

fn tally(counts: &mut ImportCounts, inserted: &[bool]) {
    let new = inserted.iter().filter(|i| **i).count() as u64;
    counts.inserted += new;
    counts.updated += inserted.len() as u64 - new;
}

/// Table names come from this fixed list, never from the caller's text.
fn table_of(layer: &str) -> Result<&'static str, StoreError> {
    Ok(match layer {
        "households" => "households",
        "facilities" => "facilities",
        "hazards" => "hazards",
        "roads" => "roads",
        "areas" => "areas",
        other => {
            return Err(StoreError::Invalid {
                zh: format!("没有图层 {other}"),
                en: format!("no layer {other}"),
            })
        }
    })
}
