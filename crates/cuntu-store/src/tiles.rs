//! Vector tiles (MVT) straight from PostGIS with `ST_AsMVT`.
//!
//! One query per layer, written once: features whose box meets the tile (plus a 64-unit
//! buffer, so that lines and labels continue across tile edges), transformed to Web Mercator,
//! clipped and quantised to the 4096 extent. Each tile holds one source-layer named after its
//! layer. The feature id is set (for MapLibre feature state) and repeated as property `id`.

use cuntu_core::layers::Layer;
use cuntu_core::TileCoord;

use crate::{Store, StoreError};

pub const EXTENT: i32 = 4096;
pub const BUFFER: i32 = 64;

/// The table behind a tile layer. Fixed per layer id: never built from request input.
fn table(layer: &str) -> Option<&'static str> {
    Some(match layer {
        "areas" => "areas",
        "households" => "households",
        "facilities" => "facilities",
        "hazards" => "hazards",
        "roads" => "roads",
        "waterways" => "waterways",
        _ => return None,
    })
}

/// The SQL expression of a catalogue field: a column of the same name, except for fields
/// computed from other tables.
fn field_expression(layer: &str, field: &str) -> String {
    match (layer, field) {
        ("areas", "households") => "CASE WHEN t.kind IN ('grid', 'lane') \
             THEN (SELECT count(*) FROM households h WHERE h.grid_id = t.id)::integer END AS households"
            .to_string(),
        _ => format!("t.{field}"),
    }
}

/// The features of one layer in a tile, with exactly the properties its catalogue entry
/// declares (see `cuntu_core::layers`), so tiles and TileJSON cannot disagree.
fn layer_sql(layer: &Layer) -> Option<String> {
    let table = table(layer.id)?;
    let properties: Vec<String> = layer
        .fields
        .iter()
        .map(|f| field_expression(layer.id, f.name))
        .collect();
    Some(format!(
        "SELECT t.id AS fid, {properties}, \
                ST_AsMVTGeom(ST_Transform(t.geom, 3857), b.env, {EXTENT}, {BUFFER}, true) AS geom \
         FROM {table} t, bounds b WHERE t.geom && b.env4326",
        properties = properties.join(", ")
    ))
}

/// Which personal layers a tile request may see. Households are personal: a tile carries
/// only those under the viewer's scope roots, and none for an anonymous viewer.
#[derive(Debug, Clone, Copy)]
pub struct TileScope<'a> {
    pub household_roots: &'a [i64],
}

impl TileScope<'_> {
    pub const ANONYMOUS: TileScope<'static> = TileScope {
        household_roots: &[],
    };
}

/// Whether a layer's tiles depend on who asks (and so must never be shared between users).
pub fn is_scoped(layer: &str) -> bool {
    layer == "households"
}

impl Store {
    /// The MVT bytes of one tile of one layer, as `scope` may see it; empty when nothing is.
    pub async fn tile(
        &self,
        layer: &Layer,
        tile: TileCoord,
        scope: TileScope<'_>,
    ) -> Result<Vec<u8>, StoreError> {
        if tile.z < layer.minzoom {
            return Ok(Vec::new());
        }
        let scoped = is_scoped(layer.id);
        if scoped && scope.household_roots.is_empty() {
            return Ok(Vec::new());
        }
        let mut features = layer_sql(layer).ok_or(StoreError::NotFound)?;
        let scope_cte = if scoped {
            features.push_str(" AND t.grid_id IN (SELECT id FROM scope)");
            "RECURSIVE scope(id) AS ( \
                 SELECT unnest($5::bigint[]) \
                 UNION SELECT a.id FROM areas a JOIN scope s ON a.parent_id = s.id), "
        } else {
            ""
        };
        let sql = format!(
            "WITH {scope_cte}bounds AS ( \
                 SELECT ST_TileEnvelope($1, $2, $3) AS env, \
                        ST_Transform(ST_TileEnvelope($1, $2, $3, margin => {margin}), 4326) AS env4326), \
             features AS ({features}) \
             SELECT ST_AsMVT(features, $4, {EXTENT}, 'geom', 'fid') FROM features WHERE geom IS NOT NULL",
            margin = f64::from(BUFFER) / f64::from(EXTENT),
        );
        let mut query = sqlx::query_scalar(&sql)
            .bind(tile.z as i32)
            .bind(tile.x as i32)
            .bind(tile.y as i32)
            .bind(layer.id);
        if scoped {
            query = query.bind(scope.household_roots);
        }
        let bytes: Option<Vec<u8>> = query.fetch_one(self.pool()).await?;
        Ok(bytes.unwrap_or_default())
    }
}
