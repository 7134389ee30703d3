//! Visits to households, the worker's view of their grid, and household search: all read
//! through the caller's scope (the areas below which they may read households).

use chrono::{DateTime, Utc};
use cuntu_core::visits::CadenceRule;
use serde::Serialize;
use sqlx::FromRow;

use crate::households::{household_chain, SCOPE_CTE};
use crate::{Store, StoreError};

/// Farther than this (metres) from the household, a visit is accepted but flagged.
pub const FAR_VISIT_M: f64 = 200.0;

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct ScopedGrid {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub village_name: Option<String>,
    pub geometry: serde_json::Value,
}

#[derive(Debug, Clone, FromRow)]
pub struct WorkerHousehold {
    pub id: i64,
    pub lon: f64,
    pub lat: f64,
    pub house_number: Option<String>,
    pub head_name: Option<String>,
    pub address: Option<String>,
    pub members: Option<i16>,
    pub tags: Vec<String>,
    pub grid_id: Option<i64>,
    pub grid_name: Option<String>,
    pub last_visit_at: Option<DateTime<Utc>>,
    /// Area ids from the household's grid up to its township.
    pub chain: Vec<i64>,
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct VisitRow {
    pub id: i64,
    pub household_id: i64,
    pub visited_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub by: Option<String>,
    pub found: String,
    pub follow_up: bool,
    pub far_m: Option<f64>,
    pub flagged: bool,
    pub has_photo: bool,
}

/// A visit as the client sends it.
pub struct NewVisit<'a> {
    pub user_id: i64,
    pub client_id: &'a str,
    pub household_id: i64,
    pub visited_at: DateTime<Utc>,
    /// WGS84 longitude/latitude, converted already, and the system it came in.
    pub location: Option<((f64, f64), &'a str)>,
    pub found: &'a str,
    pub follow_up: bool,
    pub photo: Option<(&'a str, Vec<u8>)>,
}

const SELECT_VISIT: &str = "SELECT v.id, v.household_id, v.visited_at, v.recorded_at, \
        u.display_name AS by, v.found, v.follow_up, v.far_m, v.flagged, \
        EXISTS (SELECT 1 FROM visit_photos p WHERE p.visit_id = v.id) AS has_photo \
     FROM visits v LEFT JOIN users u ON u.id = v.user_id";

const SELECT_WORKER_HOUSEHOLD: &str = concat!(
    "SELECT h.id, ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat, \
        h.house_number, h.head_name, h.address, h.members, h.tags, h.grid_id, g.name AS grid_name, \
        (SELECT max(v.visited_at) FROM visits v WHERE v.household_id = h.id) AS last_visit_at, ",
    household_chain!(),
    " FROM households h LEFT JOIN areas g ON g.id = h.grid_id"
);

impl Store {
    /// The grids in the scope (a worker's own grid; a cadre's village's grids).
    pub async fn grids_in_scope(&self, scope_roots: &[i64]) -> Result<Vec<ScopedGrid>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "{SCOPE_CTE} SELECT g.id, g.code, g.name, v.name AS village_name, \
                    ST_AsGeoJSON(g.geom, 7)::jsonb AS geometry \
             FROM areas g LEFT JOIN areas v ON v.id = g.parent_id \
             WHERE g.kind = 'grid' AND g.id IN (SELECT id FROM scope) ORDER BY g.code"
        ))
        .bind(scope_roots)
        .fetch_all(self.pool())
        .await?)
    }

    /// The households in the scope with their last visit.
    pub async fn worker_households(
        &self,
        scope_roots: &[i64],
    ) -> Result<Vec<WorkerHousehold>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "{SCOPE_CTE} {SELECT_WORKER_HOUSEHOLD} \
             WHERE h.grid_id IN (SELECT id FROM scope) ORDER BY h.grid_id, h.house_number, h.id"
        ))
        .bind(scope_roots)
        .fetch_all(self.pool())
        .await?)
    }

    /// Households in the scope matching a search: a substring of the head's name, the house
    /// number or the address, the tail of the phone number, or one of `tags`.
    pub async fn search_households(
        &self,
        scope_roots: &[i64],
        query: &str,
        tags: &[String],
        limit: i64,
    ) -> Result<Vec<WorkerHousehold>, StoreError> {
        let pattern = format!("%{}%", escape_like(query));
        let digits = query.chars().all(|c| c.is_ascii_digit()) && query.len() >= 3;
        let phone_tail = if digits {
            format!("%{query}")
        } else {
            String::new()
        };
        Ok(sqlx::query_as(&format!(
            "{SCOPE_CTE} {SELECT_WORKER_HOUSEHOLD} \
             WHERE h.grid_id IN (SELECT id FROM scope) \
               AND (h.head_name ILIKE $2 OR h.house_number ILIKE $2 OR h.address ILIKE $2 \
                    OR ($3 <> '' AND h.phone LIKE $3) OR h.tags && $4::text[]) \
             ORDER BY (h.head_name ILIKE $5) DESC, h.head_name, h.id LIMIT $6"
        ))
        .bind(scope_roots)
        .bind(&pattern)
        .bind(&phone_tail)
        .bind(tags)
        .bind(format!("{}%", escape_like(query)))
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// The cadence rules a township set for itself (the defaults fill the rest).
    pub async fn own_visit_rules(&self, area: i64) -> Result<Vec<CadenceRule>, StoreError> {
        let rows: Vec<(Option<String>, i32)> = sqlx::query_as(
            "WITH RECURSIVE up AS ( \
                 SELECT id, parent_id, kind, 0 AS depth FROM areas WHERE id = $1 \
                 UNION ALL SELECT a.id, a.parent_id, a.kind, up.depth + 1 FROM areas a JOIN up ON a.id = up.parent_id \
                 WHERE up.depth < 8) \
             SELECT r.tag, r.days FROM up JOIN visit_rules r ON r.township_id = up.id ORDER BY r.tag NULLS FIRST",
        )
        .bind(area)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(tag, days)| CadenceRule { tag, days })
            .collect())
    }

    /// Records a visit once: a replay with the same client id answers the stored visit and
    /// `true`. The distance to the household is measured on the spheroid.
    pub async fn record_visit(&self, visit: &NewVisit<'_>) -> Result<(VisitRow, bool), StoreError> {
        let mut tx = self.pool().begin().await?;
        let (lon, lat, crs) = match visit.location {
            Some(((lon, lat), crs)) => (Some(lon), Some(lat), Some(crs)),
            None => (None, None, None),
        };
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO visits (household_id, user_id, client_id, visited_at, geom, source_crs, far_m, \
                                 flagged, found, follow_up) \
             SELECT h.id, $2, $3, $4, p.g, $7, ST_Distance(p.g::geography, h.geom::geography), \
                    coalesce(ST_Distance(p.g::geography, h.geom::geography) > $8, false), $9, $10 \
             FROM households h, (SELECT CASE WHEN $5::float8 IS NULL THEN NULL \
                                        ELSE ST_SetSRID(ST_MakePoint($5, $6), 4326) END AS g) p \
             WHERE h.id = $1 \
             ON CONFLICT (user_id, client_id) DO NOTHING RETURNING id",
        )
        .bind(visit.household_id)
        .bind(visit.user_id)
        .bind(visit.client_id)
        .bind(visit.visited_at)
        .bind(lon)
        .bind(lat)
        .bind(crs)
        .bind(FAR_VISIT_M)
        .bind(visit.found)
        .bind(visit.follow_up)
        .fetch_optional(&mut *tx)
        .await?;
        let (id, duplicate) = match id {
            Some(id) => {
                if let Some((content_type, bytes)) = &visit.photo {
                    sqlx::query("INSERT INTO visit_photos (visit_id, content_type, bytes) VALUES ($1, $2, $3)")
                        .bind(id)
                        .bind(content_type)
                        .bind(bytes)
                        .execute(&mut *tx)
                        .await?;
                }
                (id, false)
            }
            None => {
                let existing: i64 = sqlx::query_scalar(
                    "SELECT id FROM visits WHERE user_id = $1 AND client_id = $2",
                )
                .bind(visit.user_id)
                .bind(visit.client_id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
                (existing, true)
            }
        };
        let row: VisitRow = sqlx::query_as(&format!("{SELECT_VISIT} WHERE v.id = $1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok((row, duplicate))
    }

    /// A household's visits, newest first.
    pub async fn visits_of(
        &self,
        household_id: i64,
        limit: i64,
    ) -> Result<Vec<VisitRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "{SELECT_VISIT} WHERE v.household_id = $1 ORDER BY v.visited_at DESC, v.id DESC LIMIT $2"
        ))
        .bind(household_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// A visit's photo with the household it belongs to (for the scope check).
    pub async fn visit_photo(
        &self,
        visit_id: i64,
    ) -> Result<Option<(i64, String, Vec<u8>)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT v.household_id, p.content_type, p.bytes FROM visit_photos p \
             JOIN visits v ON v.id = p.visit_id WHERE p.visit_id = $1",
        )
        .bind(visit_id)
        .fetch_optional(self.pool())
        .await?)
    }
}

/// A user's text inside a LIKE pattern matches itself only.
fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// A household to route to, with what the route shows of it.
#[derive(Debug, Clone, FromRow)]
pub struct RouteStop {
    pub id: i64,
    pub lon: f64,
    pub lat: f64,
    pub house_number: Option<String>,
    pub head_name: Option<String>,
    pub chain: Vec<i64>,
}

impl Store {
    /// Those of `ids` that lie in the scope, in the order asked.
    pub async fn route_stops_in_scope(
        &self,
        scope_roots: &[i64],
        ids: &[i64],
    ) -> Result<Vec<RouteStop>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "{SCOPE_CTE} SELECT h.id, ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat, h.house_number, h.head_name, \
                    {CHAIN} \
             FROM unnest($2::bigint[]) WITH ORDINALITY AS asked(id, n) \
             JOIN households h ON h.id = asked.id \
             WHERE h.grid_id IN (SELECT id FROM scope) ORDER BY asked.n",
            CHAIN = household_chain!()
        ))
        .bind(scope_roots)
        .bind(ids)
        .fetch_all(self.pool())
        .await?)
    }

    /// Every road line (all classes: footpaths count for walking), for the road network.
    pub async fn road_lines(&self) -> Result<Vec<geo::LineString<f64>>, StoreError> {
        let rows: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT ST_AsBinary(geom) FROM roads ORDER BY id")
                .fetch_all(self.pool())
                .await?;
        let mut lines = Vec::with_capacity(rows.len());
        for row in rows {
            if let geo::Geometry::LineString(l) = crate::wkb::decode(&row)? {
                lines.push(l);
            }
        }
        Ok(lines)
    }
}
