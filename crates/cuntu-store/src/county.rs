//! A county-scale dataset for benchmarks: the loaded demo townships replicated side by side.
//!
//! Each copy is the real demo geometry (areas, households, facilities, hazards, roads,
//! waterways) translated by whole tiles of the demo's extent, with every household moved a
//! few metres by a hash of (household, copy, seed): deterministic, with real density,
//! clustering and road layout, and valid like the original (the area rules hold, households
//! are filed into their grids by the same trigger as any insert).

use crate::{Store, StoreError};

/// Copies are named `<code>~<copy>`; an original area has no `~` in its code.
const COPY_MARK: char = '~';

/// What one copy added.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyFigures {
    pub areas: u64,
    pub households: u64,
}

#[derive(Debug, Clone, Copy)]
pub struct Original {
    pub households: i64,
    pub grids: i64,
    pub copies: i64,
    /// Width and height of the demo's extent, degrees.
    pub width: f64,
    pub height: f64,
}

impl Store {
    /// The original (not copied) data: its households, grids, copies made so far, extent.
    pub async fn county_original(&self) -> Result<Original, StoreError> {
        let (households, grids, copies, width, height): (i64, i64, i64, Option<f64>, Option<f64>) =
            sqlx::query_as(
                "SELECT (SELECT count(*) FROM households h JOIN areas g ON g.id = h.grid_id \
                         WHERE strpos(g.code, '~') = 0), \
                        (SELECT count(*) FROM areas WHERE kind = 'grid' AND strpos(code, '~') = 0), \
                        (SELECT count(DISTINCT split_part(code, '~', 2)) FROM areas WHERE strpos(code, '~') > 0), \
                        (SELECT ST_XMax(e) - ST_XMin(e) FROM (SELECT ST_Extent(geom) AS e FROM areas \
                         WHERE parent_id IS NULL AND strpos(code, '~') = 0) x), \
                        (SELECT ST_YMax(e) - ST_YMin(e) FROM (SELECT ST_Extent(geom) AS e FROM areas \
                         WHERE parent_id IS NULL AND strpos(code, '~') = 0) x)",
            )
            .fetch_one(self.pool())
            .await?;
        Ok(Original {
            households,
            grids,
            copies,
            width: width.unwrap_or(0.0),
            height: height.unwrap_or(0.0),
        })
    }

    /// Adds copy number `copy` (1, 2, ...) of the original data, translated by `offset`
    /// degrees, in one transaction.
    pub async fn add_county_copy(
        &self,
        copy: i32,
        offset: (f64, f64),
        seed: i64,
    ) -> Result<CopyFigures, StoreError> {
        let mut tx = self.pool().begin().await?;
        let suffix = format!("{COPY_MARK}{copy}");
        sqlx::query(
            "CREATE TEMP TABLE copied_areas (old bigint PRIMARY KEY, new bigint) ON COMMIT DROP",
        )
        .execute(&mut *tx)
        .await?;
        let mut figures = CopyFigures::default();
        // Parents before children: the tree rule checks each child against its parent.
        for kind in ["township", "village", "hamlet", "grid", "lane"] {
            figures.areas += sqlx::query(
                "WITH src AS (SELECT a.* FROM areas a WHERE a.kind = $1 AND strpos(a.code, '~') = 0), \
                 ins AS ( \
                    INSERT INTO areas (kind, parent_id, code, name, source_name, geom) \
                    SELECT s.kind, m.new, s.code || $2, s.name || '·' || $3::text, s.source_name, \
                           ST_Translate(s.geom, $4, $5) \
                    FROM src s LEFT JOIN copied_areas m ON m.old = s.parent_id \
                    RETURNING id, code) \
                 INSERT INTO copied_areas SELECT s.id, ins.id FROM ins JOIN src s ON ins.code = s.code || $2",
            )
            .bind(kind)
            .bind(&suffix)
            .bind(copy)
            .bind(offset.0)
            .bind(offset.1)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        // A few metres of jitter (up to ±2e-5°), from a hash, so that no two copies coincide.
        figures.households = sqlx::query(
            "INSERT INTO households (geom, house_number, address, head_name, members, phone, id_card, tags, party_central) \
             SELECT ST_Translate(h.geom, \
                        $1 + ((hashtext(h.id || ':x:' || $3 || ':' || $4) % 1000) / 1000.0) * 2e-5, \
                        $2 + ((hashtext(h.id || ':y:' || $3 || ':' || $4) % 1000) / 1000.0) * 2e-5), \
                    h.house_number, h.address, h.head_name, h.members, h.phone, h.id_card, h.tags, h.party_central \
             FROM households h JOIN areas g ON g.id = h.grid_id WHERE strpos(g.code, '~') = 0",
        )
        .bind(offset.0)
        .bind(offset.1)
        .bind(copy)
        .bind(seed)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let originals = "ST_Intersects(x.geom, (SELECT ST_Union(geom) FROM areas WHERE parent_id IS NULL AND strpos(code, '~') = 0))";
        for (table, columns) in [
            ("facilities", "kind, name, capacity"),
            ("hazards", "kind, severity, name, rule"),
            ("roads", "class, name"),
            ("waterways", "kind, name"),
        ] {
            sqlx::query(&format!(
                "INSERT INTO {table} ({columns}, geom) \
                 SELECT {columns}, ST_Translate(x.geom, $1, $2) FROM {table} x WHERE {originals}"
            ))
            .bind(offset.0)
            .bind(offset.1)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(figures)
    }

    pub async fn analyze(&self) -> Result<(), StoreError> {
        sqlx::query("ANALYZE").execute(self.pool()).await?;
        Ok(())
    }
}
