//! The point and line layers as the R-tree cache needs them: id, geometry and one class.

use cuntu_core::index::Indexed;
use sqlx::PgExecutor;

use crate::{wkb, Store, StoreError};

/// A map layer other than areas, with the column that classifies its features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeatureLayer {
    Households,
    Facilities,
    Hazards,
    Roads,
    Waterways,
}

impl FeatureLayer {
    pub const ALL: [FeatureLayer; 5] = [
        FeatureLayer::Households,
        FeatureLayer::Facilities,
        FeatureLayer::Hazards,
        FeatureLayer::Roads,
        FeatureLayer::Waterways,
    ];

    pub fn id(self) -> &'static str {
        match self {
            FeatureLayer::Households => "households",
            FeatureLayer::Facilities => "facilities",
            FeatureLayer::Hazards => "hazards",
            FeatureLayer::Roads => "roads",
            FeatureLayer::Waterways => "waterways",
        }
    }

    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.id() == id)
    }

    /// Table and classifying column are fixed per layer: never built from request input.
    fn select(self) -> &'static str {
        match self {
            FeatureLayer::Households => {
                "SELECT id, NULL::text AS class, ST_AsBinary(geom) FROM households"
            }
            FeatureLayer::Facilities => "SELECT id, kind, ST_AsBinary(geom) FROM facilities",
            FeatureLayer::Hazards => "SELECT id, kind, ST_AsBinary(geom) FROM hazards",
            FeatureLayer::Roads => "SELECT id, class, ST_AsBinary(geom) FROM roads",
            FeatureLayer::Waterways => "SELECT id, kind, ST_AsBinary(geom) FROM waterways",
        }
    }
}

/// What the R-tree of a feature layer keeps beside the geometry: its kind or class.
pub type FeatureClass = Option<String>;

fn to_indexed(row: (i64, Option<String>, Vec<u8>)) -> Result<Indexed<FeatureClass>, StoreError> {
    Ok(Indexed {
        id: row.0,
        geometry: wkb::decode(&row.2)?,
        data: row.1,
    })
}

impl Store {
    pub async fn features_for_index(
        &self,
        layer: FeatureLayer,
    ) -> Result<Vec<Indexed<FeatureClass>>, StoreError> {
        let rows: Vec<(i64, Option<String>, Vec<u8>)> = sqlx::query_as(layer.select())
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(to_indexed).collect()
    }
}

pub async fn feature_for_index(
    db: impl PgExecutor<'_>,
    layer: FeatureLayer,
    id: i64,
) -> Result<Option<Indexed<FeatureClass>>, StoreError> {
    let row: Option<(i64, Option<String>, Vec<u8>)> =
        sqlx::query_as(&format!("{} WHERE id = $1", layer.select()))
            .bind(id)
            .fetch_optional(db)
            .await?;
    row.map(to_indexed).transpose()
}
