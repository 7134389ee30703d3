//! Notifications of incidents: to the people whose inbox an incident reaches or where it is
//! overdue, written in the transaction of the step itself; and the township's webhook outbox,
//! delivered and retried by the server.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgConnection};

use crate::{Store, StoreError};

/// Who hears of a step: the people in these places of the incident.
#[derive(Debug, Clone, Copy, Default)]
pub struct Audience {
    pub grid: bool,
    pub village: bool,
    pub township: bool,
    pub departments: bool,
    pub reporter: bool,
}

/// One notice of one incident.
#[derive(Debug, Clone)]
pub struct Notice {
    pub audience: Audience,
    pub kind: &'static str,
    pub zh: String,
    pub en: String,
    /// Whoever caused it does not need to hear it.
    pub except: Option<i64>,
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct NotificationRow {
    pub id: i64,
    pub incident_id: Option<i64>,
    pub kind: String,
    pub message_zh: String,
    pub message_en: String,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, FromRow)]
pub struct Delivery {
    pub id: i64,
    pub url: String,
    pub secret: String,
    pub payload: serde_json::Value,
    pub attempts: i32,
}

/// Writes `notice` of incident `incident` for its audience, and the township's webhook
/// delivery, on the caller's connection (inside its transaction).
pub(crate) async fn notify(
    db: &mut PgConnection,
    incident: i64,
    notice: &Notice,
) -> Result<u64, StoreError> {
    let a = notice.audience;
    let written = sqlx::query(
        "INSERT INTO notifications (user_id, incident_id, kind, message_zh, message_en) \
         SELECT DISTINCT x.u, $1, $2, $3, $4 FROM ( \
            SELECT r.user_id AS u FROM role_assignments r JOIN incidents i ON i.id = $1 \
            WHERE ($5 AND r.role = 'grid_worker' AND r.area_id = i.grid_id) \
               OR ($6 AND r.role = 'village_cadre' AND r.area_id = i.village_id) \
               OR ($7 AND r.role IN ('township_admin', 'leader') AND r.area_id = i.township_id) \
            UNION SELECT m.user_id FROM incident_departments d \
               JOIN department_members m ON m.department_id = d.department_id \
               WHERE $8 AND d.incident_id = $1 \
            UNION SELECT i.reported_by FROM incidents i WHERE $9 AND i.id = $1) x \
         WHERE x.u IS NOT NULL AND x.u IS DISTINCT FROM $10",
    )
    .bind(incident)
    .bind(notice.kind)
    .bind(&notice.zh)
    .bind(&notice.en)
    .bind(a.grid)
    .bind(a.village)
    .bind(a.township)
    .bind(a.departments)
    .bind(a.reporter)
    .bind(notice.except)
    .execute(&mut *db)
    .await?
    .rows_affected();
    sqlx::query(
        "INSERT INTO webhook_deliveries (township_id, payload) \
         SELECT w.township_id, jsonb_build_object('event', $2::text, 'incident', i.id, 'state', i.state, \
                'grade', i.grade, 'category', i.category, 'due_at', i.due_at, \
                'message_zh', $3::text, 'message_en', $4::text, 'at', now()) \
         FROM incidents i JOIN webhooks w ON w.township_id = i.township_id WHERE i.id = $1",
    )
    .bind(incident)
    .bind(notice.kind)
    .bind(&notice.zh)
    .bind(&notice.en)
    .execute(&mut *db)
    .await?;
    Ok(written)
}

impl Store {
    pub async fn notifications_of(
        &self,
        user: i64,
        limit: i64,
    ) -> Result<Vec<NotificationRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, incident_id, kind, message_zh, message_en, created_at, read_at \
             FROM notifications WHERE user_id = $1 \
             ORDER BY read_at IS NOT NULL, created_at DESC, id DESC LIMIT $2",
        )
        .bind(user)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Marks one (or, with `None`, every) notification of `user` read; returns how many.
    pub async fn mark_read(&self, user: i64, id: Option<i64>) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE notifications SET read_at = now() \
             WHERE user_id = $1 AND read_at IS NULL AND ($2::bigint IS NULL OR id = $2)",
        )
        .bind(user)
        .bind(id)
        .execute(self.pool())
        .await?
        .rows_affected())
    }

    /// Tells each incident's holders once per missed deadline that it is overdue at `now`.
    pub async fn notice_overdue(&self, now: DateTime<Utc>) -> Result<Vec<i64>, StoreError> {
        let due: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT i.id, i.state, c.name_zh || ' / ' || c.name_en FROM incidents i \
             JOIN incident_categories c ON c.code = i.category \
             WHERE i.due_at < $1 AND i.state NOT IN ('resolved', 'verified', 'closed') \
               AND i.overdue_noticed_due IS DISTINCT FROM i.due_at ORDER BY i.id",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        let mut noticed = Vec::new();
        for (id, state, category) in due {
            let audience = match state.as_str() {
                "reported" | "accepted" => Audience {
                    grid: true,
                    ..Audience::default()
                },
                "escalated" => Audience {
                    village: true,
                    ..Audience::default()
                },
                _ => Audience {
                    departments: true,
                    township: true,
                    ..Audience::default()
                },
            };
            let mut tx = self.pool().begin().await?;
            let claimed = sqlx::query(
                "UPDATE incidents SET overdue_noticed_due = due_at \
                 WHERE id = $1 AND overdue_noticed_due IS DISTINCT FROM due_at AND due_at < $2",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed == 1 {
                notify(
                    &mut tx,
                    id,
                    &Notice {
                        audience,
                        kind: "overdue",
                        zh: format!("事件 {id}（{category}）已超时"),
                        en: format!("Incident {id} ({category}) is overdue"),
                        except: None,
                    },
                )
                .await?;
                noticed.push(id);
            }
            tx.commit().await?;
        }
        Ok(noticed)
    }

    pub async fn set_webhook(
        &self,
        township: i64,
        url: &str,
        secret: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO webhooks (township_id, url, secret) VALUES ($1, $2, $3) \
             ON CONFLICT (township_id) DO UPDATE SET url = EXCLUDED.url, secret = EXCLUDED.secret",
        )
        .bind(township)
        .bind(url)
        .bind(secret)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The webhook of a township: its URL (the secret is never read back).
    pub async fn webhook_url(&self, township: i64) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT url FROM webhooks WHERE township_id = $1")
                .bind(township)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    pub async fn delete_webhook(&self, township: i64) -> Result<bool, StoreError> {
        Ok(sqlx::query("DELETE FROM webhooks WHERE township_id = $1")
            .bind(township)
            .execute(self.pool())
            .await?
            .rows_affected()
            == 1)
    }

    /// Deliveries due now, claimed for a minute so that two servers do not send one twice.
    pub async fn claim_deliveries(&self, limit: i64) -> Result<Vec<Delivery>, StoreError> {
        Ok(sqlx::query_as(
            "WITH due AS (SELECT d.id FROM webhook_deliveries d \
                WHERE d.delivered_at IS NULL AND d.next_attempt_at <= now() AND d.attempts < 10 \
                ORDER BY d.id LIMIT $1 FOR UPDATE SKIP LOCKED) \
             UPDATE webhook_deliveries d SET next_attempt_at = now() + interval '1 minute' \
             FROM due, webhooks w WHERE d.id = due.id AND w.township_id = d.township_id \
             RETURNING d.id, w.url, w.secret, d.payload, d.attempts",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Records a delivery's outcome: done, or failed and retried later (30 s, doubling).
    pub async fn delivery_outcome(&self, id: i64, error: Option<&str>) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, \
                delivered_at = CASE WHEN $2::text IS NULL THEN now() END, last_error = $2, \
                next_attempt_at = now() + make_interval(secs => 30 * power(2, least(attempts, 10))) \
             WHERE id = $1",
        )
        .bind(id)
        .bind(error)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
