//! Reading the grid layer as the editor shows it (a village's grids with counts, staff and
//! gaps), the township's household rule, and the staff of each grid.

use serde::Serialize;
use serde_json::{json, Value};

use crate::grid_edits::{gaps_of, rule_of, Gaps, HouseholdRule};
use crate::{Store, StoreError};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct VillageRef {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub township_id: Option<i64>,
}

/// A person working in a grid: its leader (网格长) or a worker (网格员).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq, Eq)]
pub struct StaffMember {
    pub user_id: i64,
    pub username: String,
    pub display_name: String,
    pub duty: String,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Candidate {
    pub user_id: i64,
    pub username: String,
    pub display_name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Staffing {
    pub staff: Vec<StaffMember>,
    pub candidates: Vec<Candidate>,
}

/// A village (or grid, for lanes) with its children as the editor draws them.
#[derive(Debug, Clone, Serialize)]
pub struct ChildLayer {
    pub village: Value,
    pub rule: HouseholdRule,
    pub grids: Value,
    pub gaps: Gaps,
}

impl Store {
    /// Villages under any of `roots` (a root may be a village itself), in code order.
    pub async fn villages_under(&self, roots: &[i64]) -> Result<Vec<VillageRef>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT v.id, v.code, v.name, v.parent_id AS township_id FROM areas v \
             WHERE v.kind = 'village' AND (v.id = ANY($1) OR v.parent_id = ANY($1)) ORDER BY v.code",
        )
        .bind(roots)
        .fetch_all(self.pool())
        .await?)
    }

    /// The children of a village (grids) or grid (lanes) as GeoJSON, with counts and staff.
    pub async fn child_layer(&self, container: i64) -> Result<ChildLayer, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let village: Option<Value> = sqlx::query_scalar(
            "SELECT jsonb_build_object('id', id, 'code', code, 'name', name, 'kind', kind, \
                    'version', version, 'geometry', ST_AsGeoJSON(geom, 9)::jsonb) \
             FROM areas WHERE id = $1",
        )
        .bind(container)
        .fetch_optional(&mut *conn)
        .await?;
        let village = village.ok_or(StoreError::NotFound)?;
        let counts_households = matches!(
            village.get("kind").and_then(Value::as_str),
            Some("village" | "hamlet")
        );
        let features: Vec<Value> = sqlx::query_scalar(
            "SELECT jsonb_build_object( \
                 'type', 'Feature', 'id', a.id, \
                 'geometry', ST_AsGeoJSON(a.geom, 9)::jsonb, \
                 'properties', jsonb_build_object( \
                     'id', a.id, 'code', a.code, 'name', a.name, 'kind', a.kind, 'version', a.version, \
                     'households', (SELECT count(*) FROM households h WHERE h.grid_id = a.id), \
                     'key_population', (SELECT count(*) FROM households h \
                                        WHERE h.grid_id = a.id AND h.tags <> '{}'), \
                     'parts', (SELECT count(*) FROM ST_Dump(a.geom) d WHERE planar_area_m2(d.geom) > 1.0), \
                     'staff', coalesce((SELECT jsonb_agg(jsonb_build_object( \
                                  'user_id', u.id, 'username', u.username, \
                                  'display_name', u.display_name, 'duty', coalesce(s.duty, 'worker')) \
                                  ORDER BY coalesce(s.duty, 'worker'), u.display_name) \
                              FROM role_assignments r JOIN users u ON u.id = r.user_id \
                              LEFT JOIN area_staff s ON s.area_id = r.area_id AND s.user_id = r.user_id \
                              WHERE r.area_id = a.id AND r.role = 'grid_worker'), '[]'::jsonb))) \
             FROM areas a WHERE a.parent_id = $1 ORDER BY a.code",
        )
        .bind(container)
        .fetch_all(&mut *conn)
        .await?;
        let gaps = gaps_of(&mut conn, container, counts_households).await?;
        let rule = rule_of(&mut conn, container).await?;
        Ok(ChildLayer {
            village,
            rule,
            grids: json!({ "type": "FeatureCollection", "features": features }),
            gaps,
        })
    }

    /// The household rule of the township (or of the township an area lies in).
    pub async fn household_rule(&self, area: i64) -> Result<HouseholdRule, StoreError> {
        let mut conn = self.pool().acquire().await?;
        rule_of(&mut conn, area).await
    }

    /// Sets a township's household rule.
    pub async fn set_household_rule(
        &self,
        township: i64,
        rule: HouseholdRule,
        actor: &str,
    ) -> Result<HouseholdRule, StoreError> {
        if rule.min_households < 1
            || rule.max_households < rule.min_households
            || rule.max_households > 10_000
        {
            return Err(StoreError::invalid(
                format!(
                    "户数规则无效：最少 {} 户、最多 {} 户。须 1 ≤ 最少 ≤ 最多 ≤ 10000",
                    rule.min_households, rule.max_households
                ),
                format!(
                    "invalid household rule {}-{}: need 1 ≤ min ≤ max ≤ 10000",
                    rule.min_households, rule.max_households
                ),
            ));
        }
        let kind: Option<String> = sqlx::query_scalar("SELECT kind FROM areas WHERE id = $1")
            .bind(township)
            .fetch_optional(self.pool())
            .await?;
        if kind.ok_or(StoreError::NotFound)? != "township" {
            return Err(StoreError::invalid(
                "户数规则按乡镇设置",
                "the household rule is set per township",
            ));
        }
        sqlx::query(
            "INSERT INTO grid_rules (township_id, min_households, max_households, updated_by) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (township_id) DO UPDATE \
             SET min_households = $2, max_households = $3, updated_by = $4, updated_at = now()",
        )
        .bind(township)
        .bind(rule.min_households)
        .bind(rule.max_households)
        .bind(actor)
        .execute(self.pool())
        .await?;
        Ok(rule)
    }

    /// Who works in a grid, and who could: the users with a role in its village.
    pub async fn staffing(&self, area: i64) -> Result<Staffing, StoreError> {
        let staff = sqlx::query_as(
            "SELECT u.id AS user_id, u.username, u.display_name, coalesce(s.duty, 'worker') AS duty \
             FROM role_assignments r JOIN users u ON u.id = r.user_id \
             LEFT JOIN area_staff s ON s.area_id = r.area_id AND s.user_id = r.user_id \
             WHERE r.area_id = $1 AND r.role = 'grid_worker' ORDER BY 4, u.display_name",
        )
        .bind(area)
        .fetch_all(self.pool())
        .await?;
        let candidates = sqlx::query_as(
            "WITH RECURSIVE village AS ( \
                 SELECT id, parent_id, kind, 0 AS depth FROM areas WHERE id = $1 \
                 UNION ALL \
                 SELECT a.id, a.parent_id, a.kind, v.depth + 1 FROM areas a JOIN village v ON a.id = v.parent_id \
                 WHERE v.kind <> 'village' AND v.depth < 8), \
             top AS (SELECT id FROM village WHERE kind = 'village'), \
             below AS ( \
                 SELECT id FROM top \
                 UNION ALL \
                 SELECT a.id FROM areas a JOIN below b ON a.parent_id = b.id) \
             SELECT DISTINCT u.id AS user_id, u.username, u.display_name \
             FROM role_assignments r JOIN users u ON u.id = r.user_id \
             WHERE r.area_id IN (SELECT id FROM below) AND r.role IN ('grid_worker', 'village_cadre') \
               AND NOT u.disabled \
             ORDER BY u.display_name",
        )
        .bind(area)
        .fetch_all(self.pool())
        .await?;
        Ok(Staffing { staff, candidates })
    }

    /// Makes `leader` and `workers` the staff of a grid or lane, in one transaction. Who works
    /// in an area is who holds the grid_worker role there; `area_staff` says who leads.
    pub async fn set_staff(
        &self,
        area: i64,
        leader: Option<i64>,
        workers: &[i64],
        actor: &str,
    ) -> Result<Staffing, StoreError> {
        let kind: Option<String> = sqlx::query_scalar("SELECT kind FROM areas WHERE id = $1")
            .bind(area)
            .fetch_optional(self.pool())
            .await?;
        if !matches!(kind.ok_or(StoreError::NotFound)?.as_str(), "grid" | "lane") {
            return Err(StoreError::invalid(
                "网格长和网格员只能分配到网格或街巷",
                "leaders and workers are assigned to grids or lanes",
            ));
        }
        let allowed: Vec<i64> = self
            .staffing(area)
            .await?
            .candidates
            .iter()
            .map(|c| c.user_id)
            .collect();
        let mut people: Vec<(i64, &str)> = workers.iter().map(|w| (*w, "worker")).collect();
        if let Some(l) = leader {
            people.retain(|(id, _)| *id != l);
            people.push((l, "leader"));
        }
        if let Some((stranger, _)) = people.iter().find(|(id, _)| !allowed.contains(id)) {
            return Err(StoreError::invalid(
                format!("用户 {stranger} 不在本村的人员中：只能分配本村的村干部和网格员"),
                format!("user {stranger} is not among this village's people: only its cadres and grid workers can be assigned"),
            ));
        }
        let mut tx = self.pool().begin().await?;
        sqlx::query("SELECT set_config('cuntu.actor', $1, true)")
            .bind(actor)
            .execute(&mut *tx)
            .await?;
        sqlx::query("SELECT 1 FROM areas WHERE id = $1 FOR UPDATE")
            .bind(area)
            .execute(&mut *tx)
            .await?;
        let ids: Vec<i64> = people.iter().map(|p| p.0).collect();
        sqlx::query(
            "DELETE FROM role_assignments WHERE area_id = $1 AND role = 'grid_worker' \
             AND NOT (user_id = ANY($2))",
        )
        .bind(area)
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM area_staff WHERE area_id = $1")
            .bind(area)
            .execute(&mut *tx)
            .await?;
        for (user, duty) in &people {
            sqlx::query("INSERT INTO area_staff (area_id, user_id, duty) VALUES ($1, $2, $3)")
                .bind(area)
                .bind(user)
                .bind(duty)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO role_assignments (user_id, role, area_id) VALUES ($1, 'grid_worker', $2) \
                 ON CONFLICT (user_id, role, area_id) DO NOTHING",
            )
            .bind(user)
            .bind(area)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.staffing(area).await
    }
}
