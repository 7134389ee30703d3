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

    /// The plane with the WGS84 ellipsoid's own scales at `origin` (meridian and prime
    /// vertical radii), so that distances agree with PostGIS geography (a spheroid) to a few
    /// millimetres over a kilometre, not only to the 0.3 % of a sphere.
    pub fn wgs84_at(origin: Coord<f64>) -> Self {
        const A: f64 = 6_378_137.0;
        const E2: f64 = 0.006_694_379_990_14;
        let sin = origin.y.to_radians().sin();
        let w = (1.0 - E2 * sin * sin).sqrt();
        let meridian = A * (1.0 - E2) / (w * w * w);
        let prime_vertical = A / w;
        LocalMetric {
            origin,
            metres_per_degree_lon: prime_vertical.to_radians() * origin.y.to_radians().cos(),
            metres_per_degree_lat: meridian.to_radians(),
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

    /// How many degrees of longitude and latitude `metres` span here.
    pub fn degrees_for(&self, metres: f64) -> (f64, f64) {
        (
            metres / self.metres_per_degree_lon,
            metres / self.metres_per_degree_lat,
        )
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

    #[test]
    fn the_ellipsoid_plane_has_the_ellipsoid_s_degree_lengths() {
        // At 47°: a degree of latitude is 111,171 m and of longitude 76,056 m on WGS84.
        let m = LocalMetric::wgs84_at(coord! { x: 9.5, y: 47.0 });
        let north = m.to_metres(coord! { x: 9.5, y: 47.001 });
        assert!((north.y - 111.171).abs() < 0.002, "{}", north.y);
        let east = m.to_metres(coord! { x: 9.501, y: 47.0 });
        assert!((east.x - 76.056).abs() < 0.002, "{}", east.x);
        let back = m.to_degrees(m.to_metres(coord! { x: 10.5, y: 47.0 }));
        assert!((back.x - 10.5).abs() < 1e-12);
    }
}
