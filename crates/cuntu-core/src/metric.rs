//! Distances in metres for small regions (a village, a township) without a projection library.
//!
//! An equirectangular projection centred on the region is accurate to better than 0.1 % over
//! a few tens of kilometres, which is all the grid rules and demo derivations need. Exact
//! areas and buffers for stored data are PostGIS's job (geography type).

use geo::{coord, Coord, MapCoords, MultiPolygon};

const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A local metric plane: x east, y north, in metres from an origin.
#[derive(Debug, Clone, Copy)]
pub struct LocalMetric {
    origin: Coord<f64>,
    metres_per_degree_lon: f64,
    metres_per_degree_lat: f64,
}

impl LocalMetric {
    pub fn centred_on(origin: Coord<f64>) -> Self {
        let metres_per_degree_lat = EARTH_RADIUS_M.to_radians();
        LocalMetric {
            origin,
            metres_per_degree_lon: metres_per_degree_lat * origin.y.to_radians().cos(),
            metres_per_degree_lat,
        }
    }

    pub fn to_metres(&self, c: Coord<f64>) -> Coord<f64> {
        coord! {
            x: (c.x - self.origin.x) * self.metres_per_degree_lon,
            y: (c.y - self.origin.y) * self.metres_per_degree_lat,
        }
    }

    pub fn to_degrees(&self, c: Coord<f64>) -> Coord<f64> {
        coord! {
            x: self.origin.x + c.x / self.metres_per_degree_lon,
            y: self.origin.y + c.y / self.metres_per_degree_lat,
        }
    }

    pub fn project(&self, mp: &MultiPolygon<f64>) -> MultiPolygon<f64> {
        mp.map_coords(|c| self.to_metres(c))
    }

    pub fn unproject(&self, mp: &MultiPolygon<f64>) -> MultiPolygon<f64> {
        mp.map_coords(|c| self.to_degrees(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_degree_of_latitude_is_about_111_km() {
        let m = LocalMetric::centred_on(coord! { x: 9.5, y: 47.1 });
        let p = m.to_metres(coord! { x: 9.5, y: 48.1 });
        assert!((p.y - 111_195.0).abs() < 10.0, "{}", p.y);
        let q = m.to_metres(coord! { x: 10.5, y: 47.1 });
        assert!((q.x - 75_720.0).abs() < 100.0, "{}", q.x);
        let back = m.to_degrees(q);
        assert!((back.x - 10.5).abs() < 1e-12);
    }
}
