//! Who lives next to a hazard: the households within a hazard's influence zone.
//!
//! The zone is every point within `buffer_m` metres of the hazard's geometry (a landslide
//! point, a flood polygon). Distances are measured in a plane with the WGS84 ellipsoid's own
//! scales at the hazard ([`LocalMetric::wgs84_at`]), so they agree with PostGIS geography
//! (`ST_DWithin(a::geography, b::geography, d)`) to millimetres at the few hundred metres a
//! zone spans: the same households, without a round trip to the database.

use geo::{BoundingRect, Distance, Euclidean, Geometry, MapCoords, Point, Rect};

use crate::index::LayerIndex;
use crate::metric::LocalMetric;

/// Households (by id, ascending) within `buffer_m` metres of `hazard`, from the R-tree of the
/// household points. A household inside a zone polygon is at distance 0.
pub fn exposed_households<T>(
    hazard: &Geometry<f64>,
    buffer_m: f64,
    households: &LayerIndex<T>,
) -> Vec<i64> {
    let Some(bounds) = hazard.bounding_rect() else {
        return Vec::new();
    };
    let metric = LocalMetric::wgs84_at(bounds.center());
    let buffer_m = buffer_m.max(0.0);
    // A degree of longitude shortens towards the pole: widen the search box by the scale at
    // the box's poleward edge, plus a margin, so that no household in the zone is missed.
    let poleward = bounds.min().y.abs().max(bounds.max().y.abs());
    let edge_metric = LocalMetric::wgs84_at(geo::coord! { x: bounds.center().x, y: poleward });
    let (dlon, dlat) = edge_metric.degrees_for(buffer_m * 1.01 + 1.0);
    let search = Rect::new(
        geo::coord! { x: bounds.min().x - dlon, y: bounds.min().y - dlat },
        geo::coord! { x: bounds.max().x + dlon, y: bounds.max().y + dlat },
    );
    let projected = hazard.map_coords(|c| metric.to_metres(c));
    let mut ids: Vec<i64> = households
        .in_rect(search)
        .filter(|h| match &h.geometry {
            Geometry::Point(p) => {
                let q = Point(metric.to_metres(p.0));
                Euclidean.distance(&q, &projected) <= buffer_m
            }
            _ => false,
        })
        .map(|h| h.id)
        .collect();
    ids.sort_unstable();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::Indexed;
    use geo::{coord, polygon};

    fn points(coords: &[(i64, f64, f64)]) -> LayerIndex<()> {
        LayerIndex::bulk_load(
            coords
                .iter()
                .map(|&(id, x, y)| Indexed {
                    id,
                    geometry: Geometry::Point(Point::new(x, y)),
                    data: (),
                })
                .collect(),
        )
    }

    #[test]
    fn a_200_m_zone_at_47_degrees_is_200_m_not_0_0018_degrees() {
        // 0.0018° of latitude is 200 m; of longitude at 47° only 137 m.
        let m = LocalMetric::wgs84_at(coord! { x: 9.5, y: 47.0 });
        let (dlon, dlat) = m.degrees_for(1.0);
        let houses = points(&[
            (1, 9.5 + 199.0 * dlon, 47.0),                // 199 m east: inside
            (2, 9.5 + 201.0 * dlon, 47.0),                // 201 m east: outside
            (3, 9.5, 47.0 + 199.0 * dlat),                // 199 m north
            (4, 9.5, 47.0 + 201.0 * dlat),                // 201 m north
            (5, 9.5 + 0.0018, 47.0),                      // 0.0018° east = 137 m: inside
            (6, 9.5 + 141.0 * dlon, 47.0 + 141.0 * dlat), // 199.4 m north-east
            (7, 9.5 + 142.0 * dlon, 47.0 + 142.0 * dlat), // 200.8 m north-east
        ]);
        let hazard = Geometry::Point(Point::new(9.5, 47.0));
        assert_eq!(
            exposed_households(&hazard, 200.0, &houses),
            vec![1, 3, 5, 6]
        );
    }

    #[test]
    fn a_zone_polygon_holds_what_is_inside_and_its_buffer() {
        let zone = Geometry::Polygon(polygon![
            (x: 9.50, y: 47.00), (x: 9.51, y: 47.00), (x: 9.51, y: 47.01), (x: 9.50, y: 47.01),
        ]);
        let m = LocalMetric::wgs84_at(coord! { x: 9.505, y: 47.005 });
        let (dlon, _) = m.degrees_for(1.0);
        let houses = points(&[
            (1, 9.505, 47.005),              // inside
            (2, 9.51 + 40.0 * dlon, 47.005), // 40 m east of the edge
            (3, 9.51 + 60.0 * dlon, 47.005), // 60 m east
            (4, 9.49, 47.005),               // far west
        ]);
        assert_eq!(exposed_households(&zone, 0.0, &houses), vec![1]);
        assert_eq!(exposed_households(&zone, 50.0, &houses), vec![1, 2]);
    }
}
