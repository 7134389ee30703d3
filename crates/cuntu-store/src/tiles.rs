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

fn layer_sql(layer: &str) -> Option<&'static str> {
    Some(match layer {
        "areas" => {
            "SELECT a.id AS fid, a.id, a.kind, a.code, a.name, a.parent_id, \
                    CASE WHEN a.kind IN ('grid', 'lane') \
                         THEN (SELECT count(*) FROM households h WHERE h.grid_id = a.id)::integer END AS households, \
                    ST_AsMVTGeom(ST_Transform(a.geom, 3857), b.env, 4096, 64, true) AS geom \
             FROM areas a, bounds b WHERE a.geom && b.env4326"
        }
        "households" => {
            "SELECT h.id AS fid, h.id, h.grid_id, h.house_number, \
                    ST_AsMVTGeom(ST_Transform(h.geom, 3857), b.env, 4096, 64, true) AS geom \
             FROM households h, bounds b WHERE h.geom && b.env4326"
        }
        "facilities" => {
            "SELECT f.id AS fid, f.id, f.kind, f.name, \
                    ST_AsMVTGeom(ST_Transform(f.geom, 3857), b.env, 4096, 64, true) AS geom \
             FROM facilities f, bounds b WHERE f.geom && b.env4326"
        }
        "hazards" => {
            "SELECT z.id AS fid, z.id, z.kind, z.severity, z.name, \
                    ST_AsMVTGeom(ST_Transform(z.geom, 3857), b.env, 4096, 64, true) AS geom \
             FROM hazards z, bounds b WHERE z.geom && b.env4326"
        }
        "roads" => {
            "SELECT r.id AS fid, r.id, r.class, r.name, \
                    ST_AsMVTGeom(ST_Transform(r.geom, 3857), b.env, 4096, 64, true) AS geom \
             FROM roads r, bounds b WHERE r.geom && b.env4326"
        }
        "waterways" => {
            "SELECT w.id AS fid, w.id, w.kind, w.name, \
                    ST_AsMVTGeom(ST_Transform(w.geom, 3857), b.env, 4096, 64, true) AS geom \
             FROM waterways w, bounds b WHERE w.geom && b.env4326"
        }
        _ => return None,
    })
}

impl Store {
    /// The MVT bytes of one tile of one layer; empty when the tile holds nothing.
    pub async fn tile(&self, layer: &Layer, tile: TileCoord) -> Result<Vec<u8>, StoreError> {
        if tile.z < layer.minzoom {
            return Ok(Vec::new());
        }
        let features = layer_sql(layer.id).ok_or(StoreError::NotFound)?;
        let sql = format!(
            "WITH bounds AS ( \
                 SELECT ST_TileEnvelope($1, $2, $3) AS env, \
                        ST_Transform(ST_TileEnvelope($1, $2, $3, margin => {margin}), 4326) AS env4326), \
             features AS ({features}) \
             SELECT ST_AsMVT(features, $4, {EXTENT}, 'geom', 'fid') FROM features WHERE geom IS NOT NULL",
            margin = f64::from(BUFFER) / f64::from(EXTENT),
        );
        let bytes: Option<Vec<u8>> = sqlx::query_scalar(&sql)
            .bind(tile.z as i32)
            .bind(tile.x as i32)
            .bind(tile.y as i32)
            .bind(layer.id)
            .fetch_one(self.pool())
            .await?;
        Ok(bytes.unwrap_or_default())
    }
}
