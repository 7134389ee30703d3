//! Geometry across the database boundary: WKB bytes both ways, decoded with geozero.

use geo::Geometry;
use geozero::wkb::Wkb;
use geozero::{CoordDimensions, ToGeo, ToWkb};

use crate::StoreError;

pub fn decode(bytes: &[u8]) -> Result<Geometry<f64>, StoreError> {
    Wkb(bytes.to_vec())
        .to_geo()
        .map_err(|e| StoreError::Geometry(e.to_string()))
}

pub fn encode(geometry: &Geometry<f64>) -> Result<Vec<u8>, StoreError> {
    geometry
        .to_wkb(CoordDimensions::xy())
        .map_err(|e| StoreError::Geometry(e.to_string()))
}
