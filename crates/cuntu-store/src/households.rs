//! Households with their personal fields, always read through a scope: the areas below
//! which the viewer may read households. A household outside the scope is never selected.

use serde::Serialize;
use sqlx::FromRow;

use crate::{Store, StoreError};

/// The subtree of areas under the scope's roots, as a CTE named `scope`.
pub(crate) const SCOPE_CTE: &str = "WITH RECURSIVE scope(id) AS ( \
         SELECT unnest($1::bigint[]) \
         UNION SELECT a.id FROM areas a JOIN scope s ON a.parent_id = s.id)";

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct HouseholdRecord {
    pub id: i64,
    pub house_number: Option<String>,
    pub address: Option<String>,
    pub grid_id: Option<i64>,
    pub grid_name: Option<String>,
    pub head_name: Option<String>,
    pub members: Option<i16>,
    pub phone: Option<String>,
    pub id_card: Option<String>,
    pub tags: Vec<String>,
    pub party_central: bool,
    /// Area ids from the household's grid up to its township.
    pub chain: Vec<i64>,
}

/// The ids from household `h`'s grid up to its township, as a column `chain`.
macro_rules! household_chain {
    () => {
        "(WITH RECURSIVE up(id, parent_id, depth) AS ( \
             SELECT a.id, a.parent_id, 0 FROM areas a WHERE a.id = h.grid_id \
             UNION ALL SELECT a.id, a.parent_id, up.depth + 1 FROM areas a JOIN up ON a.id = up.parent_id \
             WHERE up.depth < 8) \
         SELECT coalesce(array_agg(id), '{}') FROM up) AS chain"
    };
}
pub(crate) use household_chain;

const SELECT_HOUSEHOLD: &str = concat!(
    "SELECT h.id, h.house_number, h.address, h.grid_id, g.name AS grid_name, \
        h.head_name, h.members, h.phone, h.id_card, h.tags, h.party_central, \
        ",
    household_chain!(),
    " FROM households h LEFT JOIN areas g ON g.id = h.grid_id"
);

impl Store {
    /// One household, if it lies under one of `scope_roots`; `Ok(None)` otherwise, so that
    /// a caller cannot tell "outside your scope" from "does not exist" by timing or body.
    pub async fn household_in_scope(
        &self,
        id: i64,
        scope_roots: &[i64],
    ) -> Result<Option<HouseholdRecord>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "{SCOPE_CTE} {SELECT_HOUSEHOLD} WHERE h.id = $2 AND h.grid_id IN (SELECT id FROM scope)"
        ))
        .bind(scope_roots)
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn household_exists(&self, id: i64) -> Result<bool, StoreError> {
        Ok(
            sqlx::query_scalar::<_, i32>("SELECT 1 FROM households WHERE id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await?
                .is_some(),
        )
    }

    /// The households of one area (grid, village...) that lie in the scope.
    pub async fn households_of_area_in_scope(
        &self,
        area_id: i64,
        scope_roots: &[i64],
    ) -> Result<Vec<HouseholdRecord>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "{SCOPE_CTE}, below(id) AS ( \
                 SELECT $2::bigint UNION SELECT a.id FROM areas a JOIN below b ON a.parent_id = b.id) \
             {SELECT_HOUSEHOLD} \
             WHERE h.grid_id IN (SELECT id FROM scope) AND h.grid_id IN (SELECT id FROM below) \
             ORDER BY h.grid_id, h.house_number, h.id"
        ))
        .bind(scope_roots)
        .bind(area_id)
        .fetch_all(self.pool())
        .await?)
    }
}
