//! The layers as the tile engine keeps them: Web Mercator geometries with their tile
//! properties in R-trees, plus per-grid household clusters for the low zooms.
//!
//! Every change returns the regions it dirtied (old and new extent, and what depends on it:
//! a household moves its grid's count and its cluster), so that a tile cache can drop
//! exactly the tiles those regions touch.

use std::collections::{HashMap, HashSet};

use geo::{coord, BoundingRect, Geometry, Point, Rect};

use crate::index::{Indexed, LayerIndex};
use crate::layers::{self, Layer};
use crate::tile::TileCoord;
use crate::vtile::{LayerEncoder, PropValue, TileFrame, TileProps};

/// Below this zoom households are sent as one point per grid with its count, not one
/// point each: thousands of dots say less than "43 households here".
pub const CLUSTER_BELOW_ZOOM: u32 = 14;

/// A layer's Web Mercator features with their tile properties.
pub type TileLayer = LayerIndex<TileProps>;

/// The households of one grid, summed: the cluster drawn at low zooms.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Cluster {
    count: i64,
    sum_x: f64,
    sum_y: f64,
}

impl Cluster {
    fn centre(&self) -> Option<Point<f64>> {
        (self.count > 0).then(|| {
            Point::new(
                self.sum_x / self.count as f64,
                self.sum_y / self.count as f64,
            )
        })
    }
}

/// Which households a tile may show: all, those of some grids, or none.
#[derive(Debug, Clone, Copy)]
pub enum Visibility<'a> {
    All,
    Grids(&'a HashSet<i64>),
    Nothing,
}

impl Visibility<'_> {
    fn shows(&self, grid: Option<i64>) -> bool {
        match self {
            Visibility::All => true,
            Visibility::Grids(g) => grid.is_some_and(|id| g.contains(&id)),
            Visibility::Nothing => false,
        }
    }
}

/// A region whose tiles of one layer are out of date, in Web Mercator metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dirty {
    pub layer: &'static str,
    pub region: Rect<f64>,
}

#[derive(Debug, Default)]
pub struct TileSources {
    layers: HashMap<&'static str, TileLayer>,
    clusters: HashMap<i64, Cluster>,
}

fn field_position(layer: &str, field: &str) -> Option<usize> {
    layers::layer(layer)?
        .fields
        .iter()
        .position(|f| f.name == field)
}

fn int_at(props: &TileProps, at: Option<usize>) -> Option<i64> {
    match props.get(at?)? {
        Some(PropValue::Int(i)) => Some(*i),
        _ => None,
    }
}

fn household_grid(feature: &Indexed<TileProps>) -> Option<i64> {
    int_at(&feature.data, field_position("households", "grid_id"))
}

fn household_point(feature: &Indexed<TileProps>) -> Option<Point<f64>> {
    match &feature.geometry {
        Geometry::Point(p) => Some(*p),
        g => g.bounding_rect().map(|r| r.center().into()),
    }
}

fn point_rect(p: Point<f64>) -> Rect<f64> {
    Rect::new(p.0, p.0)
}

impl TileSources {
    /// Builds every layer at once (features already in Web Mercator).
    pub fn load(mut by_layer: HashMap<&'static str, Vec<Indexed<TileProps>>>) -> Self {
        let mut sources = TileSources::default();
        for layer in layers::LAYERS {
            let features = by_layer.remove(layer.id).unwrap_or_default();
            if layer.id == "households" {
                for f in &features {
                    sources.add_to_cluster(f);
                }
            }
            sources
                .layers
                .insert(layer.id, LayerIndex::bulk_load(features));
        }
        sources
    }

    pub fn layer(&self, id: &str) -> Option<&TileLayer> {
        self.layers.get(id)
    }

    fn add_to_cluster(&mut self, f: &Indexed<TileProps>) {
        if let (Some(grid), Some(p)) = (household_grid(f), household_point(f)) {
            let c = self.clusters.entry(grid).or_default();
            c.count += 1;
            c.sum_x += p.x();
            c.sum_y += p.y();
        }
    }

    fn take_from_cluster(&mut self, f: &Indexed<TileProps>) {
        if let (Some(grid), Some(p)) = (household_grid(f), household_point(f)) {
            if let Some(c) = self.clusters.get_mut(&grid) {
                c.count -= 1;
                c.sum_x -= p.x();
                c.sum_y -= p.y();
                if c.count <= 0 {
                    self.clusters.remove(&grid);
                }
            }
        }
    }

    /// Households of a grid, as the areas layer shows them.
    pub fn households_of(&self, grid: i64) -> i64 {
        self.clusters.get(&grid).map_or(0, |c| c.count)
    }

    fn extent_of(&self, layer: &str, id: i64) -> Option<Rect<f64>> {
        self.layers.get(layer)?.get(id)?.geometry.bounding_rect()
    }

    /// Replaces (or, with `None`, removes) one feature, returning the regions whose tiles
    /// it changed.
    pub fn apply(
        &mut self,
        layer: &'static str,
        id: i64,
        feature: Option<Indexed<TileProps>>,
    ) -> Vec<Dirty> {
        let mut dirty = Vec::new();
        let old = self.layers.get_mut(layer).and_then(|l| l.remove(id));
        let touched = |f: &Indexed<TileProps>, dirty: &mut Vec<Dirty>| {
            if let Some(r) = f.geometry.bounding_rect() {
                dirty.push(Dirty { layer, region: r });
                // Households are scoped by the area tree: moving an area can change who
                // sees the households under it.
                if layer == "areas" {
                    dirty.push(Dirty {
                        layer: "households",
                        region: r,
                    });
                }
            }
        };
        if let Some(f) = &old {
            touched(f, &mut dirty);
        }
        if let Some(f) = &feature {
            touched(f, &mut dirty);
        }
        if layer == "households" {
            let grids: Vec<i64> = old
                .iter()
                .chain(feature.iter())
                .filter_map(household_grid)
                .collect();
            let before: Vec<Option<Point<f64>>> = grids
                .iter()
                .map(|g| self.clusters.get(g).and_then(Cluster::centre))
                .collect();
            if let Some(f) = &old {
                self.take_from_cluster(f);
            }
            if let Some(f) = &feature {
                self.add_to_cluster(f);
            }
            for (grid, was) in grids.iter().zip(before) {
                let now = self.clusters.get(grid).and_then(Cluster::centre);
                for p in [was, now].into_iter().flatten() {
                    dirty.push(Dirty {
                        layer: "households",
                        region: point_rect(p),
                    });
                }
                // The grid's household count is a property of its area feature.
                if let Some(r) = self.extent_of("areas", *grid) {
                    dirty.push(Dirty {
                        layer: "areas",
                        region: r,
                    });
                }
            }
        }
        if let Some(f) = feature {
            self.layers.entry(layer).or_default().upsert(f);
        }
        dirty
    }

    /// The MVT bytes of one layer's tile (empty when nothing is in it).
    pub fn render(&self, layer: &Layer, tile: TileCoord, visible: Visibility<'_>) -> Vec<u8> {
        if tile.z < layer.minzoom {
            return Vec::new();
        }
        let frame = TileFrame::new(tile);
        let mut encoder = LayerEncoder::new(layer.id);
        if layer.id == "households" {
            if matches!(visible, Visibility::Nothing) {
                return Vec::new();
            }
            if tile.z < CLUSTER_BELOW_ZOOM {
                self.render_clusters(&frame, &mut encoder, visible);
                return encoder.finish();
            }
        }
        let Some(source) = self.layers.get(layer.id) else {
            return Vec::new();
        };
        let grid_at = field_position(layer.id, "grid_id");
        let count_at = (layer.id == "areas")
            .then(|| field_position("areas", "households"))
            .flatten();
        let kind_at = field_position(layer.id, "kind");
        let mut features: Vec<&Indexed<TileProps>> = source.in_rect(frame.buffered()).collect();
        features.sort_unstable_by_key(|f| f.id);
        let mut computed: Vec<Option<PropValue>> = Vec::new();
        for f in features {
            if layer.id == "households" && !visible.shows(int_at(&f.data, grid_at)) {
                continue;
            }
            let Some(geometry) = frame.prepare(&f.geometry) else {
                continue;
            };
            let props: &TileProps = match count_at {
                Some(at) => {
                    computed.clone_from(&f.data);
                    let counted = matches!(
                        f.data.get(kind_at.unwrap_or(usize::MAX)),
                        Some(Some(PropValue::Text(k))) if &**k == "grid" || &**k == "lane"
                    );
                    if let Some(slot) = computed.get_mut(at) {
                        *slot = counted.then(|| PropValue::Int(self.households_of(f.id)));
                    }
                    &computed
                }
                None => &f.data,
            };
            encoder.add(
                f.id as u64,
                &geometry,
                layer
                    .fields
                    .iter()
                    .zip(props)
                    .filter_map(|(field, v)| v.as_ref().map(|v| (field.name, v))),
            );
        }
        encoder.finish()
    }

    fn render_clusters(&self, frame: &TileFrame, encoder: &mut LayerEncoder, visible: Visibility) {
        let area = frame.buffered();
        let mut clusters: Vec<(i64, Point<f64>, i64)> = self
            .clusters
            .iter()
            .filter(|(grid, _)| visible.shows(Some(**grid)))
            .filter_map(|(grid, c)| Some((*grid, c.centre()?, c.count)))
            .filter(|(_, p, _)| {
                let r = area;
                r.min().x <= p.x() && p.x() <= r.max().x && r.min().y <= p.y() && p.y() <= r.max().y
            })
            .collect();
        clusters.sort_unstable_by_key(|c| c.0);
        for (grid, centre, count) in clusters {
            let Some(geometry) = frame.prepare(&Geometry::Point(centre)) else {
                continue;
            };
            let grid_value = PropValue::Int(grid);
            let count_value = PropValue::Int(count);
            encoder.add(
                grid as u64,
                &geometry,
                [("grid_id", &grid_value), ("count", &count_value)],
            );
        }
    }
}

/// The tiles at zoom `z` that a region (plus the tile buffer) reaches, as x and y ranges.
pub fn tiles_touching(
    region: &Rect<f64>,
    z: u32,
) -> (std::ops::RangeInclusive<u32>, std::ops::RangeInclusive<u32>) {
    let n = 1u32 << z;
    let size = 2.0 * crate::tile::MERCATOR_HALF_WORLD / f64::from(n);
    let margin = size * f64::from(crate::vtile::BUFFER) / f64::from(crate::vtile::EXTENT);
    let to_x = |x: f64| {
        (((x + crate::tile::MERCATOR_HALF_WORLD) / size).floor()).clamp(0.0, f64::from(n - 1))
            as u32
    };
    let to_y = |y: f64| {
        (((crate::tile::MERCATOR_HALF_WORLD - y) / size).floor()).clamp(0.0, f64::from(n - 1))
            as u32
    };
    let r = Rect::new(
        coord! { x: region.min().x - margin, y: region.min().y - margin },
        coord! { x: region.max().x + margin, y: region.max().y + margin },
    );
    (
        to_x(r.min().x)..=to_x(r.max().x),
        to_y(r.max().y)..=to_y(r.min().y),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tile::lonlat_to_mercator;
    use crate::vtile::to_mercator;
    use geozero::mvt::{Message, Tile};
    use std::sync::Arc;

    fn household(id: i64, grid: i64, lon: f64, lat: f64) -> Indexed<TileProps> {
        Indexed {
            id,
            geometry: to_mercator(&Geometry::Point(Point::new(lon, lat))),
            data: vec![
                Some(PropValue::Int(id)),
                Some(PropValue::Int(grid)),
                Some(PropValue::Text(Arc::from(format!("{id}号").as_str()))),
            ],
        }
    }

    fn sources() -> TileSources {
        let mut by_layer = HashMap::new();
        by_layer.insert(
            "households",
            vec![
                household(1, 10, 9.5200, 47.1400),
                household(2, 10, 9.5210, 47.1410),
                household(3, 11, 9.5300, 47.1500),
            ],
        );
        TileSources::load(by_layer)
    }

    fn ids(bytes: &[u8]) -> Vec<u64> {
        if bytes.is_empty() {
            return Vec::new();
        }
        let tile = Tile::decode(bytes).expect("decodes");
        tile.layers[0]
            .features
            .iter()
            .filter_map(|f| f.id)
            .collect()
    }

    fn households_layer() -> &'static Layer {
        layers::layer("households").expect("households layer")
    }

    #[test]
    fn low_zooms_send_one_counted_point_per_grid() {
        let s = sources();
        let tile = TileCoord::containing(12, 9.525, 47.145).expect("tile");
        let bytes = s.render(households_layer(), tile, Visibility::All);
        assert_eq!(ids(&bytes), vec![10, 11], "clusters are named by grid");
        let tile = TileCoord::containing(16, 9.5200, 47.1400).expect("tile");
        assert_eq!(
            ids(&s.render(households_layer(), tile, Visibility::All)),
            vec![1, 2],
            "from z14 each household is its own point"
        );
    }

    #[test]
    fn households_outside_the_viewers_grids_are_not_sent() {
        let s = sources();
        let only_11: HashSet<i64> = [11].into();
        let tile = TileCoord::containing(12, 9.525, 47.145).expect("tile");
        let bytes = s.render(households_layer(), tile, Visibility::Grids(&only_11));
        assert_eq!(ids(&bytes), vec![11]);
        assert!(s
            .render(households_layer(), tile, Visibility::Nothing)
            .is_empty());
    }

    #[test]
    fn a_move_dirties_both_places_and_both_cluster_centres() {
        let mut s = sources();
        let moved = household(1, 11, 9.5600, 47.1700);
        let dirty = s.apply("households", 1, Some(moved));
        let (old_x, old_y) = lonlat_to_mercator(9.52, 47.14);
        let (new_x, new_y) = lonlat_to_mercator(9.56, 47.17);
        let covers = |x: f64, y: f64| {
            dirty.iter().any(|d| {
                d.layer == "households"
                    && d.region.min().x <= x
                    && x <= d.region.max().x
                    && d.region.min().y <= y
                    && y <= d.region.max().y
            })
        };
        assert!(covers(old_x, old_y) && covers(new_x, new_y));
        assert_eq!(s.households_of(10), 1);
        assert_eq!(s.households_of(11), 2);
        s.apply("households", 2, None);
        assert_eq!(s.households_of(10), 0);
    }

    #[test]
    fn touching_tiles_include_the_neighbour_across_the_buffer() {
        let t = TileCoord::new(14, 8625, 5762).expect("tile");
        let b = t.mercator_bounds();
        // A point just inside the tile's left edge also shows in the left neighbour's buffer.
        let p = coord! { x: b.min().x + 1.0, y: b.center().y };
        let (xs, ys) = tiles_touching(&Rect::new(p, p), 14);
        assert_eq!(xs, 8624..=8625);
        assert_eq!(ys, 5762..=5762);
    }
}
