//! Households with personal fields: scoped in the query, masked by role, every read audited.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use cuntu_core::auth::{
    household_access, mask_id_card, mask_phone, reveal, HouseholdAccess, Visibility,
};
use cuntu_store::audit::AuditEntry;
use cuntu_store::households::HouseholdRecord;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::Viewer;
use crate::error::ApiError;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/households/{id}", get(household))
        .route("/api/areas/{id}/households", get(households_of_area))
        .route("/api/audit", get(audit_log))
}

/// A household as one viewer may see it: hidden fields absent, others masked as needed.
#[derive(Debug, Serialize)]
struct HouseholdView {
    id: i64,
    house_number: Option<String>,
    address: Option<String>,
    grid_id: Option<i64>,
    grid_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    head_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    members: Option<i16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_card: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<Vec<String>>,
    party_central: bool,
}

fn view(record: HouseholdRecord, access: HouseholdAccess) -> HouseholdView {
    let names = access.names != Visibility::Hidden;
    HouseholdView {
        id: record.id,
        house_number: record.house_number,
        address: record.address,
        grid_id: record.grid_id,
        grid_name: record.grid_name,
        head_name: record.head_name.filter(|_| names),
        members: record.members.filter(|_| names),
        phone: reveal(record.phone, access.phone, mask_phone),
        id_card: reveal(record.id_card, access.id_card, mask_id_card),
        tags: (access.tags != Visibility::Hidden).then_some(record.tags),
        party_central: record.party_central,
    }
}

fn parse_id(raw: &str, what_zh: &str, what_en: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound {
        what_zh: format!("编号为 {raw} 的{what_zh}"),
        what_en: format!("{what_en} {raw}"),
    })
}

async fn household(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw_id): Path<String>,
) -> Result<Json<HouseholdView>, ApiError> {
    viewer.require()?;
    let id = parse_id(&raw_id, "户", "Household")?;
    let assignments = viewer.assignments();
    let roots = viewer.household_roots();
    let record = state.store.household_in_scope(id, &roots).await?;
    let Some((record, access)) = record.and_then(|r| {
        let access = household_access(&assignments, &r.chain)?;
        Some((r, access))
    }) else {
        // Outside the scope: 403 if it exists, 404 if not, with nothing of the data.
        return Err(if state.store.household_exists(id).await? {
            ApiError::Forbidden
        } else {
            ApiError::NotFound {
                what_zh: format!("编号为 {id} 的户"),
                what_en: format!("Household {id}"),
            }
        });
    };
    state
        .store
        .audit(viewer.audit_entry("read_household", Some(format!("household:{id}"))))
        .await?;
    Ok(Json(view(record, access)))
}

/// A page of an area's households: `limit` (default and most 1000) from `offset`.
#[derive(Deserialize)]
struct PageQuery {
    limit: Option<i64>,
    offset: Option<i64>,
}

const PAGE_DEFAULT: i64 = 1000;

async fn households_of_area(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(raw_id): Path<String>,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    viewer.require()?;
    let area_id = parse_id(&raw_id, "区域", "Area")?;
    let Query(page) = query.map_err(|e| ApiError::BadQuery {
        zh: format!("参数错误：{e}"),
        en: format!("Bad parameters: {e}"),
    })?;
    let limit = page.limit.unwrap_or(PAGE_DEFAULT);
    let offset = page.offset.unwrap_or(0);
    if !(1..=PAGE_DEFAULT).contains(&limit) || offset < 0 {
        return Err(ApiError::BadQuery {
            zh: format!("limit 须为 1 到 {PAGE_DEFAULT}，offset 不能为负"),
            en: format!("limit must be 1 to {PAGE_DEFAULT} and offset not negative"),
        });
    }
    let assignments = viewer.assignments();
    let roots = viewer.household_roots();
    let chain: Vec<i64> = state
        .store
        .area_detail(area_id)
        .await
        .map_err(|e| match e {
            cuntu_store::StoreError::NotFound => ApiError::NotFound {
                what_zh: format!("编号为 {area_id} 的区域"),
                what_en: format!("Area {area_id}"),
            },
            other => other.into(),
        })?
        .chain
        .iter()
        .map(|a| a.id)
        .collect();
    // The whole area must be in scope: a cadre asking for the township gets 403, not the
    // part of it they may see.
    if household_access(&assignments, &chain).is_none() {
        return Err(ApiError::Forbidden);
    }
    let records = state
        .store
        .households_of_area_in_scope(area_id, &roots)
        .await?;
    let total = records.len();
    let records: Vec<HouseholdRecord> = records
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize)
        .collect();
    let next_offset =
        (offset as usize + records.len() < total).then(|| offset as usize + records.len());
    state
        .store
        .audit(AuditEntry {
            detail: json!({ "count": records.len() }),
            ..viewer.audit_entry("list_households", Some(format!("area:{area_id}")))
        })
        .await?;
    let households: Vec<HouseholdView> = records
        .into_iter()
        .filter_map(|r| {
            let access = household_access(&assignments, &r.chain)?;
            Some(view(r, access))
        })
        .collect();
    Ok(Json(json!({
        "households": households,
        "total": total,
        "limit": limit,
        "offset": offset,
        "next_offset": next_offset,
    })))
}

#[derive(Deserialize)]
struct AuditQuery {
    before: Option<i64>,
    limit: Option<i64>,
}

async fn audit_log(
    State(state): State<AppState>,
    viewer: Viewer,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let account = viewer.require()?;
    if !account
        .roles
        .iter()
        .any(|r| r.role == cuntu_core::auth::Role::TownshipAdmin)
    {
        return Err(ApiError::Forbidden);
    }
    let Query(query) = query.map_err(|e| ApiError::BadQuery {
        zh: format!("参数错误：{e}"),
        en: format!("Bad parameters: {e}"),
    })?;
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    let entries = state.store.audit_page(query.before, limit).await?;
    let next = (entries.len() as i64 == limit)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    Ok(Json(json!({ "entries": entries, "next_before": next })))
}
