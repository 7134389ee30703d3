//! A first grid layer for a village: recursive bisection of its households.
//!
//! The village polygon is cut by straight lines, each at the median of the households along
//! the longer axis, until every piece holds no more than the rule's maximum. Because every
//! cut splits one polygon into its two half-planes, the pieces cover the village exactly and
//! never overlap. Counts are balanced: with `k = ceil(n / max)` pieces each holds `n / k`
//! households, give or take one, which lies within `[max / 2, max]`.
//!
//! This is the simple method the ground floor needs. It knows nothing of roads, rivers or
//! hamlets; the auto-gridding issue replaces it with one that does.

use geo::{coord, BooleanOps, BoundingRect, MultiPolygon, Point, Rect};

use crate::metric::LocalMetric;
use crate::CoreError;

/// How many households a grid should hold (seeds 002 and 004: 30-60, "about 50").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GridRule {
    pub min_households: usize,
    pub max_households: usize,
}

impl Default for GridRule {
    fn default() -> Self {
        GridRule {
            min_households: 30,
            max_households: 60,
        }
    }
}

impl GridRule {
    pub fn new(min_households: usize, max_households: usize) -> Result<Self, CoreError> {
        if min_households == 0 || max_households < min_households {
            return Err(CoreError::InvalidGridRule(format!(
                "need 0 < min <= max, got min {min_households}, max {max_households}"
            )));
        }
        Ok(GridRule {
            min_households,
            max_households,
        })
    }

    pub fn admits(&self, households: usize) -> bool {
        (self.min_households..=self.max_households).contains(&households)
    }
}

/// One grid of a partition: its polygon and the indices of the households it holds.
#[derive(Debug, Clone)]
pub struct GridPiece {
    pub geometry: MultiPolygon<f64>,
    pub members: Vec<usize>,
}

/// Divides a village into grids of `rule.max_households` or fewer households each.
///
/// `households` must lie inside `village`. The result is deterministic, ordered so that
/// neighbouring pieces get neighbouring numbers, and empty when there are no households.
pub fn bisect_into_grids(
    village: &MultiPolygon<f64>,
    households: &[Point<f64>],
    rule: &GridRule,
) -> Vec<GridPiece> {
    if households.is_empty() {
        return Vec::new();
    }
    let Some(bbox) = village.bounding_rect() else {
        return Vec::new();
    };
    let metric = LocalMetric::centred_on(bbox.center());
    let n = households.len();
    let pieces = n.div_ceil(rule.max_households.max(1)).max(1);
    let mut out = Vec::with_capacity(pieces);
    let splitter = Splitter {
        households,
        metric,
        bbox,
    };
    splitter.split(village.clone(), (0..n).collect(), pieces, &mut out);
    out
}

struct Splitter<'a> {
    households: &'a [Point<f64>],
    metric: LocalMetric,
    bbox: Rect<f64>,
}

#[derive(Clone, Copy)]
enum Axis {
    X,
    Y,
}

impl Splitter<'_> {
    fn split(
        &self,
        region: MultiPolygon<f64>,
        mut members: Vec<usize>,
        pieces: usize,
        out: &mut Vec<GridPiece>,
    ) {
        if pieces <= 1 || members.len() <= 1 {
            out.push(GridPiece {
                geometry: region,
                members,
            });
            return;
        }
        let left_pieces = pieces / 2;
        let n = members.len();
        let wanted = ((n * left_pieces) as f64 / pieces as f64).round() as usize;
        let wanted = wanted.clamp(1, n - 1);

        let longer = self.longer_axis(&members);
        let other = match longer {
            Axis::X => Axis::Y,
            Axis::Y => Axis::X,
        };
        let Some((axis, at, cut)) = [longer, other].into_iter().find_map(|axis| {
            self.cut_position(&mut members, axis, wanted)
                .map(|(at, cut)| (axis, at, cut))
        }) else {
            // Every household stands on the same spot: nothing can separate them.
            out.push(GridPiece {
                geometry: region,
                members,
            });
            return;
        };
        let right_members = members.split_off(at);
        let (low, high) = self.half_planes(axis, cut);
        let left_region = region.intersection(&low);
        let right_region = region.intersection(&high);
        let left_share = ((pieces as f64) * at as f64 / n as f64).round() as usize;
        let left_share = left_share.clamp(1, pieces - 1);
        self.split(left_region, members, left_share, out);
        self.split(right_region, right_members, pieces - left_share, out);
    }

    fn coordinate(&self, i: usize, axis: Axis) -> f64 {
        let p = self.households[i];
        match axis {
            Axis::X => p.x(),
            Axis::Y => p.y(),
        }
    }

    fn longer_axis(&self, members: &[usize]) -> Axis {
        let (mut min, mut max) = (
            coord! { x: f64::INFINITY, y: f64::INFINITY },
            coord! { x: f64::NEG_INFINITY, y: f64::NEG_INFINITY },
        );
        for &i in members {
            let c = self.metric.to_metres(self.households[i].0);
            min = coord! { x: min.x.min(c.x), y: min.y.min(c.y) };
            max = coord! { x: max.x.max(c.x), y: max.y.max(c.y) };
        }
        if max.x - min.x >= max.y - min.y {
            Axis::X
        } else {
            Axis::Y
        }
    }

    /// Sorts `members` along `axis` and finds the split index nearest to `wanted` where two
    /// consecutive coordinates differ, with the cut line halfway between them.
    fn cut_position(
        &self,
        members: &mut [usize],
        axis: Axis,
        wanted: usize,
    ) -> Option<(usize, f64)> {
        members.sort_by(|&a, &b| {
            self.coordinate(a, axis)
                .total_cmp(&self.coordinate(b, axis))
                .then(a.cmp(&b))
        });
        let n = members.len();
        let separable = |at: usize| {
            let lo = self.coordinate(members[at - 1], axis);
            let hi = self.coordinate(members[at], axis);
            (lo < hi).then_some((at, (lo + hi) / 2.0))
        };
        (0..n).find_map(|offset| {
            let down = wanted.checked_sub(offset).filter(|&at| at >= 1);
            let up = Some(wanted + offset).filter(|&at| at < n);
            down.and_then(separable).or_else(|| up.and_then(separable))
        })
    }

    fn half_planes(&self, axis: Axis, cut: f64) -> (MultiPolygon<f64>, MultiPolygon<f64>) {
        let (min, max) = (self.bbox.min(), self.bbox.max());
        let pad = 1.0;
        let (low, high) = match axis {
            Axis::X => (
                Rect::new(
                    coord! { x: min.x - pad, y: min.y - pad },
                    coord! { x: cut, y: max.y + pad },
                ),
                Rect::new(
                    coord! { x: cut, y: min.y - pad },
                    coord! { x: max.x + pad, y: max.y + pad },
                ),
            ),
            Axis::Y => (
                Rect::new(
                    coord! { x: min.x - pad, y: min.y - pad },
                    coord! { x: max.x + pad, y: cut },
                ),
                Rect::new(
                    coord! { x: min.x - pad, y: cut },
                    coord! { x: max.x + pad, y: max.y + pad },
                ),
            ),
        };
        (
            MultiPolygon(vec![low.to_polygon()]),
            MultiPolygon(vec![high.to_polygon()]),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{polygon, Area, Contains, Intersects};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn village() -> MultiPolygon<f64> {
        // A concave (U-shaped) village about 2 km across.
        MultiPolygon(vec![polygon![
            (x: 9.50, y: 47.10), (x: 9.53, y: 47.10), (x: 9.53, y: 47.12),
            (x: 9.52, y: 47.12), (x: 9.52, y: 47.105), (x: 9.51, y: 47.105),
            (x: 9.51, y: 47.12), (x: 9.50, y: 47.12),
        ]])
    }

    fn households_in(v: &MultiPolygon<f64>, n: usize, seed: u64) -> Vec<Point<f64>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut out = Vec::new();
        while out.len() < n {
            let p = Point::new(rng.gen_range(9.50..9.53), rng.gen_range(47.10..47.12));
            if v.contains(&p) {
                out.push(p);
            }
        }
        out
    }

    #[test]
    fn pieces_partition_the_village_and_respect_the_rule() {
        let v = village();
        for (n, seed) in [(61, 1), (250, 2), (1000, 3), (59, 4)] {
            let hh = households_in(&v, n, seed);
            let rule = GridRule::default();
            let pieces = bisect_into_grids(&v, &hh, &rule);
            assert_eq!(pieces.len(), n.div_ceil(60));
            let total: usize = pieces.iter().map(|p| p.members.len()).sum();
            assert_eq!(total, n, "every household in exactly one grid");
            for p in &pieces {
                assert!(
                    rule.admits(p.members.len()),
                    "n={n}: {} households",
                    p.members.len()
                );
                for &i in &p.members {
                    assert!(
                        p.geometry.intersects(&hh[i]),
                        "household {i} outside its grid"
                    );
                }
            }
            let area: f64 = pieces.iter().map(|p| p.geometry.unsigned_area()).sum();
            assert!((area - v.unsigned_area()).abs() < 1e-6 * v.unsigned_area());
            // Floating-point clipping leaves slivers far below a square metre, never more.
            let metric = LocalMetric::centred_on(v.bounding_rect().unwrap().center());
            for (i, a) in pieces.iter().enumerate() {
                for b in &pieces[i + 1..] {
                    let overlap = metric
                        .project(&a.geometry.intersection(&b.geometry))
                        .unsigned_area();
                    assert!(overlap < 1.0, "grids overlap by {overlap} m²");
                }
            }
        }
    }

    #[test]
    fn same_input_same_grids() {
        let v = village();
        let hh = households_in(&v, 300, 9);
        let a = bisect_into_grids(&v, &hh, &GridRule::default());
        let b = bisect_into_grids(&v, &hh, &GridRule::default());
        let members = |p: &Vec<GridPiece>| p.iter().map(|g| g.members.clone()).collect::<Vec<_>>();
        assert_eq!(members(&a), members(&b));
    }

    #[test]
    fn households_on_one_spot_stay_together() {
        let v = village();
        let hh = vec![Point::new(9.505, 47.11); 90];
        let pieces = bisect_into_grids(&v, &hh, &GridRule::default());
        assert_eq!(pieces.len(), 1);
        assert_eq!(pieces[0].members.len(), 90);
    }

    #[test]
    fn rule_must_be_ordered() {
        assert!(GridRule::new(0, 10).is_err());
        assert!(GridRule::new(50, 40).is_err());
        assert!(GridRule::new(30, 60).is_ok());
    }
}
