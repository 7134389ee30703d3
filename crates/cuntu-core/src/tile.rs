//! Web Mercator tile addressing (XYZ scheme, as MapLibre requests tiles).

use geo::{coord, Rect};
use std::f64::consts::PI;

use crate::CoreError;

/// Deepest zoom served. Beyond 22 a tile is a few centimetres wide: nothing a village needs.
pub const MAX_ZOOM: u32 = 22;

/// Half the width of the Web Mercator square, in metres (EPSG:3857).
pub const MERCATOR_HALF_WORLD: f64 = 20_037_508.342_789_244;

/// A validated tile address: `z` in `0..=MAX_ZOOM`, `x` and `y` in `0..2^z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TileCoord {
    pub z: u32,
    pub x: u32,
    pub y: u32,
}

impl TileCoord {
    pub fn new(z: u32, x: u32, y: u32) -> Result<Self, CoreError> {
        if z > MAX_ZOOM {
            return Err(CoreError::ZoomOutOfRange(z));
        }
        let n = 1u64 << z;
        if u64::from(x) >= n || u64::from(y) >= n {
            return Err(CoreError::TileOutOfRange { z, x, y });
        }
        Ok(TileCoord { z, x, y })
    }

    /// The tile's extent in Web Mercator metres.
    pub fn mercator_bounds(&self) -> Rect<f64> {
        let size = 2.0 * MERCATOR_HALF_WORLD / f64::from(1u32 << self.z);
        let min_x = -MERCATOR_HALF_WORLD + f64::from(self.x) * size;
        let max_y = MERCATOR_HALF_WORLD - f64::from(self.y) * size;
        Rect::new(
            coord! { x: min_x, y: max_y - size },
            coord! { x: min_x + size, y: max_y },
        )
    }

    /// The tile's extent in longitude/latitude degrees.
    pub fn lonlat_bounds(&self) -> Rect<f64> {
        let m = self.mercator_bounds();
        let (w, s) = mercator_to_lonlat(m.min().x, m.min().y);
        let (e, n) = mercator_to_lonlat(m.max().x, m.max().y);
        Rect::new(coord! { x: w, y: s }, coord! { x: e, y: n })
    }

    /// The tile at zoom `z` that contains a longitude/latitude.
    pub fn containing(z: u32, lon: f64, lat: f64) -> Result<Self, CoreError> {
        if z > MAX_ZOOM {
            return Err(CoreError::ZoomOutOfRange(z));
        }
        let n = f64::from(1u32 << z);
        let lat = lat.clamp(-85.051_128, 85.051_128).to_radians();
        let x = ((lon + 180.0) / 360.0 * n).floor().clamp(0.0, n - 1.0);
        let y = ((1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / PI) / 2.0 * n)
            .floor()
            .clamp(0.0, n - 1.0);
        TileCoord::new(z, x as u32, y as u32)
    }
}

pub fn lonlat_to_mercator(lon: f64, lat: f64) -> (f64, f64) {
    let x = lon * MERCATOR_HALF_WORLD / 180.0;
    let lat = lat.clamp(-85.051_128_779_806_59, 85.051_128_779_806_59);
    let y = (((90.0 + lat) * PI / 360.0).tan()).ln() / (PI / 180.0);
    (x, y * MERCATOR_HALF_WORLD / 180.0)
}

pub fn mercator_to_lonlat(x: f64, y: f64) -> (f64, f64) {
    let lon = x / MERCATOR_HALF_WORLD * 180.0;
    let lat = (2.0 * ((y / MERCATOR_HALF_WORLD * PI).exp()).atan() - PI / 2.0).to_degrees();
    (lon, lat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_addresses_that_do_not_exist() {
        assert!(TileCoord::new(0, 0, 0).is_ok());
        assert_eq!(
            TileCoord::new(2, 4, 0),
            Err(CoreError::TileOutOfRange { z: 2, x: 4, y: 0 })
        );
        assert_eq!(TileCoord::new(23, 0, 0), Err(CoreError::ZoomOutOfRange(23)));
    }

    #[test]
    fn world_tile_spans_the_mercator_square() {
        let b = TileCoord::new(0, 0, 0).unwrap().lonlat_bounds();
        assert!((b.min().x + 180.0).abs() < 1e-9 && (b.max().x - 180.0).abs() < 1e-9);
        assert!((b.max().y - 85.0511).abs() < 1e-3);
    }

    #[test]
    fn containing_tile_holds_the_point() {
        // Vaduz, Liechtenstein.
        let (lon, lat) = (9.5209, 47.1410);
        for z in [0, 5, 10, 14, 18, 22] {
            let t = TileCoord::containing(z, lon, lat).unwrap();
            let b = t.lonlat_bounds();
            assert!(b.min().x <= lon && lon <= b.max().x, "z{z}");
            assert!(b.min().y <= lat && lat <= b.max().y, "z{z}");
        }
    }

    #[test]
    fn mercator_round_trip() {
        let (x, y) = lonlat_to_mercator(9.52, 47.14);
        let (lon, lat) = mercator_to_lonlat(x, y);
        assert!((lon - 9.52).abs() < 1e-9 && (lat - 47.14).abs() < 1e-9);
    }
}
