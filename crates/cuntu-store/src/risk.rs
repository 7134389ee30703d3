//! The township leader's risk map: hazards with their influence zones, the facts of exposed
//! households, shelters, figures per village and grid, the grid noticeboard, evacuations.
//!
//! A leader's scope is the areas they are assigned to (a township): hazards and shelters
//! that touch those areas, households whose grid lies below them. Which exposed households
//! there are is decided by the server's R-tree; [`Store::exposure_reference`] is the same
//! question asked of PostGIS, for tests and the benchmark.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::FromRow;

use crate::households::SCOPE_CTE;
use crate::{wkb, Store, StoreError};

/// A hazard as the leader's map shows it.
#[derive(Debug, Clone)]
pub struct HazardRow {
    pub id: i64,
    pub kind: String,
    pub severity: String,
    pub name: Option<String>,
    pub status: String,
    pub version: i32,
    pub buffer_m: f64,
    pub updated_at: DateTime<Utc>,
    pub geometry: geo::Geometry<f64>,
}

/// What the leader's figures need of a household the R-tree found.
#[derive(Debug, Clone, FromRow)]
pub struct HouseholdFacts {
    pub id: i64,
    pub lon: f64,
    pub lat: f64,
    pub house_number: Option<String>,
    pub head_name: Option<String>,
    pub members: Option<i16>,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct Shelter {
    pub id: i64,
    pub name: Option<String>,
    pub capacity: Option<i32>,
    pub lon: f64,
    pub lat: f64,
}

/// Figures of one village or grid for the thematic map and the dashboard.
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct AreaFigures {
    pub id: i64,
    pub name: String,
    pub parent_name: Option<String>,
    pub households: i64,
    pub persons: i64,
    pub key_households: i64,
    /// Households visited since `since`.
    pub visited: i64,
    pub key_visited: i64,
    pub geometry: serde_json::Value,
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct StaffContact {
    pub duty: String,
    pub name: String,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct HazardVersion {
    pub version: i32,
    pub kind: String,
    pub severity: String,
    pub name: Option<String>,
    pub status: String,
    pub changed_by: Option<String>,
    pub changed_at: DateTime<Utc>,
    pub geometry: serde_json::Value,
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct Inspection {
    pub id: i64,
    pub by: Option<String>,
    pub note: String,
    pub created_at: DateTime<Utc>,
}

/// Hazards touching these areas, with the buffer their kind and severity give.
const HAZARDS_IN_SCOPE: &str = "SELECT z.id, z.kind, z.severity, z.name, z.status, z.version, \
        coalesce(b.buffer_m, 0) AS buffer_m, z.updated_at, ST_AsBinary(z.geom) AS geom \
     FROM hazards z LEFT JOIN hazard_buffers b ON b.kind = z.kind AND b.severity = z.severity \
     WHERE EXISTS (SELECT 1 FROM areas a WHERE a.id = ANY($1) AND ST_Intersects(a.geom, z.geom))";

type HazardTuple = (
    i64,
    String,
    String,
    Option<String>,
    String,
    i32,
    f64,
    DateTime<Utc>,
    Vec<u8>,
);

fn hazard_row(t: HazardTuple) -> Result<HazardRow, StoreError> {
    Ok(HazardRow {
        id: t.0,
        kind: t.1,
        severity: t.2,
        name: t.3,
        status: t.4,
        version: t.5,
        buffer_m: t.6,
        updated_at: t.7,
        geometry: wkb::decode(&t.8)?,
    })
}

impl Store {
    pub async fn hazards_in_scope(&self, roots: &[i64]) -> Result<Vec<HazardRow>, StoreError> {
        let rows: Vec<HazardTuple> = sqlx::query_as(&format!("{HAZARDS_IN_SCOPE} ORDER BY z.id"))
            .bind(roots)
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(hazard_row).collect()
    }

    /// The influence zones as polygons, buffered on the spheroid (geography) in metres.
    pub async fn hazard_zones(
        &self,
        roots: &[i64],
    ) -> Result<Vec<(i64, String, String, f64, serde_json::Value)>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "WITH z AS ({HAZARDS_IN_SCOPE}) \
             SELECT z.id, z.kind, z.severity, z.buffer_m, \
                    ST_AsGeoJSON(CASE WHEN z.buffer_m > 0 \
                        THEN ST_Buffer(ST_GeomFromWKB(z.geom, 4326)::geography, z.buffer_m, 'quad_segs=16')::geometry \
                        ELSE ST_GeomFromWKB(z.geom, 4326) END, 7)::jsonb \
             FROM z WHERE z.status = 'open' ORDER BY z.id"
        ))
        .bind(roots)
        .fetch_all(self.pool())
        .await?)
    }

    /// The PostGIS answer to "who is exposed": (hazard, household) pairs by `ST_DWithin` on
    /// geography, for the given hazards. The reference the R-tree's answer is checked against.
    pub async fn exposure_reference(
        &self,
        hazard_ids: &[i64],
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT z.id, h.id FROM hazards z \
             JOIN hazard_buffers b ON b.kind = z.kind AND b.severity = z.severity \
             JOIN households h ON ST_DWithin(h.geom::geography, z.geom::geography, b.buffer_m) \
             WHERE z.id = ANY($1) ORDER BY z.id, h.id",
        )
        .bind(hazard_ids)
        .fetch_all(self.pool())
        .await?)
    }

    /// The facts of these households, for those whose grid lies below `roots`.
    pub async fn household_facts(
        &self,
        roots: &[i64],
        ids: &[i64],
    ) -> Result<Vec<HouseholdFacts>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "{SCOPE_CTE} SELECT h.id, ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat, h.house_number, \
                    h.head_name, h.members, h.tags \
             FROM households h WHERE h.id = ANY($2) AND h.grid_id IN (SELECT id FROM scope) \
             ORDER BY h.id"
        ))
        .bind(roots)
        .bind(ids)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn shelters_in_scope(&self, roots: &[i64]) -> Result<Vec<Shelter>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT f.id, f.name, f.capacity, ST_X(f.geom) AS lon, ST_Y(f.geom) AS lat \
             FROM facilities f WHERE f.kind = 'shelter' AND EXISTS ( \
                SELECT 1 FROM areas a WHERE a.id = ANY($1) AND ST_Intersects(a.geom, f.geom)) \
             ORDER BY f.id",
        )
        .bind(roots)
        .fetch_all(self.pool())
        .await?)
    }

    /// Figures of every village (`kind = 'village'`) or grid below `roots`: households,
    /// persons, key-population households, and those visited since `since`.
    pub async fn area_figures(
        &self,
        roots: &[i64],
        kind: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<AreaFigures>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "{SCOPE_CTE}, target AS ( \
                SELECT a.id, a.name, p.name AS parent_name, a.geom FROM areas a \
                LEFT JOIN areas p ON p.id = a.parent_id \
                WHERE a.kind = $2 AND a.id IN (SELECT id FROM scope)), \
             below(root, id) AS ( \
                SELECT id, id FROM target UNION ALL \
                SELECT b.root, a.id FROM areas a JOIN below b ON a.parent_id = b.id), \
             hh AS ( \
                SELECT b.root, h.id, coalesce(h.members, 0) AS members, \
                       cardinality(h.tags) > 0 AS key, \
                       EXISTS (SELECT 1 FROM visits v WHERE v.household_id = h.id AND v.visited_at >= $3) AS visited \
                FROM below b JOIN households h ON h.grid_id = b.id) \
             SELECT t.id, t.name, t.parent_name, \
                    count(hh.id) AS households, coalesce(sum(hh.members), 0)::bigint AS persons, \
                    count(hh.id) FILTER (WHERE hh.key) AS key_households, \
                    count(hh.id) FILTER (WHERE hh.visited) AS visited, \
                    count(hh.id) FILTER (WHERE hh.visited AND hh.key) AS key_visited, \
                    ST_AsGeoJSON(t.geom, 6)::jsonb AS geometry \
             FROM target t LEFT JOIN hh ON hh.root = t.id \
             GROUP BY t.id, t.name, t.parent_name, t.geom ORDER BY t.name, t.id"
        ))
        .bind(roots)
        .bind(kind)
        .bind(since)
        .fetch_all(self.pool())
        .await?)
    }

    /// Key-population households below `roots` by tag: (tag, households, persons).
    pub async fn key_population_counts(
        &self,
        roots: &[i64],
    ) -> Result<Vec<(String, i64, i64)>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "{SCOPE_CTE} SELECT t.tag, count(*), coalesce(sum(h.members), 0)::bigint \
             FROM households h, unnest(h.tags) AS t(tag) \
             WHERE h.grid_id IN (SELECT id FROM scope) GROUP BY t.tag ORDER BY t.tag"
        ))
        .bind(roots)
        .fetch_all(self.pool())
        .await?)
    }

    /// The key-population households below `roots` as points weighted by their tags, for the
    /// density layer of a viewer who may see where they live.
    pub async fn key_population_points(
        &self,
        roots: &[i64],
    ) -> Result<Vec<(f64, f64, i32)>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "{SCOPE_CTE} SELECT ST_X(h.geom), ST_Y(h.geom), cardinality(h.tags) \
             FROM households h WHERE cardinality(h.tags) > 0 AND h.grid_id IN (SELECT id FROM scope)"
        ))
        .bind(roots)
        .fetch_all(self.pool())
        .await?)
    }

    /// Whether area `id` lies below (or is) one of `roots`.
    pub async fn area_in_scope(&self, roots: &[i64], id: i64) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar::<_, bool>(&format!(
            "{SCOPE_CTE} SELECT EXISTS (SELECT 1 FROM scope WHERE id = $2)"
        ))
        .bind(roots)
        .bind(id)
        .fetch_one(self.pool())
        .await?)
    }

    /// The leader and workers of a grid with their phones, for the noticeboard.
    pub async fn grid_contacts(&self, grid_id: i64) -> Result<Vec<StaffContact>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT s.duty, u.display_name AS name, u.phone FROM area_staff s \
             JOIN users u ON u.id = s.user_id WHERE s.area_id = $1 AND NOT u.disabled \
             ORDER BY s.duty, u.display_name",
        )
        .bind(grid_id)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn hazard_history(&self, id: i64) -> Result<Vec<HazardVersion>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT v.version, v.kind, v.severity, v.name, v.status, u.display_name AS changed_by, \
                    v.changed_at, ST_AsGeoJSON(v.geom, 7)::jsonb AS geometry \
             FROM hazard_history v LEFT JOIN users u ON u.id = v.changed_by \
             WHERE v.hazard_id = $1 ORDER BY v.version DESC",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn hazard_inspections(&self, id: i64) -> Result<Vec<Inspection>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT i.id, u.display_name AS by, i.note, i.created_at FROM hazard_inspections i \
             LEFT JOIN users u ON u.id = i.user_id WHERE i.hazard_id = $1 ORDER BY i.created_at DESC, i.id DESC",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn add_inspection(
        &self,
        hazard_id: i64,
        user_id: i64,
        note: &str,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO hazard_inspections (hazard_id, user_id, note) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(hazard_id)
        .bind(user_id)
        .bind(note)
        .fetch_one(self.pool())
        .await?)
    }

    /// Records a new hazard; returns its id.
    pub async fn create_hazard(
        &self,
        h: &HazardInput<'_>,
        user_id: i64,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO hazards (kind, severity, name, rule, geom, updated_by) \
             VALUES ($1, $2, $3, 'recorded', ST_GeomFromWKB($4, 4326), $5) RETURNING id",
        )
        .bind(h.kind)
        .bind(h.severity)
        .bind(h.name)
        .bind(wkb::encode(h.geometry)?)
        .bind(user_id)
        .fetch_one(self.pool())
        .await?)
    }

    /// Changes a hazard if it is still at `version`; `Ok(None)` when someone changed it first
    /// (or it does not exist), `Ok(Some(new_version))` otherwise.
    pub async fn update_hazard(
        &self,
        id: i64,
        version: i32,
        h: &HazardInput<'_>,
        status: &str,
        user_id: i64,
    ) -> Result<Option<i32>, StoreError> {
        Ok(sqlx::query_scalar(
            "UPDATE hazards SET kind = $3, severity = $4, name = $5, geom = ST_GeomFromWKB($6, 4326), \
                    status = $7, updated_by = $8, version = version + 1, updated_at = now() \
             WHERE id = $1 AND version = $2 RETURNING version",
        )
        .bind(id)
        .bind(version)
        .bind(h.kind)
        .bind(h.severity)
        .bind(h.name)
        .bind(wkb::encode(h.geometry)?)
        .bind(status)
        .bind(user_id)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn hazard_buffers(&self) -> Result<Vec<(String, String, f64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT kind, severity, buffer_m FROM hazard_buffers ORDER BY kind, severity",
        )
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn set_hazard_buffer(
        &self,
        kind: &str,
        severity: &str,
        buffer_m: f64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO hazard_buffers (kind, severity, buffer_m) VALUES ($1, $2, $3) \
             ON CONFLICT (kind, severity) DO UPDATE SET buffer_m = EXCLUDED.buffer_m",
        )
        .bind(kind)
        .bind(severity)
        .bind(buffer_m)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Starts an evacuation of the given households, each with its shelter; returns its id.
    pub async fn create_evacuation(
        &self,
        township_id: i64,
        name: &str,
        hazard_ids: &[i64],
        households: &[(i64, Option<i64>, Option<f64>)],
        user_id: i64,
    ) -> Result<i64, StoreError> {
        let mut tx = self.pool().begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO evacuations (township_id, name, hazard_ids, created_by) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(township_id)
        .bind(name)
        .bind(hazard_ids)
        .bind(user_id)
        .fetch_one(&mut *tx)
        .await?;
        let ids: Vec<i64> = households.iter().map(|h| h.0).collect();
        let shelters: Vec<Option<i64>> = households.iter().map(|h| h.1).collect();
        let metres: Vec<Option<f64>> = households.iter().map(|h| h.2).collect();
        sqlx::query(
            "INSERT INTO evacuation_households (evacuation_id, household_id, shelter_id, distance_m, updated_by) \
             SELECT $1, h, s, d, $5 FROM UNNEST($2::bigint[], $3::bigint[], $4::float8[]) AS t(h, s, d)",
        )
        .bind(id)
        .bind(&ids)
        .bind(&shelters)
        .bind(&metres)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn evacuation(&self, id: i64) -> Result<Option<Evacuation>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT e.id, e.township_id, e.name, e.hazard_ids, u.display_name AS created_by, e.created_at \
             FROM evacuations e LEFT JOIN users u ON u.id = e.created_by WHERE e.id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn evacuations_of(&self, roots: &[i64]) -> Result<Vec<Evacuation>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT e.id, e.township_id, e.name, e.hazard_ids, u.display_name AS created_by, e.created_at \
             FROM evacuations e LEFT JOIN users u ON u.id = e.created_by \
             WHERE e.township_id = ANY($1) ORDER BY e.created_at DESC, e.id DESC",
        )
        .bind(roots)
        .fetch_all(self.pool())
        .await?)
    }

    /// The households of an evacuation that lie below `roots` (all of them for the leader, a
    /// worker's own grid for a worker).
    pub async fn evacuation_households(
        &self,
        id: i64,
        roots: &[i64],
    ) -> Result<Vec<EvacueeRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "{SCOPE_CTE} SELECT e.household_id, ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat, \
                    h.house_number, h.head_name, h.members, h.tags, h.grid_id, g.name AS grid_name, \
                    e.shelter_id, f.name AS shelter_name, e.distance_m, e.status, e.note, \
                    u.display_name AS updated_by, e.updated_at \
             FROM evacuation_households e JOIN households h ON h.id = e.household_id \
             LEFT JOIN areas g ON g.id = h.grid_id LEFT JOIN facilities f ON f.id = e.shelter_id \
             LEFT JOIN users u ON u.id = e.updated_by \
             WHERE e.evacuation_id = $2 AND h.grid_id IN (SELECT id FROM scope) \
             ORDER BY g.name, h.house_number, h.id"
        ))
        .bind(roots)
        .bind(id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Marks one household of an evacuation, if it lies below `roots`; false otherwise.
    pub async fn mark_evacuee(
        &self,
        id: i64,
        household_id: i64,
        roots: &[i64],
        status: &str,
        note: Option<&str>,
        user_id: i64,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(&format!(
            "{SCOPE_CTE} UPDATE evacuation_households e SET status = $4, note = $5, updated_by = $6, \
                    updated_at = now() FROM households h \
             WHERE e.evacuation_id = $2 AND e.household_id = $3 AND h.id = e.household_id \
               AND h.grid_id IN (SELECT id FROM scope)"
        ))
        .bind(roots)
        .bind(id)
        .bind(household_id)
        .bind(status)
        .bind(note)
        .bind(user_id)
        .execute(self.pool())
        .await?
        .rows_affected()
            == 1)
    }

    pub async fn set_user_phone(&self, username: &str, phone: &str) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("UPDATE users SET phone = $2 WHERE username = $1")
                .bind(username)
                .bind(phone)
                .execute(self.pool())
                .await?
                .rows_affected()
                == 1,
        )
    }
}

/// A hazard as it is recorded or changed.
pub struct HazardInput<'a> {
    pub kind: &'a str,
    pub severity: &'a str,
    pub name: Option<&'a str>,
    pub geometry: &'a geo::Geometry<f64>,
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct Evacuation {
    pub id: i64,
    pub township_id: i64,
    pub name: String,
    pub hazard_ids: Vec<i64>,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct EvacueeRow {
    pub household_id: i64,
    pub lon: f64,
    pub lat: f64,
    pub house_number: Option<String>,
    pub head_name: Option<String>,
    pub members: Option<i16>,
    pub tags: Vec<String>,
    pub grid_id: Option<i64>,
    pub grid_name: Option<String>,
    pub shelter_id: Option<i64>,
    pub shelter_name: Option<String>,
    pub distance_m: Option<f64>,
    pub status: String,
    pub note: Option<String>,
    pub updated_by: Option<String>,
    pub updated_at: DateTime<Utc>,
}
