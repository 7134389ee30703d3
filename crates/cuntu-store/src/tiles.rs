//! Vector tiles (MVT) straight from PostGIS with `ST_AsMVT`.
//!
//! One query per layer, written once: features whose box meets the tile (plus a 64-unit
//! buffer, so that lines and labels continue across tile edges), transformed to Web Mercator,
//! clipped and quantised to the 4096 extent. Each tile holds one source-layer named after its
//! layer. The feature id is set (for MapLibre feature state) and repeated as property `id`.
//!
//! This is the reference path: the server draws tiles from memory (`cuntu_core::tilesource`)
//! unless told to use this one, and a test holds the two to the same output. The rows the
//! memory engine loads come from here too ([`Store::tile_source`]).

use cuntu_core::index::Indexed;
use cuntu_core::layers::Layer;
use cuntu_core::tilesource::CLUSTER_BELOW_ZOOM;
use cuntu_core::vtile::{to_mercator, PropValue, TileProps};
use cuntu_core::TileCoord;
use sqlx::PgExecutor;

use crate::{wkb, Store, StoreError};

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
        // Only the per-grid clusters of the low zooms carry a count.
        ("households", "count") => "NULL::integer AS count".to_string(),
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
        let clustered = layer.id == "households" && tile.z < CLUSTER_BELOW_ZOOM;
        let mut features = if clustered {
            // One point per grid at the centre of its households (in Web Mercator, as the
            // memory engine computes it), kept when that centre is in the buffered tile.
            format!(
                "SELECT t.grid_id AS fid, t.grid_id, count(*)::integer AS count, \
                        ST_AsMVTGeom(ST_Centroid(ST_Collect(ST_Transform(t.geom, 3857))), \
                                     b.env, {EXTENT}, {BUFFER}, true) AS geom \
                 FROM households t, bounds b WHERE t.grid_id IS NOT NULL"
            )
        } else {
            layer_sql(layer).ok_or(StoreError::NotFound)?
        };
        let scope_cte = if scoped {
            features.push_str(" AND t.grid_id IN (SELECT id FROM scope)");
            if clustered {
                features.push_str(" GROUP BY t.grid_id, b.env");
            }
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

/// The expression of a field as the memory engine loads it: computed fields are null here
/// and filled in by the engine.
fn source_expression(layer: &str, field: &str) -> String {
    match (layer, field) {
        ("areas", "households") | ("households", "count") => "NULL".to_string(),
        _ => format!("t.{field}"),
    }
}

fn source_sql(layer: &Layer) -> Option<String> {
    let table = table(layer.id)?;
    let properties: Vec<String> = layer
        .fields
        .iter()
        .map(|f| source_expression(layer.id, f.name))
        .collect();
    Some(format!(
        "SELECT t.id, json_build_array({})::text, ST_AsBinary(t.geom) FROM {table} t",
        properties.join(", ")
    ))
}

type SourceRow = (i64, String, Vec<u8>);

fn to_source(row: SourceRow) -> Result<Indexed<TileProps>, StoreError> {
    let values: Vec<serde_json::Value> =
        serde_json::from_str(&row.1).map_err(|e| StoreError::Geometry(e.to_string()))?;
    Ok(Indexed {
        id: row.0,
        geometry: to_mercator(&wkb::decode(&row.2)?),
        data: values
            .iter()
            .map(|v| (!v.is_null()).then(|| PropValue::from(v)))
            .collect(),
    })
}

impl Store {
    /// Every feature of a layer as the memory tile engine keeps it: Web Mercator geometry
    /// and the catalogue's properties.
    pub async fn tile_source(&self, layer: &Layer) -> Result<Vec<Indexed<TileProps>>, StoreError> {
        let sql = source_sql(layer).ok_or(StoreError::NotFound)?;
        let rows: Vec<SourceRow> = sqlx::query_as(&sql).fetch_all(self.pool()).await?;
        rows.into_iter().map(to_source).collect()
    }
}

/// One feature as the memory tile engine keeps it, or `None` when it is gone.
pub async fn tile_source_feature(
    db: impl PgExecutor<'_>,
    layer: &Layer,
    id: i64,
) -> Result<Option<Indexed<TileProps>>, StoreError> {
    let sql = source_sql(layer).ok_or(StoreError::NotFound)?;
    let row: Option<SourceRow> = sqlx::query_as(&format!("{sql} WHERE t.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await?;
    row.map(to_source).transpose()
}
