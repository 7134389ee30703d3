//! In-memory R-trees of the layers: the cache of what PostGIS holds.
//!
//! Each layer keeps its features by id, and an `rstar` tree of their bounding boxes. Queries
//! first take the candidates whose box holds the point, then test the exact geometry, so an
//! answer is as precise as the stored geometry, not as its box.

use std::collections::HashMap;

use geo::{BoundingRect, Geometry, Intersects, Point, Rect};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};

use crate::area::{AreaKind, AreaRef};

type Entry = GeomWithData<Rectangle<[f64; 2]>, i64>;

/// One feature of a layer: its id, exact geometry and the layer's own attributes.
#[derive(Debug, Clone)]
pub struct Indexed<T> {
    pub id: i64,
    pub geometry: Geometry<f64>,
    pub data: T,
}

/// An R-tree of one layer, kept current by `upsert` and `remove`.
#[derive(Debug, Clone)]
pub struct LayerIndex<T> {
    tree: RTree<Entry>,
    features: HashMap<i64, (Entry, Indexed<T>)>,
}

impl<T> Default for LayerIndex<T> {
    fn default() -> Self {
        LayerIndex {
            tree: RTree::new(),
            features: HashMap::new(),
        }
    }
}

fn envelope(geometry: &Geometry<f64>) -> Option<Rectangle<[f64; 2]>> {
    let r = geometry.bounding_rect()?;
    Some(Rectangle::from_corners(
        [r.min().x, r.min().y],
        [r.max().x, r.max().y],
    ))
}

impl<T> LayerIndex<T> {
    /// Builds the tree in one bulk load, which packs it far better than repeated inserts.
    pub fn bulk_load(features: Vec<Indexed<T>>) -> Self {
        let mut by_id = HashMap::with_capacity(features.len());
        let mut entries = Vec::with_capacity(features.len());
        for f in features {
            if let Some(rect) = envelope(&f.geometry) {
                let entry = GeomWithData::new(rect, f.id);
                entries.push(entry);
                by_id.insert(f.id, (entry, f));
            }
        }
        LayerIndex {
            tree: RTree::bulk_load(entries),
            features: by_id,
        }
    }

    /// Inserts a feature or replaces the one with the same id. Features without extent
    /// (empty geometries) are removed instead, since nothing could ever find them.
    pub fn upsert(&mut self, feature: Indexed<T>) {
        self.remove(feature.id);
        if let Some(rect) = envelope(&feature.geometry) {
            let entry = GeomWithData::new(rect, feature.id);
            self.tree.insert(entry);
            self.features.insert(feature.id, (entry, feature));
        }
    }

    pub fn remove(&mut self, id: i64) -> Option<Indexed<T>> {
        let (entry, feature) = self.features.remove(&id)?;
        self.tree.remove(&entry);
        Some(feature)
    }

    pub fn get(&self, id: i64) -> Option<&Indexed<T>> {
        self.features.get(&id).map(|(_, f)| f)
    }

    pub fn len(&self) -> usize {
        self.features.len()
    }

    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Indexed<T>> {
        self.features.values().map(|(_, f)| f)
    }

    /// Features whose exact geometry intersects the point (boundaries included).
    pub fn at_point(&self, point: Point<f64>) -> impl Iterator<Item = &Indexed<T>> {
        self.tree
            .locate_all_at_point(&[point.x(), point.y()])
            .filter_map(|e| self.features.get(&e.data).map(|(_, f)| f))
            .filter(move |f| f.geometry.intersects(&point))
    }

    /// Features whose bounding box meets the rectangle (a coarse filter, as for tiles).
    pub fn in_rect(&self, rect: Rect<f64>) -> impl Iterator<Item = &Indexed<T>> {
        let aabb = AABB::from_corners([rect.min().x, rect.min().y], [rect.max().x, rect.max().y]);
        self.tree
            .locate_in_envelope_intersecting(&aabb)
            .filter_map(|e| self.features.get(&e.data).map(|(_, f)| f))
    }

    /// The bounding box of the whole layer, or `None` when it is empty.
    pub fn bounds(&self) -> Option<Rect<f64>> {
        if self.features.is_empty() {
            return None;
        }
        let e = self.tree.root().envelope();
        Some(Rect::new(
            geo::coord! { x: e.lower()[0], y: e.lower()[1] },
            geo::coord! { x: e.upper()[0], y: e.upper()[1] },
        ))
    }
}

/// What the area index keeps beside each geometry.
#[derive(Debug, Clone, PartialEq)]
pub struct AreaMeta {
    pub kind: AreaKind,
    pub code: String,
    pub name: String,
    pub parent_id: Option<i64>,
}

pub type AreaIndex = LayerIndex<AreaMeta>;

impl LayerIndex<AreaMeta> {
    /// The chain of areas containing a point, from the township down to the deepest level
    /// (township → village → hamlet → grid → lane, skipping levels that are absent).
    ///
    /// Where siblings touch, a point on the shared edge belongs to both; the chain then
    /// follows the parent links from the deepest area so that it is always one consistent
    /// path of the tree, and ties among the deepest are broken by the smaller id.
    pub fn locate(&self, point: Point<f64>) -> Vec<AreaRef> {
        // Deepest level first, smaller id first: the first area that holds the point is the
        // answer, and the large township and village outlines are rarely tested at all.
        let mut candidates: Vec<&Indexed<AreaMeta>> = self
            .tree
            .locate_all_at_point(&[point.x(), point.y()])
            .filter_map(|e| self.features.get(&e.data).map(|(_, f)| f))
            .collect();
        candidates.sort_unstable_by(|a, b| {
            b.data
                .kind
                .rank()
                .cmp(&a.data.kind.rank())
                .then(a.id.cmp(&b.id))
        });
        let deepest = candidates
            .into_iter()
            .find(|f| f.geometry.intersects(&point))
            .map(|f| f.id);
        let mut chain = Vec::new();
        let mut next = deepest;
        while let Some(id) = next {
            let Some(area) = self.get(id) else { break };
            chain.push(AreaRef {
                id,
                kind: area.data.kind,
                code: area.data.code.clone(),
                name: area.data.name.clone(),
            });
            // A cycle cannot be stored (parents rank strictly lower), but never loop forever.
            if chain.len() > AreaKind::ALL.len() {
                break;
            }
            next = area.data.parent_id;
        }
        chain.reverse();
        chain
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{polygon, MultiPolygon};

    fn square(x0: f64, y0: f64, size: f64) -> Geometry<f64> {
        Geometry::MultiPolygon(MultiPolygon(vec![polygon![
            (x: x0, y: y0),
            (x: x0 + size, y: y0),
            (x: x0 + size, y: y0 + size),
            (x: x0, y: y0 + size),
        ]]))
    }

    fn area(id: i64, kind: AreaKind, parent: Option<i64>, g: Geometry<f64>) -> Indexed<AreaMeta> {
        Indexed {
            id,
            geometry: g,
            data: AreaMeta {
                kind,
                code: format!("c{id}"),
                name: format!("n{id}"),
                parent_id: parent,
            },
        }
    }

    fn demo_tree() -> AreaIndex {
        LayerIndex::bulk_load(vec![
            area(1, AreaKind::Township, None, square(0.0, 0.0, 4.0)),
            area(2, AreaKind::Village, Some(1), square(0.0, 0.0, 2.0)),
            area(3, AreaKind::Village, Some(1), square(2.0, 0.0, 2.0)),
            area(4, AreaKind::Grid, Some(2), square(0.0, 0.0, 1.0)),
            area(5, AreaKind::Grid, Some(2), square(1.0, 0.0, 1.0)),
        ])
    }

    #[test]
    fn locate_returns_the_chain_top_down() {
        let idx = demo_tree();
        let chain: Vec<i64> = idx
            .locate(Point::new(0.5, 0.5))
            .iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(chain, vec![1, 2, 4]);
        let chain: Vec<i64> = idx
            .locate(Point::new(3.0, 1.0))
            .iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(chain, vec![1, 3], "a village without grids ends the chain");
        assert!(idx.locate(Point::new(9.0, 9.0)).is_empty());
    }

    #[test]
    fn exact_geometry_decides_not_the_bounding_box() {
        // An L-shaped village: its box holds (1.5, 1.5) but the polygon does not.
        let l_shape = Geometry::MultiPolygon(MultiPolygon(vec![polygon![
            (x: 0.0, y: 0.0), (x: 2.0, y: 0.0), (x: 2.0, y: 1.0),
            (x: 1.0, y: 1.0), (x: 1.0, y: 2.0), (x: 0.0, y: 2.0),
        ]]));
        let idx = LayerIndex::bulk_load(vec![area(7, AreaKind::Village, None, l_shape)]);
        assert_eq!(idx.at_point(Point::new(0.5, 1.5)).count(), 1);
        assert_eq!(idx.at_point(Point::new(1.5, 1.5)).count(), 0);
    }

    #[test]
    fn shared_edge_resolves_to_one_consistent_chain() {
        let idx = demo_tree();
        let chain = idx.locate(Point::new(1.0, 0.5));
        let ids: Vec<i64> = chain.iter().map(|a| a.id).collect();
        assert_eq!(ids, vec![1, 2, 4]);
    }

    #[test]
    fn upsert_moves_and_remove_forgets() {
        let mut idx = demo_tree();
        idx.upsert(area(4, AreaKind::Grid, Some(2), square(0.0, 1.0, 1.0)));
        let ids: Vec<i64> = idx
            .locate(Point::new(0.5, 0.5))
            .iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(ids, vec![1, 2]);
        let ids: Vec<i64> = idx
            .locate(Point::new(0.5, 1.5))
            .iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(ids, vec![1, 2, 4]);
        idx.remove(4);
        assert_eq!(idx.len(), 4);
        assert_eq!(idx.locate(Point::new(0.5, 1.5)).len(), 2);
    }

    #[test]
    fn bounds_cover_every_feature() {
        let b = demo_tree().bounds().unwrap();
        assert_eq!(
            (b.min().x, b.min().y, b.max().x, b.max().y),
            (0.0, 0.0, 4.0, 4.0)
        );
        assert!(AreaIndex::default().bounds().is_none());
    }
}
