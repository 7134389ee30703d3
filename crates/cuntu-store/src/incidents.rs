//! Incidents in PostGIS: reports placed in their grid, village and township by location,
//! transitions written with their event in one transaction under the version the caller read,
//! deadlines, whistle escalation, photos with their evidence flags, statistics.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::FromRow;

use crate::notifications::{notify, Audience, Notice};
use crate::{Store, StoreError};

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct IncidentRow {
    pub id: i64,
    pub township_id: Option<i64>,
    pub village_id: Option<i64>,
    pub grid_id: Option<i64>,
    pub township_name: Option<String>,
    pub village_name: Option<String>,
    pub grid_name: Option<String>,
    pub lon: f64,
    pub lat: f64,
    pub category: String,
    pub category_zh: String,
    pub category_en: String,
    pub grade: String,
    pub description: String,
    pub state: String,
    pub resolved_by: Option<String>,
    pub escalation_level: i32,
    pub due_at: Option<DateTime<Utc>>,
    pub missed_deadlines: i32,
    pub reported_by: Option<i64>,
    pub reporter: Option<String>,
    pub source: String,
    pub reported_at: DateTime<Utc>,
    pub whistled_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub score: Option<i16>,
    pub version: i32,
    pub department_ids: Vec<i64>,
}

const SELECT_INCIDENT: &str = "SELECT i.id, i.township_id, i.village_id, i.grid_id, \
        t.name AS township_name, v.name AS village_name, g.name AS grid_name, \
        ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat, i.category, c.name_zh AS category_zh, \
        c.name_en AS category_en, i.grade, i.description, i.state, i.resolved_by, \
        i.escalation_level, i.due_at, i.missed_deadlines, i.reported_by, \
        coalesce(u.display_name, i.reporter_name) AS reporter, i.source, i.reported_at, \
        i.whistled_at, i.resolved_at, i.closed_at, i.score, i.version, \
        coalesce((SELECT array_agg(d.department_id ORDER BY d.lead DESC, d.department_id) \
                  FROM incident_departments d WHERE d.incident_id = i.id), '{}') AS department_ids \
     FROM incidents i JOIN incident_categories c ON c.code = i.category \
     LEFT JOIN areas t ON t.id = i.township_id LEFT JOIN areas v ON v.id = i.village_id \
     LEFT JOIN areas g ON g.id = i.grid_id LEFT JOIN users u ON u.id = i.reported_by";

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct IncidentEvent {
    pub id: i64,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub by: Option<String>,
    pub at: DateTime<Utc>,
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    pub note: Option<String>,
    pub late: bool,
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct Category {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct Department {
    pub id: i64,
    pub township_id: i64,
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct PhotoRow {
    pub id: i64,
    pub stage: String,
    pub taken_at: Option<DateTime<Utc>>,
    pub far_m: Option<f64>,
    pub flagged: bool,
    pub flag_reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A new report.
pub struct NewIncident<'a> {
    pub lon: f64,
    pub lat: f64,
    pub category: &'a str,
    pub grade: &'a str,
    pub description: &'a str,
    pub reported_by: Option<i64>,
    pub reporter_name: Option<&'a str>,
    pub reporter_email: Option<&'a str>,
    pub source: &'a str,
    pub at: DateTime<Utc>,
    /// (township, village, grid) holding the point, as the caller's R-tree found them;
    /// `None` to let PostGIS place it.
    pub placed: Option<(Option<i64>, Option<i64>, Option<i64>)>,
}

/// One transition as the server decided it.
pub struct Transition<'a> {
    pub incident: i64,
    pub version: i32,
    pub action: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub user_id: Option<i64>,
    pub actor: &'a str,
    pub at: DateTime<Utc>,
    pub location: Option<(f64, f64)>,
    pub note: Option<&'a str>,
    /// The step this transition ends was past its deadline.
    pub late: bool,
    pub due_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<&'a str>,
    /// Departments whistled to (first one leads).
    pub departments: &'a [i64],
    /// Who hears of it (in the same transaction).
    pub notice: Option<Notice>,
}

/// Incidents a viewer sees.
pub struct IncidentScope<'a> {
    /// Areas below which every incident is seen.
    pub area_roots: &'a [i64],
    /// Departments whose whistled incidents are seen.
    pub departments: &'a [i64],
    /// Also the incidents this user reported.
    pub reporter: Option<i64>,
}

const SCOPE_FILTER: &str = "(i.grid_id IN (SELECT id FROM scope) OR i.village_id IN (SELECT id FROM scope) \
     OR i.township_id IN (SELECT id FROM scope) \
     OR EXISTS (SELECT 1 FROM incident_departments d WHERE d.incident_id = i.id AND d.department_id = ANY($2)) \
     OR i.reported_by = $3)";

/// What a list of incidents is narrowed to, besides the scope.
#[derive(Debug, Clone, Copy, Default)]
pub struct IncidentFilter<'a> {
    pub state: Option<&'a str>,
    /// Only those past their deadline at this time and not yet resolved.
    pub overdue_at: Option<DateTime<Utc>>,
    /// `app` or `open311`.
    pub source: Option<&'a str>,
    /// Only those waiting for one of the scope's departments.
    pub department_inbox: bool,
}

const SCOPE: &str = "WITH RECURSIVE scope(id) AS (SELECT unnest($1::bigint[]) \
     UNION SELECT a.id FROM areas a JOIN scope s ON a.parent_id = s.id)";

#[derive(Debug, Clone, Default, FromRow, Serialize)]
pub struct StatsRow {
    pub grade: String,
    pub department: Option<String>,
    pub resolved: i64,
    pub on_time: i64,
    pub in_village: i64,
    pub mean_hours: Option<f64>,
}

impl Store {
    pub async fn incident_categories(&self) -> Result<Vec<Category>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT code, name_zh, name_en FROM incident_categories WHERE active ORDER BY sort, code",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// Sets the deadline of a grade's step (overriding the default).
    pub async fn set_incident_deadline(
        &self,
        grade: &str,
        step: &str,
        minutes: i32,
        working_days: i32,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO incident_deadlines (grade, step, minutes, working_days) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (grade, step) DO UPDATE SET minutes = EXCLUDED.minutes, working_days = EXCLUDED.working_days",
        )
        .bind(grade)
        .bind(step)
        .bind(minutes)
        .bind(working_days)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Adds a category to the catalogue or renames it; `active = false` retires it (incidents
    /// keep it, new reports cannot use it).
    pub async fn upsert_category(
        &self,
        code: &str,
        name_zh: &str,
        name_en: &str,
        active: bool,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO incident_categories (code, name_zh, name_en, active, sort) \
             VALUES ($1, $2, $3, $4, (SELECT coalesce(max(sort), 0) + 1 FROM incident_categories)) \
             ON CONFLICT (code) DO UPDATE SET name_zh = EXCLUDED.name_zh, name_en = EXCLUDED.name_en, active = EXCLUDED.active",
        )
        .bind(code)
        .bind(name_zh)
        .bind(name_en)
        .bind(active)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn departments_of(&self, townships: &[i64]) -> Result<Vec<Department>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, township_id, code, name FROM departments WHERE township_id = ANY($1) ORDER BY id",
        )
        .bind(townships)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn all_departments(&self) -> Result<Vec<Department>, StoreError> {
        Ok(
            sqlx::query_as("SELECT id, township_id, code, name FROM departments ORDER BY id")
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// The incidents that came in through Open311, newest first: what an anonymous Open311
    /// client may read back.
    pub async fn open311_incidents(&self, limit: i64) -> Result<Vec<IncidentRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "{SELECT_INCIDENT} WHERE i.source = 'open311' ORDER BY i.reported_at DESC, i.id DESC LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn departments_of_user(&self, user_id: i64) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT department_id FROM department_members WHERE user_id = $1 ORDER BY department_id",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Creates a department of a township unless its code exists; returns its id.
    pub async fn ensure_department(
        &self,
        township: i64,
        code: &str,
        name: &str,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO departments (township_id, code, name) VALUES ($1, $2, $3) \
             ON CONFLICT (township_id, code) DO UPDATE SET name = EXCLUDED.name RETURNING id",
        )
        .bind(township)
        .bind(code)
        .bind(name)
        .fetch_one(self.pool())
        .await?)
    }

    pub async fn add_department_member(
        &self,
        department: i64,
        user: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO department_members VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(department)
            .bind(user)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The (minutes, working days) override for a grade's step, if one is configured.
    pub async fn incident_deadline(
        &self,
        grade: &str,
        step: &str,
    ) -> Result<Option<(i32, i32)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT minutes, working_days FROM incident_deadlines WHERE grade = $1 AND step = $2",
        )
        .bind(grade)
        .bind(step)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Records a report, placed in the grid, village and township holding its point; the
    /// first event of its timeline. `due_at` is the grid's acceptance deadline.
    pub async fn report_incident(
        &self,
        n: &NewIncident<'_>,
        due_at: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        self.report_incident_noticed(n, due_at, None).await
    }

    /// [`Store::report_incident`], telling `notice`'s audience in the same transaction.
    pub async fn report_incident_noticed(
        &self,
        n: &NewIncident<'_>,
        due_at: DateTime<Utc>,
        notice: Option<&Notice>,
    ) -> Result<i64, StoreError> {
        let mut tx = self.pool().begin().await?;
        let id: i64 = sqlx::query_scalar(
            "WITH p AS (SELECT ST_SetSRID(ST_MakePoint($1, $2), 4326) AS g), \
             placed AS (SELECT \
                (SELECT a.id FROM areas a, p WHERE a.kind = 'grid' AND ST_Intersects(a.geom, p.g) ORDER BY a.id LIMIT 1) AS grid, \
                (SELECT a.id FROM areas a, p WHERE a.kind = 'village' AND ST_Intersects(a.geom, p.g) ORDER BY a.id LIMIT 1) AS village, \
                (SELECT a.id FROM areas a, p WHERE a.kind = 'township' AND ST_Intersects(a.geom, p.g) ORDER BY a.id LIMIT 1) AS township) \
             INSERT INTO incidents (township_id, village_id, grid_id, geom, category, grade, description, \
                    reported_by, reporter_name, reporter_email, source, reported_at, due_at) \
             SELECT CASE WHEN $12 THEN $13 ELSE placed.township END, \
                    CASE WHEN $12 THEN $14 ELSE placed.village END, \
                    CASE WHEN $12 THEN $15 ELSE placed.grid END, \
                    p.g, $3, $4, $5, $6, $7, $8, $9, $10, $11 \
             FROM placed, p RETURNING id",
        )
        .bind(n.lon)
        .bind(n.lat)
        .bind(n.category)
        .bind(n.grade)
        .bind(n.description)
        .bind(n.reported_by)
        .bind(n.reporter_name)
        .bind(n.reporter_email)
        .bind(n.source)
        .bind(n.at)
        .bind(due_at)
        .bind(n.placed.is_some())
        .bind(n.placed.and_then(|p| p.0))
        .bind(n.placed.and_then(|p| p.1))
        .bind(n.placed.and_then(|p| p.2))
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO incident_events (incident_id, action, to_state, user_id, actor, at, geom) \
             VALUES ($1, 'report', 'reported', $2, $3, $4, ST_SetSRID(ST_MakePoint($5, $6), 4326))",
        )
        .bind(id)
        .bind(n.reported_by)
        .bind(n.reporter_name)
        .bind(n.at)
        .bind(n.lon)
        .bind(n.lat)
        .execute(&mut *tx)
        .await?;
        if let Some(notice) = notice {
            notify(&mut tx, id, notice).await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    pub async fn incident(&self, id: i64) -> Result<Option<IncidentRow>, StoreError> {
        Ok(
            sqlx::query_as(&format!("{SELECT_INCIDENT} WHERE i.id = $1"))
                .bind(id)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// The incidents a viewer sees, newest first; `state` filters, `overdue_at` keeps those
    /// past their deadline at that time.
    /// The incidents a scope sees, newest first, `limit` from `offset`, filtered in the query
    /// (a filter applied after the limit would hide what lies beyond it).
    pub async fn incidents_in_scope(
        &self,
        scope: &IncidentScope<'_>,
        filter: &IncidentFilter<'_>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<IncidentRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "{SCOPE}, chosen AS (SELECT i.id FROM incidents i WHERE {SCOPE_FILTER} \
                AND ($4::text IS NULL OR i.state = $4) \
                AND ($5::timestamptz IS NULL OR (i.due_at < $5 AND i.state NOT IN ('resolved', 'verified', 'closed'))) \
                AND ($8::text IS NULL OR i.source = $8) \
                AND (NOT $9 OR (i.state IN ('whistled', 'dept_accepted', 'dept_arrived') \
                     AND EXISTS (SELECT 1 FROM incident_departments d \
                                 WHERE d.incident_id = i.id AND d.department_id = ANY($2))))) \
             {SELECT_INCIDENT} WHERE i.id IN (SELECT id FROM chosen) \
             ORDER BY i.reported_at DESC, i.id DESC LIMIT $6 OFFSET $7"
        ))
        .bind(scope.area_roots)
        .bind(scope.departments)
        .bind(scope.reporter)
        .bind(filter.state)
        .bind(filter.overdue_at)
        .bind(limit)
        .bind(offset)
        .bind(filter.source)
        .bind(filter.department_inbox)
        .fetch_all(self.pool())
        .await?)
    }

    /// Whether a scope sees incident `id`, however many incidents it sees.
    pub async fn incident_in_scope(
        &self,
        scope: &IncidentScope<'_>,
        id: i64,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar(&format!(
            "{SCOPE} SELECT EXISTS (SELECT 1 FROM incidents i WHERE i.id = $4 AND {SCOPE_FILTER})"
        ))
        .bind(scope.area_roots)
        .bind(scope.departments)
        .bind(scope.reporter)
        .bind(id)
        .fetch_one(self.pool())
        .await?)
    }

    pub async fn incident_events(&self, id: i64) -> Result<Vec<IncidentEvent>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT e.id, e.action, e.from_state, e.to_state, coalesce(u.display_name, e.actor) AS by, e.at, \
                    ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat, e.note, e.late \
             FROM incident_events e LEFT JOIN users u ON u.id = e.user_id \
             WHERE e.incident_id = $1 ORDER BY e.at, e.id",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Applies a transition if the incident is still at `version` and in `from`; false when
    /// someone changed it first.
    pub async fn apply_transition(&self, t: &Transition<'_>) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let updated = sqlx::query(
            "UPDATE incidents SET state = $3, version = version + 1, due_at = $4, \
                    missed_deadlines = missed_deadlines + CASE WHEN $5 THEN 1 ELSE 0 END, \
                    resolved_by = CASE WHEN $3 = 'resolved' THEN $6 WHEN $3 IN ('verified', 'closed') THEN resolved_by ELSE NULL END, \
                    whistled_at = CASE WHEN $3 = 'whistled' THEN $7 ELSE whistled_at END, \
                    resolved_at = CASE WHEN $3 = 'resolved' THEN $7 WHEN $3 IN ('verified', 'closed') THEN resolved_at ELSE NULL END, \
                    closed_at = CASE WHEN $3 = 'closed' THEN $7 ELSE NULL END \
             WHERE id = $1 AND version = $2 AND state = $8",
        )
        .bind(t.incident)
        .bind(t.version)
        .bind(t.to)
        .bind(t.due_at)
        .bind(t.late)
        .bind(t.resolved_by)
        .bind(t.at)
        .bind(t.from)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated != 1 {
            return Ok(false);
        }
        if !t.departments.is_empty() {
            sqlx::query(
                "INSERT INTO incident_departments (incident_id, department_id, lead) \
                 SELECT $1, d, ord = 1 FROM unnest($2::bigint[]) WITH ORDINALITY AS x(d, ord) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(t.incident)
            .bind(t.departments)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO incident_events (incident_id, action, from_state, to_state, user_id, actor, at, geom, note, late) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, \
                     CASE WHEN $8::float8 IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint($8, $9), 4326) END, $10, $11)",
        )
        .bind(t.incident)
        .bind(t.action)
        .bind(t.from)
        .bind(t.to)
        .bind(t.user_id)
        .bind(t.actor)
        .bind(t.at)
        .bind(t.location.map(|l| l.0))
        .bind(t.location.map(|l| l.1))
        .bind(t.note)
        .bind(t.late)
        .execute(&mut *tx)
        .await?;
        if let Some(notice) = &t.notice {
            notify(&mut tx, t.incident, notice).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Whistles unanswered past their signing deadline at `now`: each is escalated one level
    /// (an event with the message) and given a new deadline of `again_minutes`. Returns the
    /// incidents escalated.
    pub async fn escalate_unanswered_whistles(
        &self,
        now: DateTime<Utc>,
        again_minutes: i64,
        message: impl Fn(i32) -> (i32, String),
    ) -> Result<Vec<i64>, StoreError> {
        let due: Vec<(i64, i32)> = sqlx::query_as(
            "SELECT id, escalation_level FROM incidents WHERE state = 'whistled' AND due_at < $1 ORDER BY id",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        let mut escalated = Vec::new();
        for (id, level) in due {
            let (new_level, note) = message(level);
            let mut tx = self.pool().begin().await?;
            let n = sqlx::query(
                "UPDATE incidents SET escalation_level = $2, missed_deadlines = missed_deadlines + 1, \
                        due_at = $3, version = version + 1 \
                 WHERE id = $1 AND state = 'whistled' AND escalation_level = $4",
            )
            .bind(id)
            .bind(new_level)
            .bind(now + chrono::Duration::minutes(again_minutes))
            .bind(level)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                sqlx::query(
                    "INSERT INTO incident_events (incident_id, action, from_state, to_state, actor, at, note, late) \
                     VALUES ($1, 'whistle_escalated', 'whistled', 'whistled', '系统 system', $2, $3, true)",
                )
                .bind(id)
                .bind(now)
                .bind(&note)
                .execute(&mut *tx)
                .await?;
                notify(
                    &mut tx,
                    id,
                    &Notice {
                        audience: Audience {
                            township: true,
                            departments: true,
                            ..Audience::default()
                        },
                        kind: "escalated",
                        zh: format!("事件 {id}：{note}"),
                        en: format!("Incident {id}: {note}"),
                        except: None,
                    },
                )
                .await?;
                escalated.push(id);
            }
            tx.commit().await?;
        }
        Ok(escalated)
    }

    pub async fn score_incident(&self, id: i64, score: i16) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("UPDATE incidents SET score = $2 WHERE id = $1 AND state = 'closed'")
                .bind(id)
                .bind(score)
                .execute(self.pool())
                .await?
                .rows_affected()
                == 1,
        )
    }

    /// Adds a photo; flags it when taken more than `far_limit_m` from the incident or, for a
    /// closure photo, before the whistle.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_incident_photo(
        &self,
        incident: i64,
        stage: &str,
        taken_at: Option<DateTime<Utc>>,
        location: Option<(f64, f64)>,
        content_type: &str,
        bytes: &[u8],
        user_id: i64,
        far_limit_m: f64,
    ) -> Result<PhotoRow, StoreError> {
        Ok(sqlx::query_as(
            "WITH i AS (SELECT geom, whistled_at, reported_at FROM incidents WHERE id = $1), \
             p AS (SELECT CASE WHEN $4::float8 IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint($4, $5), 4326) END AS g), \
             facts AS (SELECT p.g, ST_Distance(p.g::geography, i.geom::geography) AS far_m, \
                    CASE WHEN $2 = 'after' AND $3::timestamptz < coalesce(i.whistled_at, i.reported_at) \
                         THEN true ELSE false END AS early FROM i, p) \
             INSERT INTO incident_photos (incident_id, stage, taken_at, geom, content_type, bytes, far_m, flagged, flag_reason, user_id) \
             SELECT $1, $2, $3, facts.g, $6, $7, facts.far_m, \
                    coalesce(facts.far_m > $9, false) OR facts.early, \
                    concat_ws('; ', CASE WHEN facts.far_m > $9 THEN 'far' END, CASE WHEN facts.early THEN 'early' END), $8 \
             FROM facts RETURNING id, stage, taken_at, far_m, flagged, flag_reason, created_at",
        )
        .bind(incident)
        .bind(stage)
        .bind(taken_at)
        .bind(location.map(|l| l.0))
        .bind(location.map(|l| l.1))
        .bind(content_type)
        .bind(bytes)
        .bind(user_id)
        .bind(far_limit_m)
        .fetch_one(self.pool())
        .await?)
    }

    pub async fn incident_photos(&self, id: i64) -> Result<Vec<PhotoRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, stage, taken_at, far_m, flagged, nullif(flag_reason, '') AS flag_reason, created_at \
             FROM incident_photos WHERE incident_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn incident_photo(
        &self,
        incident: i64,
        photo: i64,
    ) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT content_type, bytes FROM incident_photos WHERE incident_id = $1 AND id = $2",
        )
        .bind(incident)
        .bind(photo)
        .fetch_optional(self.pool())
        .await?)
    }

    /// On-time statistics of the incidents resolved in a township: per grade and leading
    /// department, how many were resolved, how many without a missed deadline, how many
    /// within the village (grid or village level), and the mean hours from report to resolve.
    pub async fn incident_stats(&self, townships: &[i64]) -> Result<Vec<StatsRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT i.grade, d.name AS department, count(*) AS resolved, \
                    count(*) FILTER (WHERE i.missed_deadlines = 0) AS on_time, \
                    count(*) FILTER (WHERE i.resolved_by IN ('grid', 'village')) AS in_village, \
                    avg(extract(epoch FROM i.resolved_at - i.reported_at) / 3600.0)::float8 AS mean_hours \
             FROM incidents i \
             LEFT JOIN incident_departments l ON l.incident_id = i.id AND l.lead \
             LEFT JOIN departments d ON d.id = l.department_id \
             WHERE i.township_id = ANY($1) AND i.resolved_at IS NOT NULL \
             GROUP BY i.grade, d.name ORDER BY i.grade, d.name NULLS FIRST",
        )
        .bind(townships)
        .fetch_all(self.pool())
        .await?)
    }
}

/// Open incidents of one area (a village or a grid) for the leader's thematic map.
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct AreaIncidents {
    pub area_id: i64,
    /// Not yet closed (awaiting verification counts as open, as in Open311).
    pub open: i64,
    /// Open and past the deadline of the step it is in at `now`.
    pub overdue: i64,
}

impl Store {
    /// Per village or grid (`kind`) below `roots`: the open incidents placed there and how
    /// many of them are overdue at `now`. Areas without incidents are absent.
    pub async fn incidents_by_area(
        &self,
        roots: &[i64],
        kind: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<AreaIncidents>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "{SCOPE} SELECT CASE WHEN $2 = 'grid' THEN i.grid_id ELSE i.village_id END AS area_id, \
                    count(*) AS open, \
                    count(*) FILTER (WHERE i.due_at < $3 AND i.state NOT IN ('resolved', 'verified', 'closed')) AS overdue \
             FROM incidents i \
             WHERE i.state <> 'closed' \
               AND (CASE WHEN $2 = 'grid' THEN i.grid_id ELSE i.village_id END) IN (SELECT id FROM scope) \
             GROUP BY 1 ORDER BY 1"
        ))
        .bind(roots)
        .bind(kind)
        .bind(now)
        .fetch_all(self.pool())
        .await?)
    }
}
