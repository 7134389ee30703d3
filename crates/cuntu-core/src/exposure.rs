//! Who lives next to a hazard: the households within a hazard's influence zone.
//!
//! The zone is every point within `buffer_m` metres of the hazard's geometry (a landslide
//! point, a flood polygon). Distances are measured in a plane with the WGS84 ellipsoid's own
//! scales at the hazard ([`LocalMetric::wgs84_at`]), so they agree with PostGIS geography
//! (`ST_DWithin(a::geography, b::geography, d)`) to millimetres at the few hundred metres a
//! zone spans: the same households, without a round trip to the database.

use geo::{
    BoundingRect, Closest, ClosestPoint, Coord, CoordsIter, Distance, Euclidean, Geometry,
    LinesIter, MapCoords, Point, Rect,
};
use rstar::primitives::Line;
use rstar::{PointDistance, RTree, AABB};

use crate::index::LayerIndex;
use crate::metric::LocalMetric;

/// Above this many vertices a zone gets an R-tree of its edges: a flood zone of hundreds of
/// vertices over thousands of candidate households would otherwise cost vertices × households.
const PREPARE_ABOVE_VERTICES: usize = 32;

/// A hazard's geometry in the metric plane, ready for many distance questions.
enum Zone {
    Plain(Geometry<f64>),
    Prepared {
        edges: RTree<Line<[f64; 2]>>,
        /// Polygons hold the points inside them (distance 0); lines do not.
        areal: bool,
        max_x: f64,
    },
}

impl Zone {
    fn new(projected: Geometry<f64>) -> Zone {
        if projected.coords_count() <= PREPARE_ABOVE_VERTICES {
            return Zone::Plain(projected);
        }
        let areal = matches!(
            projected,
            Geometry::Polygon(_)
                | Geometry::MultiPolygon(_)
                | Geometry::Rect(_)
                | Geometry::Triangle(_)
        );
        let max_x = projected.bounding_rect().map_or(0.0, |r| r.max().x);
        let edges = RTree::bulk_load(
            edges_of(&projected)
                .into_iter()
                .map(|l| Line::new([l.start.x, l.start.y], [l.end.x, l.end.y]))
                .collect(),
        );
        Zone::Prepared {
            edges,
            areal,
            max_x,
        }
    }

    /// The distance from `q` in the plane, and the nearest point of the zone when `q` is
    /// outside it (`None` inside).
    fn distance(&self, q: Coord<f64>) -> (f64, Option<Coord<f64>>) {
        match self {
            Zone::Plain(g) => {
                let d = Euclidean.distance(&Point(q), g);
                if d == 0.0 {
                    return (0.0, None);
                }
                match g.closest_point(&Point(q)) {
                    Closest::Intersection(p) | Closest::SinglePoint(p) => (d, Some(p.0)),
                    Closest::Indeterminate => (d, None),
                }
            }
            Zone::Prepared {
                edges,
                areal,
                max_x,
            } => {
                if *areal && inside(edges, *max_x, q) {
                    return (0.0, None);
                }
                let Some(edge) = edges.nearest_neighbor(&[q.x, q.y]) else {
                    return (f64::INFINITY, None);
                };
                let c = edge.nearest_point(&[q.x, q.y]);
                (
                    edge.distance_2(&[q.x, q.y]).sqrt(),
                    Some(Coord { x: c[0], y: c[1] }),
                )
            }
        }
    }
}

fn edges_of(g: &Geometry<f64>) -> Vec<geo::Line<f64>> {
    match g {
        Geometry::Polygon(p) => p.lines_iter().collect(),
        Geometry::MultiPolygon(mp) => mp.lines_iter().collect(),
        Geometry::LineString(l) => l.lines_iter().collect(),
        Geometry::MultiLineString(ml) => ml.lines_iter().collect(),
        Geometry::Rect(r) => r.to_polygon().lines_iter().collect(),
        Geometry::Triangle(t) => t.to_polygon().lines_iter().collect(),
        Geometry::Line(l) => vec![*l],
        Geometry::GeometryCollection(c) => c.iter().flat_map(edges_of).collect(),
        Geometry::Point(_) | Geometry::MultiPoint(_) => Vec::new(),
    }
}

/// Even-odd rule on a ray to the east: holes and the parts of a multipolygon count right.
fn inside(edges: &RTree<Line<[f64; 2]>>, max_x: f64, q: Coord<f64>) -> bool {
    let ray = AABB::from_corners([q.x, q.y], [max_x.max(q.x), q.y]);
    edges
        .locate_in_envelope_intersecting(&ray)
        .filter(|e| {
            let (a, b) = (e.from, e.to);
            (a[1] > q.y) != (b[1] > q.y)
                && q.x < a[0] + (q.y - a[1]) / (b[1] - a[1]) * (b[0] - a[0])
        })
        .count()
        % 2
        == 1
}

/// Households (by id, ascending) within `buffer_m` metres of `hazard`, from the R-tree of the
/// household points. A household inside a zone polygon is at distance 0.
///
/// The plane of the hazard's centre is exact to a few parts in ten thousand across a zone
/// kilometres wide; a household whose distance falls within that margin of the buffer is
/// measured again in the plane of its own position, exact at the hundred metres involved.
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
    let zone = Zone::new(hazard.map_coords(|c| metric.to_metres(c)));
    // Half a percent: the zone plane's worst scale error over 50 km, and more.
    let margin = buffer_m * 0.005 + 0.5;
    let mut ids: Vec<i64> = households
        .in_rect(search)
        .filter(|h| {
            let Geometry::Point(p) = &h.geometry else {
                return false;
            };
            let (d, nearest) = zone.distance(metric.to_metres(p.0));
            if d == 0.0 || d < buffer_m - margin {
                return true;
            }
            if d > buffer_m + margin {
                return false;
            }
            match nearest {
                Some(c) => {
                    let here = LocalMetric::wgs84_at(p.0);
                    let v = here.to_metres(metric.to_degrees(c));
                    v.x.hypot(v.y) <= buffer_m
                }
                None => d <= buffer_m,
            }
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

    #[test]
    fn a_large_zone_with_a_hole_answers_as_the_plain_geometry_does() {
        use geo::{LineString, Polygon};
        use rand::{Rng, SeedableRng};
        // A ring of 120 vertices, 1 km across, with a 300 m hole: prepared (edge R-tree).
        let ring = |r: f64, n: usize| {
            LineString::from(
                (0..=n)
                    .map(|k| {
                        let a = std::f64::consts::TAU * (k % n) as f64 / n as f64;
                        (r * a.cos() * (1.0 + 0.1 * (5.0 * a).sin()), r * a.sin())
                    })
                    .collect::<Vec<_>>(),
            )
        };
        let g = Geometry::Polygon(Polygon::new(ring(500.0, 120), vec![ring(150.0, 40)]));
        let prepared = Zone::new(g.clone());
        assert!(matches!(prepared, Zone::Prepared { .. }));
        let plain = Zone::Plain(g);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut inside = 0;
        for _ in 0..2000 {
            let q = coord! { x: rng.gen_range(-800.0..800.0), y: rng.gen_range(-800.0..800.0) };
            let (a, _) = prepared.distance(q);
            let (b, _) = plain.distance(q);
            assert!((a - b).abs() < 1e-6, "{q:?}: {a} vs {b}");
            inside += usize::from(a == 0.0);
        }
        assert!(inside > 300, "{inside}");
        // The hole's centre is outside the zone: 135 m from the hole's nearest edge (its radius
        // of 150 m shrinks to 135 m where the wave pinches it).
        let (d, _) = prepared.distance(coord! { x: 0.0, y: 0.0 });
        assert!((125.0..150.0).contains(&d), "{d}");
    }
}
