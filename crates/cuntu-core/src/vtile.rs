//! Vector tiles (MVT 2.1) encoded from the in-memory layers, without a database round trip.
//!
//! The geometry pipeline follows what PostGIS 3.3 `ST_AsMVTGeom` does, so that both paths
//! give the same tile (a test compares them): per zoom, drop each vertex within half a tile
//! unit of the previous one, clip to the tile plus its buffer, move to tile units (y down),
//! snap to the integer grid, drop repeated and collinear points and collapsed parts, and wind
//! polygon rings as MVT wants them (exterior clockwise on screen). Geometries arrive already in Web Mercator metres: they are
//! projected once when loaded, not on every request.
//!
//! The protobuf itself is geozero's (`geozero::mvt`), the encoder of the Rust GIS stack.

use std::sync::Arc;

use geo::{
    coord, BoundingRect, Coord, Geometry, LineString, MapCoords, MultiLineString, MultiPoint,
    MultiPolygon, Point, Polygon, Rect, Simplify,
};
use geozero::mvt::tile::{Feature, Layer};
use geozero::mvt::{Message, TagsBuilder, Tile, TileValue};
use geozero::ToMvt;

use crate::tile::{lonlat_to_mercator, TileCoord};

/// Tile units across a tile, as every MVT client expects by default.
pub const EXTENT: u32 = 4096;
/// Tile units drawn beyond each edge, so that lines and symbols continue across tiles.
pub const BUFFER: u32 = 64;

/// A property value of a tile feature. Text is shared, since many features repeat it.
#[derive(Debug, Clone, PartialEq)]
pub enum PropValue {
    Int(i64),
    Text(Arc<str>),
}

impl From<&serde_json::Value> for PropValue {
    fn from(v: &serde_json::Value) -> Self {
        match v {
            serde_json::Value::Number(n) if n.is_i64() => PropValue::Int(n.as_i64().unwrap_or(0)),
            serde_json::Value::String(s) => PropValue::Text(Arc::from(s.as_str())),
            other => PropValue::Text(Arc::from(other.to_string().as_str())),
        }
    }
}

/// The properties of one feature, in the order of its layer's catalogue fields; `None` is
/// a null, which MVT leaves out.
pub type TileProps = Vec<Option<PropValue>>;

/// Projects a longitude/latitude geometry to Web Mercator metres.
pub fn to_mercator(geometry: &Geometry<f64>) -> Geometry<f64> {
    geometry.map_coords(|c| {
        let (x, y) = lonlat_to_mercator(c.x, c.y);
        coord! { x: x, y: y }
    })
}

/// Where one tile sits in Web Mercator, and how metres become tile units.
#[derive(Debug, Clone, Copy)]
pub struct TileFrame {
    pub tile: TileCoord,
    left: f64,
    top: f64,
    /// Metres per tile unit.
    unit: f64,
}

impl TileFrame {
    pub fn new(tile: TileCoord) -> Self {
        let bounds = tile.mercator_bounds();
        let size = bounds.width();
        TileFrame {
            tile,
            left: bounds.min().x,
            top: bounds.max().y,
            unit: size / f64::from(EXTENT),
        }
    }

    /// Metres per tile unit at this zoom.
    pub fn unit(&self) -> f64 {
        self.unit
    }

    /// The tile with its buffer, in Web Mercator metres: what a feature must meet to appear.
    pub fn buffered(&self) -> Rect<f64> {
        let b = f64::from(BUFFER) * self.unit;
        let size = f64::from(EXTENT) * self.unit;
        Rect::new(
            coord! { x: self.left - b, y: self.top - size - b },
            coord! { x: self.left + size + b, y: self.top + b },
        )
    }

    fn in_units(&self, c: Coord<f64>) -> Coord<f64> {
        coord! {
            x: ((c.x - self.left) / self.unit).round(),
            y: ((self.top - c.y) / self.unit).round(),
        }
    }

    /// A Web Mercator geometry as it goes into this tile, in integer tile units; `None` when
    /// nothing of it is left (outside the buffer, or smaller than a unit).
    pub fn prepare(&self, geometry: &Geometry<f64>) -> Option<Geometry<f64>> {
        let clip = self.buffered();
        let tolerance = self.unit / 2.0;
        match geometry {
            Geometry::Point(p) => self.points(&[*p], &clip),
            Geometry::MultiPoint(mp) => self.points(&mp.0, &clip),
            Geometry::LineString(ls) => {
                self.lines(&MultiLineString(vec![ls.clone()]), &clip, tolerance)
            }
            Geometry::MultiLineString(mls) => self.lines(mls, &clip, tolerance),
            Geometry::Polygon(p) => self.polygons(&MultiPolygon(vec![p.clone()]), &clip, tolerance),
            Geometry::MultiPolygon(mp) => self.polygons(mp, &clip, tolerance),
            _ => None,
        }
    }

    fn points(&self, points: &[Point<f64>], clip: &Rect<f64>) -> Option<Geometry<f64>> {
        let mut kept: Vec<Point<f64>> = points
            .iter()
            .filter(|p| within(clip, p.0))
            .map(|p| Point(self.in_units(p.0)))
            .collect();
        kept.dedup();
        match kept.len() {
            0 => None,
            1 => Some(Geometry::Point(kept[0])),
            _ => Some(Geometry::MultiPoint(MultiPoint(kept))),
        }
    }

    /// A line in rounded tile units, without repeated points.
    fn snapped_line(&self, line: &LineString<f64>) -> LineString<f64> {
        let mut coords: Vec<Coord<f64>> = line.0.iter().map(|c| self.in_units(*c)).collect();
        coords.dedup();
        LineString(coords)
    }

    /// The box features are clipped to, in tile units: the tile and its buffer.
    fn clip_box() -> Rect<f64> {
        let (lo, hi) = (-f64::from(BUFFER), f64::from(EXTENT + BUFFER));
        Rect::new(coord! { x: lo, y: lo }, coord! { x: hi, y: hi })
    }

    fn lines(
        &self,
        lines: &MultiLineString<f64>,
        clip: &Rect<f64>,
        tolerance: f64,
    ) -> Option<Geometry<f64>> {
        match lines.bounding_rect() {
            Some(b) if clip.intersects_rect(&b) => {}
            _ => return None,
        }
        // As ST_AsMVTGeom: thin out, snap to the grid, then clip in tile units.
        let snapped = MultiLineString(
            lines
                .0
                .iter()
                .map(|ls| self.snapped_line(&drop_repeated(ls, tolerance, 2)))
                .filter(|ls| ls.0.len() >= 2)
                .collect(),
        );
        let tile_box = Self::clip_box();
        let clipped = match snapped.bounding_rect() {
            Some(b) if contains_rect(&tile_box, &b) => snapped,
            Some(_) => MultiLineString(
                snapped
                    .0
                    .iter()
                    .flat_map(|ls| clip_line(&ls.0, &tile_box))
                    .map(LineString)
                    .collect(),
            ),
            None => return None,
        };
        let parts: Vec<LineString<f64>> = clipped
            .0
            .iter()
            .filter_map(|ls| {
                let mut coords: Vec<Coord<f64>> = ls.0.iter().map(|c| round(*c)).collect();
                coords.dedup();
                let line = LineString(coords).simplify(0.0);
                (line.0.len() >= 2 && !along_edge(&line, &tile_box)).then_some(line)
            })
            .collect();
        match parts.len() {
            0 => None,
            1 => parts.into_iter().next().map(Geometry::LineString),
            _ => Some(Geometry::MultiLineString(MultiLineString(parts))),
        }
    }

    fn polygons(
        &self,
        polygons: &MultiPolygon<f64>,
        clip: &Rect<f64>,
        tolerance: f64,
    ) -> Option<Geometry<f64>> {
        match polygons.bounding_rect() {
            Some(b) if clip.intersects_rect(&b) => {}
            _ => return None,
        }
        // A township's outline has a thousand points or more, and at street zooms most tiles
        // lie wholly inside it or wholly outside: such a part is the buffered tile itself, or
        // nothing, which a walk along its edges tells without thinning, snapping or clipping.
        let guard = grow(clip, 2.0 * self.unit);
        let mut covering = 0;
        let mut crossing = Vec::new();
        for p in &polygons.0 {
            match enclosure(p, &guard) {
                Enclosure::Outside => {}
                Enclosure::Covers => covering += 1,
                Enclosure::Crosses => crossing.push(p),
            }
        }
        // As ST_AsMVTGeom: thin out, snap to the grid, then clip in tile units.
        let snapped = MultiPolygon(
            crossing
                .into_iter()
                .filter_map(|p| {
                    let exterior = self.snapped_line(&drop_repeated(p.exterior(), tolerance, 4));
                    (exterior.0.len() >= 4).then(|| {
                        Polygon::new(
                            exterior,
                            p.interiors()
                                .iter()
                                .map(|r| self.snapped_line(&drop_repeated(r, tolerance, 4)))
                                .filter(|r| r.0.len() >= 4)
                                .collect(),
                        )
                    })
                })
                .collect(),
        );
        let tile_box = Self::clip_box();
        let clipped = match snapped.bounding_rect() {
            _ if snapped.0.is_empty() => snapped,
            Some(b) if contains_rect(&tile_box, &b) => snapped,
            // Sutherland-Hodgman per ring: where a concave outline leaves and re-enters the
            // box, the piece between runs along the box's edge, in the buffer, out of sight.
            Some(_) => MultiPolygon(
                snapped
                    .0
                    .iter()
                    .filter_map(|p| {
                        let exterior = clip_ring(p.exterior(), &tile_box)?;
                        let holes = p
                            .interiors()
                            .iter()
                            .filter_map(|r| clip_ring(r, &tile_box))
                            .collect();
                        Some(Polygon::new(exterior, holes))
                    })
                    .collect(),
            ),
            None => return None,
        };
        let mut parts = Vec::new();
        if covering > 0 {
            let (lo, hi) = (tile_box.min(), tile_box.max());
            let whole = LineString(vec![
                lo,
                coord! { x: hi.x, y: lo.y },
                hi,
                coord! { x: lo.x, y: hi.y },
                lo,
            ]);
            if let Some(exterior) = ring(&whole, true) {
                parts.extend((0..covering).map(|_| Polygon::new(exterior.clone(), Vec::new())));
            }
        }
        for polygon in &clipped.0 {
            let Some(exterior) = ring(polygon.exterior(), true) else {
                continue;
            };
            let interiors = polygon
                .interiors()
                .iter()
                .filter_map(|r| ring(r, false))
                .collect();
            parts.push(Polygon::new(exterior, interiors));
        }
        match parts.len() {
            0 => None,
            1 => parts.into_iter().next().map(Geometry::Polygon),
            _ => Some(Geometry::MultiPolygon(MultiPolygon(parts))),
        }
    }
}

/// How a polygon lies towards a box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Enclosure {
    /// No edge meets the box and the box is outside (or inside a hole).
    Outside,
    /// No edge meets the box and the box is inside, clear of every hole.
    Covers,
    /// Some edge meets the box: the polygon must be clipped.
    Crosses,
}

fn enclosure(polygon: &Polygon<f64>, b: &Rect<f64>) -> Enclosure {
    let meets = |ring: &LineString<f64>| {
        ring.0
            .windows(2)
            .any(|w| clip_segment(w[0], w[1], b).is_some())
    };
    if meets(polygon.exterior()) {
        return Enclosure::Crosses;
    }
    let centre = b.center();
    if !encircles(polygon.exterior(), centre) {
        return Enclosure::Outside;
    }
    for hole in polygon.interiors() {
        if meets(hole) {
            return Enclosure::Crosses;
        }
        if encircles(hole, centre) {
            return Enclosure::Outside;
        }
    }
    Enclosure::Covers
}

/// Whether a closed ring goes around a point (crossing number).
fn encircles(ring: &LineString<f64>, p: Coord<f64>) -> bool {
    let mut inside = false;
    for w in ring.0.windows(2) {
        let (a, c) = (w[0], w[1]);
        if (a.y > p.y) != (c.y > p.y) {
            let x = a.x + (p.y - a.y) / (c.y - a.y) * (c.x - a.x);
            if p.x < x {
                inside = !inside;
            }
        }
    }
    inside
}

/// A box grown by `by` on every side.
fn grow(b: &Rect<f64>, by: f64) -> Rect<f64> {
    Rect::new(
        coord! { x: b.min().x - by, y: b.min().y - by },
        coord! { x: b.max().x + by, y: b.max().y + by },
    )
}

/// A closed ring cut to a box (Sutherland-Hodgman, one box edge at a time); `None` when
/// nothing of it is inside.
fn clip_ring(ring: &LineString<f64>, b: &Rect<f64>) -> Option<LineString<f64>> {
    let mut points: Vec<Coord<f64>> = ring.0.clone();
    if points.first() == points.last() {
        points.pop();
    }
    type Inside = fn(Coord<f64>, f64) -> bool;
    type Cross = fn(Coord<f64>, Coord<f64>, f64) -> Coord<f64>;
    let at_x = |a: Coord<f64>, c: Coord<f64>, x: f64| {
        let t = (x - a.x) / (c.x - a.x);
        coord! { x: x, y: a.y + t * (c.y - a.y) }
    };
    let at_y = |a: Coord<f64>, c: Coord<f64>, y: f64| {
        let t = (y - a.y) / (c.y - a.y);
        coord! { x: a.x + t * (c.x - a.x), y: y }
    };
    let edges: [(Inside, Cross, f64); 4] = [
        (|c, v| c.x >= v, at_x, b.min().x),
        (|c, v| c.x <= v, at_x, b.max().x),
        (|c, v| c.y >= v, at_y, b.min().y),
        (|c, v| c.y <= v, at_y, b.max().y),
    ];
    for (inside, cross, v) in edges {
        if points.is_empty() {
            return None;
        }
        let mut out = Vec::with_capacity(points.len() + 4);
        let mut previous = points[points.len() - 1];
        for &current in &points {
            match (inside(current, v), inside(previous, v)) {
                (true, true) => out.push(current),
                (true, false) => {
                    out.push(cross(previous, current, v));
                    out.push(current);
                }
                (false, true) => out.push(cross(previous, current, v)),
                (false, false) => {}
            }
            previous = current;
        }
        points = out;
    }
    if points.len() < 3 {
        return None;
    }
    points.push(points[0]);
    Some(LineString(points))
}

/// The pieces of a line inside a box (Liang-Barsky, segment by segment): a general polygon
/// clip costs far more, and most lines only cross an edge or two.
fn clip_line(line: &[Coord<f64>], b: &Rect<f64>) -> Vec<Vec<Coord<f64>>> {
    let mut pieces = Vec::new();
    let mut current: Vec<Coord<f64>> = Vec::new();
    for w in line.windows(2) {
        match clip_segment(w[0], w[1], b) {
            Some((from, to, entered, left)) => {
                if entered || current.last() != Some(&from) {
                    if current.len() >= 2 {
                        pieces.push(std::mem::take(&mut current));
                    }
                    current.clear();
                    current.push(from);
                }
                current.push(to);
                if left {
                    pieces.push(std::mem::take(&mut current));
                }
            }
            None => {
                if current.len() >= 2 {
                    pieces.push(std::mem::take(&mut current));
                }
                current.clear();
            }
        }
    }
    if current.len() >= 2 {
        pieces.push(current);
    }
    pieces
}

/// The part of segment a-b inside the box, and whether it was cut at its start or its end.
fn clip_segment(
    a: Coord<f64>,
    b: Coord<f64>,
    r: &Rect<f64>,
) -> Option<(Coord<f64>, Coord<f64>, bool, bool)> {
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, a.x - r.min().x),
        (dx, r.max().x - a.x),
        (-dy, a.y - r.min().y),
        (dy, r.max().y - a.y),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let t = q / p;
            if p < 0.0 {
                if t > t1 {
                    return None;
                }
                t0 = t0.max(t);
            } else {
                if t < t0 {
                    return None;
                }
                t1 = t1.min(t);
            }
        }
    }
    let at = |t: f64| coord! { x: a.x + t * dx, y: a.y + t * dy };
    Some((at(t0), at(t1), t0 > 0.0, t1 < 1.0))
}

/// Whether a clipped line runs only along one edge of the clip box: what is left of a line
/// outside the box that touched it. Clipping counts the edge as outside.
fn along_edge(line: &LineString<f64>, b: &Rect<f64>) -> bool {
    let all = |f: &dyn Fn(&Coord<f64>) -> bool| line.0.iter().all(f);
    all(&|c| c.x == b.min().x)
        || all(&|c| c.x == b.max().x)
        || all(&|c| c.y == b.min().y)
        || all(&|c| c.y == b.max().y)
}

fn round(c: Coord<f64>) -> Coord<f64> {
    coord! { x: c.x.round(), y: c.y.round() }
}

/// A ring snapped to whole tile units, wound for MVT: exterior rings with positive area on
/// screen (y down), holes negative. `None` when it collapses to less than a triangle.
fn ring(ring: &LineString<f64>, exterior: bool) -> Option<LineString<f64>> {
    let mut coords: Vec<Coord<f64>> = ring.0.iter().map(|c| round(*c)).collect();
    coords.dedup();
    // Points on a straight run of the snapped ring say nothing; spikes (the ring going
    // out and straight back) are not valid rings, and PostGIS repairs them away too.
    let mut coords = drop_spikes(LineString(coords).simplify(0.0).0);
    if coords.first() != coords.last() {
        if let Some(first) = coords.first().copied() {
            coords.push(first);
        }
    }
    if coords.len() < 4 {
        return None;
    }
    let area = screen_area(&coords);
    if area == 0.0 {
        return None;
    }
    if (area > 0.0) != exterior {
        coords.reverse();
    }
    Some(LineString(coords))
}

/// Drops each point within `tolerance` of the last one kept, as PostGIS does before it
/// simplifies a tile geometry; the last point always stays, and at least `keep` points do.
fn drop_repeated(line: &LineString<f64>, tolerance: f64, keep: usize) -> LineString<f64> {
    let n = line.0.len();
    if n <= keep {
        return line.clone();
    }
    let tolerance_sq = tolerance * tolerance;
    let mut out: Vec<Coord<f64>> = Vec::with_capacity(n);
    out.push(line.0[0]);
    for (i, c) in line.0.iter().enumerate().skip(1) {
        let last_point = i == n - 1;
        // Never drop below `keep` points in all.
        let can_drop = n - i + out.len() > keep;
        if can_drop {
            let last = out[out.len() - 1];
            let d = (c.x - last.x).powi(2) + (c.y - last.y).powi(2);
            if !last_point && d <= tolerance_sq {
                continue;
            }
            // The last point stays; the one before it goes if they are too close.
            if last_point && out.len() > 1 && d <= tolerance_sq {
                out.pop();
            }
        }
        out.push(*c);
    }
    LineString(out)
}

/// Removes each vertex where a closed ring turns straight back on itself, until none is left.
fn drop_spikes(mut ring: Vec<Coord<f64>>) -> Vec<Coord<f64>> {
    loop {
        // Work on the open ring so the closing vertex is checked like the others.
        ring.pop();
        let n = ring.len();
        if n < 3 {
            ring.extend(ring.first().copied());
            return ring;
        }
        let spike = (0..n).find(|&i| {
            let a = ring[(i + n - 1) % n];
            let b = ring[i];
            let c = ring[(i + 1) % n];
            let (u, v) = (b - a, c - b);
            u.x * v.y - u.y * v.x == 0.0 && u.x * v.x + u.y * v.y < 0.0
        });
        match spike {
            Some(i) => {
                ring.remove(i);
                ring.dedup();
                if ring.len() > 1 && ring.first() == ring.last() {
                    ring.pop();
                }
                ring.extend(ring.first().copied());
            }
            None => {
                ring.extend(ring.first().copied());
                return ring;
            }
        }
    }
}

trait RectExt {
    fn intersects_rect(&self, other: &Rect<f64>) -> bool;
}

impl RectExt for Rect<f64> {
    fn intersects_rect(&self, o: &Rect<f64>) -> bool {
        self.min().x <= o.max().x
            && o.min().x <= self.max().x
            && self.min().y <= o.max().y
            && o.min().y <= self.max().y
    }
}

fn within(r: &Rect<f64>, c: Coord<f64>) -> bool {
    r.min().x <= c.x && c.x <= r.max().x && r.min().y <= c.y && c.y <= r.max().y
}

fn contains_rect(outer: &Rect<f64>, inner: &Rect<f64>) -> bool {
    within(outer, inner.min()) && within(outer, inner.max())
}

/// Twice the signed area by the shoelace formula, in tile units with y pointing down.
fn screen_area(coords: &[Coord<f64>]) -> f64 {
    coords
        .windows(2)
        .map(|w| w[0].x * w[1].y - w[1].x * w[0].y)
        .sum()
}

/// Builds one layer of one tile, feature by feature.
pub struct LayerEncoder {
    name: String,
    tags: TagsBuilder,
    features: Vec<Feature>,
}

impl LayerEncoder {
    pub fn new(name: &str) -> Self {
        LayerEncoder {
            name: name.to_string(),
            tags: TagsBuilder::new(),
            features: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    /// Adds a feature whose geometry is already in integer tile units (see
    /// [`TileFrame::prepare`]), with its properties (nulls are left out).
    pub fn add<'a>(
        &mut self,
        id: u64,
        geometry: &Geometry<f64>,
        properties: impl IntoIterator<Item = (&'a str, &'a PropValue)>,
    ) {
        // Coordinates are integers already: geozero writes the commands as they are.
        let Ok(mut feature) = geometry.to_mvt_unscaled() else {
            return;
        };
        if feature.geometry.is_empty() {
            return;
        }
        feature.id = Some(id);
        for (key, value) in properties {
            let value = match value {
                PropValue::Int(i) if *i >= 0 => TileValue::Uint(*i as u64),
                PropValue::Int(i) => TileValue::Sint(*i),
                PropValue::Text(s) => TileValue::Str(s.to_string()),
            };
            let (k, v) = self.tags.insert_ref(key, value);
            feature.tags.push(k);
            feature.tags.push(v);
        }
        self.features.push(feature);
    }

    /// The protobuf of a tile holding this one layer; empty when the layer has no feature.
    pub fn finish(self) -> Vec<u8> {
        if self.features.is_empty() {
            return Vec::new();
        }
        let (keys, values) = self.tags.into_tags();
        let layer = Layer {
            version: 2,
            name: self.name,
            features: self.features,
            keys,
            values: values.into_iter().map(Into::into).collect(),
            extent: Some(EXTENT),
        };
        Tile {
            layers: vec![layer],
        }
        .encode_to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::polygon;
    use geozero::mvt::tile::GeomType;

    fn frame() -> TileFrame {
        TileFrame::new(TileCoord::new(14, 8625, 5762).expect("a valid tile"))
    }

    fn decode(bytes: &[u8]) -> Tile {
        Tile::decode(bytes).expect("a tile that decodes")
    }

    #[test]
    fn points_outside_the_buffer_are_left_out_and_inside_are_snapped() {
        let f = frame();
        let r = f.buffered();
        let inside = Point::new(r.min().x + 70.0 * f.unit(), r.max().y - 70.3 * f.unit());
        let outside = Point::new(r.min().x - f.unit(), r.max().y);
        assert_eq!(
            f.prepare(&Geometry::Point(inside)),
            Some(Geometry::Point(Point::new(6.0, 6.0)))
        );
        assert_eq!(f.prepare(&Geometry::Point(outside)), None);
    }

    #[test]
    fn polygons_are_clipped_to_the_buffer_and_wound_clockwise_on_screen() {
        let f = frame();
        let r = f.buffered();
        let (x0, y0) = (r.min().x + 100.0 * f.unit(), r.min().y + 100.0 * f.unit());
        // A square reaching far beyond the tile's right edge, given counter-clockwise.
        let big = polygon![
            (x: x0, y: y0), (x: x0 + 1e6, y: y0), (x: x0 + 1e6, y: y0 + 1000.0 * f.unit()),
            (x: x0, y: y0 + 1000.0 * f.unit()),
        ];
        let Some(Geometry::Polygon(p)) = f.prepare(&Geometry::Polygon(big)) else {
            panic!("the clipped square");
        };
        let xs: Vec<f64> = p.exterior().0.iter().map(|c| c.x).collect();
        let max_x = xs.iter().cloned().fold(f64::MIN, f64::max);
        assert_eq!(max_x, f64::from(EXTENT + BUFFER), "clipped at the buffer");
        assert!(
            screen_area(&p.exterior().0) > 0.0,
            "exterior clockwise on screen"
        );
    }

    #[test]
    fn a_polygon_smaller_than_a_unit_disappears() {
        let f = frame();
        let r = f.buffered();
        let (x, y) = (r.min().x + 500.0 * f.unit(), r.min().y + 500.0 * f.unit());
        let u = f.unit() * 0.2;
        let tiny = polygon![(x: x, y: y), (x: x + u, y: y), (x: x + u, y: y + u), (x: x, y: y + u)];
        assert_eq!(f.prepare(&Geometry::Polygon(tiny)), None);
    }

    #[test]
    fn lines_crossing_the_tile_are_cut_at_the_buffer() {
        let f = frame();
        let r = f.buffered();
        let y = r.min().y + 2000.0 * f.unit();
        let line = LineString::from(vec![(r.min().x - 1e5, y), (r.max().x + 1e5, y)]);
        let Some(Geometry::LineString(ls)) = f.prepare(&Geometry::LineString(line)) else {
            panic!("one line");
        };
        let b = i64::from(BUFFER) as f64;
        assert_eq!(ls.0.first().map(|c| c.x), Some(-b));
        assert_eq!(ls.0.last().map(|c| c.x), Some(f64::from(EXTENT) + b));
    }

    #[test]
    fn a_line_leaving_and_coming_back_becomes_two_pieces() {
        let b = Rect::new(coord! { x: 0.0, y: 0.0 }, coord! { x: 10.0, y: 10.0 });
        let line = [
            coord! { x: 2.0, y: 5.0 },
            coord! { x: 20.0, y: 5.0 },
            coord! { x: 20.0, y: 8.0 },
            coord! { x: 5.0, y: 8.0 },
            coord! { x: 5.0, y: 9.0 },
        ];
        let pieces = clip_line(&line, &b);
        assert_eq!(
            pieces,
            vec![
                vec![coord! { x: 2.0, y: 5.0 }, coord! { x: 10.0, y: 5.0 }],
                vec![
                    coord! { x: 10.0, y: 8.0 },
                    coord! { x: 5.0, y: 8.0 },
                    coord! { x: 5.0, y: 9.0 }
                ],
            ]
        );
        assert!(clip_line(
            &[coord! { x: 20.0, y: 0.0 }, coord! { x: 30.0, y: 5.0 }],
            &b
        )
        .is_empty());
    }

    #[test]
    fn encoded_features_keep_id_type_properties_and_coordinates() {
        let mut layer = LayerEncoder::new("households");
        let name = PropValue::Text(Arc::from("12号"));
        let grid = PropValue::Int(7);
        layer.add(
            42,
            &Geometry::Point(Point::new(100.0, 200.0)),
            [("house_number", &name), ("grid_id", &grid)],
        );
        let square = polygon![(x: 0.0, y: 0.0), (x: 10.0, y: 0.0), (x: 10.0, y: 10.0), (x: 0.0, y: 10.0), (x: 0.0, y: 0.0)];
        layer.add(43, &Geometry::Polygon(square), []);
        let tile = decode(&layer.finish());
        let l = &tile.layers[0];
        assert_eq!(l.name, "households");
        assert_eq!(l.extent, Some(EXTENT));
        assert_eq!(l.features[0].id, Some(42));
        assert_eq!(l.features[0].r#type(), GeomType::Point);
        // MoveTo(1), zigzag(100), zigzag(200).
        assert_eq!(l.features[0].geometry, vec![9, 200, 400]);
        assert_eq!(
            l.keys,
            vec!["house_number".to_string(), "grid_id".to_string()]
        );
        assert_eq!(l.features[1].r#type(), GeomType::Polygon);
        // MoveTo, LineTo(3), ClosePath: the closing point is not repeated.
        assert_eq!(l.features[1].geometry.len(), 3 + 1 + 6 + 1);
        assert_eq!(l.features[1].geometry.last(), Some(&15));
    }

    #[test]
    fn an_empty_layer_encodes_to_no_bytes() {
        assert!(LayerEncoder::new("roads").finish().is_empty());
    }
}
