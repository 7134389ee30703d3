use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use cuntu_store::layers::FeatureLayer;
use serde_json::{json, Value};

use crate::AppState;

/// 200 with the database's versions when it answers, 503 with the reason when it does not.
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let index = {
        let idx = state.index.read().await;
        let mut counts = serde_json::Map::new();
        counts.insert("areas".into(), idx.areas.len().into());
        for layer in FeatureLayer::ALL {
            counts.insert(layer.id().into(), idx.count(layer).into());
        }
        Value::Object(counts)
    };
    match state.store.ping().await {
        Ok(db) => (
            StatusCode::OK,
            Json(json!({
                "status": "ok",
                "database": { "status": "ok", "postgres": db.postgres, "postgis": db.postgis },
                "index": index,
            })),
        ),
        Err(e) => {
            tracing::warn!("health check: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({
                    "status": "unavailable",
                    "database": { "status": "unavailable" },
                    "index": index,
                })),
            )
        }
    }
}
