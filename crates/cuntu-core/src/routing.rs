//! Grid workers' routes: shortest walks on the road network and the order of the stops.
//!
//! A [`RoadNetwork`] is built once from the roads (lon/lat line strings, joined where they share
//! a vertex as OSM ways do): nodes are the junctions and the ends of roads, edges the stretches
//! of road between them, weighted by their length in metres. Shortest paths come from a
//! contraction hierarchy (`fast_paths`); the distances between all the stops of a request are
//! one upward search per stop and direction with buckets (the many-to-many CH query), so a
//! route of 60 stops costs about 120 small searches, not 3,600 point-to-point queries.
//!
//! A stop joins the network at the nearest point of the nearest edge (an `rstar` tree of the
//! edge segments); the straight walk to that point and the partial edge pieces count in the
//! distances and appear in the geometry. [`order_stops`] orders the stops on the distance
//! matrix (an open path from the start).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;

use fast_paths::{FastGraph, FastGraph32, InputGraph, PathCalculator};
use geo::{coord, Coord, LineString, Point};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rstar::primitives::{GeomWithData, Line};
use rstar::RTree;

use crate::metric::LocalMetric;

/// Vertices whose coordinates agree at this many units per degree are one vertex (1e-7°, OSM's
/// own precision, about a centimetre).
const UNITS_PER_DEGREE: f64 = 1e7;

/// The contraction hierarchy works on integers: millimetres, unless the network is so long
/// that its total would not fit the 32-bit weights of the hierarchy's upward graph.
const MAX_SCALE: f64 = 1000.0;
const MAX_TOTAL_WEIGHT: f64 = 2.0e9;

type Segment = GeomWithData<Line<[f64; 2]>, (u32, u32)>;

/// A vertex and its key (coordinates in units of 1e-7°).
type Vertex = (Coord<f64>, (i64, i64));

/// A stretch of road between two nodes.
#[derive(Debug, Clone)]
struct Edge {
    from: usize,
    to: usize,
    length_m: f64,
    /// Vertices in lon/lat, first at `from`, last at `to`.
    degrees: Vec<Coord<f64>>,
    /// The same vertices in the network's metric plane.
    metres: Vec<Coord<f64>>,
    /// Distance along the edge of each vertex, from `from`.
    along: Vec<f64>,
}

struct Hierarchy {
    graph: FastGraph,
    /// The same hierarchy with public fields, for the many-to-many searches.
    up: FastGraph32,
    /// Integer weight units per metre.
    scale: f64,
}

/// The road network of a township or county, ready for routes.
pub struct RoadNetwork {
    metric: LocalMetric,
    /// Node positions in lon/lat.
    nodes: Vec<Coord<f64>>,
    edges: Vec<Edge>,
    /// For each node: (the node at the other end, edge).
    adjacency: Vec<Vec<(usize, usize)>>,
    segments: RTree<Segment>,
    hierarchy: Option<Hierarchy>,
}

impl fmt::Debug for RoadNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoadNetwork")
            .field("nodes", &self.nodes.len())
            .field("edges", &self.edges.len())
            .field(
                "shortcuts",
                &self
                    .hierarchy
                    .as_ref()
                    .map(|h| h.graph.get_num_out_edges() + h.graph.get_num_in_edges()),
            )
            .finish()
    }
}

/// Where a point joins the network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snapped {
    /// The edge (index into the network's edges).
    pub edge: usize,
    /// The segment of the edge (between its vertices `segment` and `segment + 1`).
    pub segment: usize,
    /// Metres along the edge from its first node to the snapped point.
    pub offset_m: f64,
    /// The point on the road, lon/lat.
    pub point: Point<f64>,
    /// The straight walk from the point asked about to the road, metres.
    pub walk_m: f64,
}

/// A walk from the start through the reachable stops, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Tour {
    /// Indices into the stops, in visiting order (reachable ones only).
    pub order: Vec<usize>,
    /// Metres of each leg: start to the first stop, first to second, ...
    pub legs_m: Vec<f64>,
    /// The whole walk along the roads in lon/lat, from the start to the last stop; empty when
    /// no stop is reachable.
    pub line: LineString<f64>,
    /// The sum of `legs_m`, which is the length of `line`.
    pub length_m: f64,
    /// Stops in another connected part of the network than the start (or every stop when the
    /// network is empty).
    pub unreachable: Vec<usize>,
}

fn vertex_key(c: Coord<f64>) -> (i64, i64) {
    (
        (c.x * UNITS_PER_DEGREE).round() as i64,
        (c.y * UNITS_PER_DEGREE).round() as i64,
    )
}

fn distance(a: Coord<f64>, b: Coord<f64>) -> f64 {
    (a.x - b.x).hypot(a.y - b.y)
}

impl RoadNetwork {
    /// Roads in lon/lat (EPSG:4326). Lines connect where they share a vertex (same coordinates
    /// to 1e-7°), as OSM ways do; crossings without a shared vertex (bridges) do not connect.
    /// Every line counts, edges are undirected and weighted by metres in a [`LocalMetric`]
    /// centred on the roads' bounding box.
    pub fn build(roads: &[LineString<f64>]) -> RoadNetwork {
        // Each road as its distinct consecutive vertices, keyed.
        let lines: Vec<Vec<Vertex>> = roads
            .iter()
            .map(|road| {
                let mut line: Vec<Vertex> = Vec::with_capacity(road.0.len());
                for &c in &road.0 {
                    if !(c.x.is_finite() && c.y.is_finite()) {
                        continue;
                    }
                    let key = vertex_key(c);
                    if line.last().map(|l| l.1) != Some(key) {
                        line.push((c, key));
                    }
                }
                line
            })
            .filter(|line| line.len() >= 2)
            .collect();

        let (mut min, mut max) = (
            coord! { x: f64::INFINITY, y: f64::INFINITY },
            coord! { x: f64::NEG_INFINITY, y: f64::NEG_INFINITY },
        );
        for &(c, _) in lines.iter().flatten() {
            min = coord! { x: min.x.min(c.x), y: min.y.min(c.y) };
            max = coord! { x: max.x.max(c.x), y: max.y.max(c.y) };
        }
        let centre = if lines.is_empty() {
            coord! { x: 0.0, y: 0.0 }
        } else {
            coord! { x: (min.x + max.x) / 2.0, y: (min.y + max.y) / 2.0 }
        };
        let metric = LocalMetric::centred_on(centre);

        // A vertex is a node when it ends a road or is used more than once.
        let mut uses: HashMap<(i64, i64), u32> = HashMap::new();
        for line in &lines {
            for (k, &(_, key)) in line.iter().enumerate() {
                let ends = k == 0 || k + 1 == line.len();
                *uses.entry(key).or_insert(0) += if ends { 2 } else { 1 };
            }
        }
        let mut node_ids: HashMap<(i64, i64), usize> = HashMap::new();
        let mut nodes: Vec<Coord<f64>> = Vec::new();
        let mut node_of = |c: Coord<f64>, key: (i64, i64)| -> (usize, Coord<f64>) {
            let id = *node_ids.entry(key).or_insert_with(|| {
                nodes.push(c);
                nodes.len() - 1
            });
            (id, nodes[id])
        };
        let mut edges = Vec::new();
        for line in &lines {
            let (mut from, first) = node_of(line[0].0, line[0].1);
            let mut degrees = vec![first];
            for &(c, key) in &line[1..] {
                if uses[&key] >= 2 {
                    let (to, at) = node_of(c, key);
                    degrees.push(at);
                    edges.push(edge(&metric, from, to, std::mem::take(&mut degrees)));
                    from = to;
                    degrees.push(at);
                } else {
                    degrees.push(c);
                }
            }
        }

        let mut adjacency = vec![Vec::new(); nodes.len()];
        for (e, edge) in edges.iter().enumerate() {
            adjacency[edge.from].push((edge.to, e));
            if edge.to != edge.from {
                adjacency[edge.to].push((edge.from, e));
            }
        }
        let segments = RTree::bulk_load(
            edges
                .iter()
                .enumerate()
                .flat_map(|(e, edge)| {
                    edge.metres.windows(2).enumerate().map(move |(s, w)| {
                        GeomWithData::new(
                            Line::new([w[0].x, w[0].y], [w[1].x, w[1].y]),
                            (e as u32, s as u32),
                        )
                    })
                })
                .collect(),
        );
        let hierarchy = prepare(&edges);
        RoadNetwork {
            metric,
            nodes,
            edges,
            adjacency,
            segments,
            hierarchy,
        }
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }

    /// Total length of the roads, metres.
    pub fn length_m(&self) -> f64 {
        self.edges.iter().map(|e| e.length_m).sum()
    }

    /// Where `p` joins the network: the nearest point of the nearest edge. `None` when the
    /// network is empty.
    pub fn snap(&self, p: Point<f64>) -> Option<Snapped> {
        let q = self.metric.to_metres(p.0);
        let nearest = self.segments.nearest_neighbor(&[q.x, q.y])?;
        let (e, s) = (nearest.data.0 as usize, nearest.data.1 as usize);
        let edge = &self.edges[e];
        let (a, b) = (edge.metres[s], edge.metres[s + 1]);
        let (dx, dy) = (b.x - a.x, b.y - a.y);
        let squared = dx * dx + dy * dy;
        let t = if squared > 0.0 {
            (((q.x - a.x) * dx + (q.y - a.y) * dy) / squared).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let at = coord! { x: a.x + t * dx, y: a.y + t * dy };
        let point = if t == 0.0 {
            edge.degrees[s]
        } else if t == 1.0 {
            edge.degrees[s + 1]
        } else {
            self.metric.to_degrees(at)
        };
        Some(Snapped {
            edge: e,
            segment: s,
            offset_m: edge.along[s] + t * squared.sqrt(),
            point: Point(point),
            walk_m: distance(q, at),
        })
    }

    /// Walking distances in metres between every two points (walks to and from the road
    /// included); infinite between points in different parts of the network, and everywhere
    /// when the network is empty. `matrix[i][i]` is 0.
    pub fn distance_matrix(&self, points: &[Point<f64>]) -> Vec<Vec<f64>> {
        match points
            .iter()
            .map(|p| self.snap(*p))
            .collect::<Option<Vec<_>>>()
        {
            Some(snapped) => self.matrix_of(&snapped),
            None => (0..points.len())
                .map(|i| {
                    (0..points.len())
                        .map(|j| if i == j { 0.0 } else { f64::INFINITY })
                        .collect()
                })
                .collect(),
        }
    }

    /// Shortest walking tour from `start` visiting every reachable stop once, ending at the
    /// last stop (an open path).
    pub fn route(&self, start: Point<f64>, stops: &[Point<f64>]) -> Tour {
        let points: Vec<Point<f64>> = std::iter::once(start)
            .chain(stops.iter().copied())
            .collect();
        let Some(snapped) = points
            .iter()
            .map(|p| self.snap(*p))
            .collect::<Option<Vec<_>>>()
        else {
            return Tour {
                order: Vec::new(),
                legs_m: Vec::new(),
                line: LineString::new(Vec::new()),
                length_m: 0.0,
                unreachable: (0..stops.len()).collect(),
            };
        };
        let matrix = self.matrix_of(&snapped);
        let (reachable, unreachable): (Vec<usize>, Vec<usize>) =
            (1..points.len()).partition(|&i| matrix[0][i].is_finite());
        let chosen: Vec<usize> = std::iter::once(0)
            .chain(reachable.iter().copied())
            .collect();
        let sub: Vec<Vec<f64>> = chosen
            .iter()
            .map(|&i| chosen.iter().map(|&j| matrix[i][j]).collect())
            .collect();
        let order: Vec<usize> = order_stops(&sub)[1..].iter().map(|&k| chosen[k]).collect();

        let mut calculator = self
            .hierarchy
            .as_ref()
            .map(|h| fast_paths::create_calculator(&h.graph));
        let mut line: Vec<Coord<f64>> = Vec::new();
        let mut legs_m = Vec::with_capacity(order.len());
        let mut previous = 0;
        for &i in &order {
            let leg = self.leg(
                (points[previous], &snapped[previous]),
                (points[i], &snapped[i]),
                calculator.as_mut(),
            );
            legs_m.push(
                leg.windows(2)
                    .map(|w| distance(self.metric.to_metres(w[0]), self.metric.to_metres(w[1])))
                    .sum(),
            );
            for c in leg {
                if line.last() != Some(&c) {
                    line.push(c);
                }
            }
            previous = i;
        }
        Tour {
            order: order.iter().map(|i| i - 1).collect(),
            length_m: legs_m.iter().sum(),
            legs_m,
            line: LineString::new(line),
            unreachable: unreachable.iter().map(|i| i - 1).collect(),
        }
    }

    /// The hierarchy's entry points of a snapped point: the ends of its edge with the integer
    /// weight of the partial edge to each.
    fn seeds(&self, h: &Hierarchy, s: &Snapped) -> Vec<(usize, u64)> {
        let edge = &self.edges[s.edge];
        let nodes = h.up.ranks.len();
        [
            (edge.from, s.offset_m),
            (edge.to, edge.length_m - s.offset_m),
        ]
        .into_iter()
        .filter(|&(node, _)| node < nodes)
        .map(|(node, m)| (node, (m.max(0.0) * h.scale).round() as u64))
        .collect()
    }

    fn matrix_of(&self, snapped: &[Snapped]) -> Vec<Vec<f64>> {
        let n = snapped.len();
        let mut matrix = vec![vec![f64::INFINITY; n]; n];
        for (i, a) in snapped.iter().enumerate() {
            for (j, b) in snapped.iter().enumerate() {
                if i == j {
                    matrix[i][j] = 0.0;
                } else if a.edge == b.edge {
                    matrix[i][j] = a.walk_m + self.along_edge_m(a, b).0 + b.walk_m;
                }
            }
        }
        let Some(h) = &self.hierarchy else {
            return matrix;
        };
        let mut search = UpwardSearch::new(h.up.ranks.len());
        // Backward searches from every target leave (node, target, distance) in buckets.
        let mut buckets: Vec<(u32, u32, u64)> = Vec::new();
        for (j, b) in snapped.iter().enumerate() {
            search.run(&h.up, false, &self.seeds(h, b), |node, d| {
                buckets.push((node as u32, j as u32, d))
            });
        }
        buckets.sort_unstable();
        let mut best = vec![u64::MAX; n];
        for (i, a) in snapped.iter().enumerate() {
            best.fill(u64::MAX);
            search.run(&h.up, true, &self.seeds(h, a), |node, d| {
                let node = node as u32;
                let first = buckets.partition_point(|b| b.0 < node);
                for &(_, j, dj) in buckets[first..].iter().take_while(|b| b.0 == node) {
                    let total = d + dj;
                    if total < best[j as usize] {
                        best[j as usize] = total;
                    }
                }
            });
            for (j, b) in snapped.iter().enumerate() {
                if i != j && best[j] != u64::MAX {
                    let via = a.walk_m + best[j] as f64 / h.scale + b.walk_m;
                    if via < matrix[i][j] {
                        matrix[i][j] = via;
                    }
                }
            }
        }
        matrix
    }

    /// The walk from one point to another along the roads, lon/lat, both points included.
    fn leg(
        &self,
        (from, a): (Point<f64>, &Snapped),
        (to, b): (Point<f64>, &Snapped),
        calculator: Option<&mut PathCalculator>,
    ) -> Vec<Coord<f64>> {
        let mut coords = vec![from.0];
        let direct = (a.edge == b.edge).then(|| self.along_edge_m(a, b).0);
        let via = match (self.hierarchy.as_ref(), calculator) {
            (Some(h), Some(calculator)) => {
                let (sources, targets) = (self.seeds(h, a), self.seeds(h, b));
                if sources.is_empty() || targets.is_empty() {
                    None
                } else {
                    let as_usize = |s: Vec<(usize, u64)>| {
                        s.into_iter().map(|(n, w)| (n, w as usize)).collect()
                    };
                    calculator
                        .calc_path_multiple_sources_and_targets(
                            &h.graph,
                            as_usize(sources),
                            as_usize(targets),
                        )
                        .map(|p| (p.get_weight() as f64 / h.scale, p.get_nodes().clone()))
                }
            }
            _ => None,
        };
        match (direct, via) {
            (Some(d), Some((v, _))) if d <= v => self.along_edge(a, b, &mut coords),
            (Some(_), None) => self.along_edge(a, b, &mut coords),
            (_, Some((_, nodes))) => {
                let (first, last) = (nodes[0], nodes[nodes.len() - 1]);
                coords.extend(self.toward(a, first));
                for w in nodes.windows(2) {
                    let e = self.adjacency[w[0]]
                        .iter()
                        .filter(|&&(other, _)| other == w[1])
                        .map(|&(_, e)| e)
                        .min_by(|&x, &y| self.edges[x].length_m.total_cmp(&self.edges[y].length_m))
                        .expect("the hierarchy's path follows edges");
                    let edge = &self.edges[e];
                    if edge.from == w[0] {
                        coords.extend(&edge.degrees[1..]);
                    } else {
                        coords.extend(edge.degrees.iter().rev().skip(1));
                    }
                }
                let mut back = self.toward(b, last);
                back.reverse();
                coords.extend(back);
            }
            (None, None) => unreachable!("a leg between stops of one part of the network"),
        }
        coords.push(to.0);
        coords
    }

    /// From a snapped point along its edge to one of the edge's ends, both included.
    fn toward(&self, s: &Snapped, node: usize) -> Vec<Coord<f64>> {
        let edge = &self.edges[s.edge];
        let backwards = if edge.from == edge.to {
            s.offset_m <= edge.length_m - s.offset_m
        } else {
            node == edge.from
        };
        self.to_end(s, backwards)
    }

    /// From a snapped point to the first (`backwards`) or last vertex of its edge.
    fn to_end(&self, s: &Snapped, backwards: bool) -> Vec<Coord<f64>> {
        let edge = &self.edges[s.edge];
        let mut out = vec![s.point.0];
        if backwards {
            out.extend(edge.degrees[..=s.segment].iter().rev());
        } else {
            out.extend(&edge.degrees[s.segment + 1..]);
        }
        out
    }

    /// Metres between two points of one edge without leaving it, and whether that is the way
    /// round through the edge's node (a closed road, when that is shorter).
    fn along_edge_m(&self, a: &Snapped, b: &Snapped) -> (f64, bool) {
        let edge = &self.edges[a.edge];
        let straight = (a.offset_m - b.offset_m).abs();
        if edge.from == edge.to && edge.length_m - straight < straight {
            (edge.length_m - straight, true)
        } else {
            (straight, false)
        }
    }

    /// From one snapped point to another on the same edge, both included.
    fn along_edge(&self, a: &Snapped, b: &Snapped, coords: &mut Vec<Coord<f64>>) {
        let edge = &self.edges[a.edge];
        if self.along_edge_m(a, b).1 {
            // Round a closed road through its node, away from the other point.
            let backwards = a.offset_m < b.offset_m;
            coords.extend(self.to_end(a, backwards));
            let mut back = self.to_end(b, !backwards);
            back.reverse();
            coords.extend(back);
            return;
        }
        coords.push(a.point.0);
        if a.offset_m <= b.offset_m {
            if a.segment < b.segment {
                coords.extend(&edge.degrees[a.segment + 1..=b.segment]);
            }
        } else if b.segment < a.segment {
            coords.extend(edge.degrees[b.segment + 1..=a.segment].iter().rev());
        }
        coords.push(b.point.0);
    }
}

/// The nearest of some places (shelters) by walking distance from anywhere on the network:
/// one multi-source search from all of them, then each query is a snap and two additions.
#[derive(Debug, Clone)]
pub struct NearestPlaces {
    /// For each node: metres to the nearest place, and which place.
    reach: Vec<(f64, usize)>,
    /// The places by the edge they joined: (place, metres along the edge, walk to the road).
    on_edge: HashMap<usize, Vec<(usize, f64, f64)>>,
}

impl RoadNetwork {
    /// Prepares [`RoadNetwork::nearest_place`] for `places` (a multi-source Dijkstra on the
    /// road graph: every node learns its nearest place once).
    pub fn nearest_places(&self, places: &[Point<f64>]) -> NearestPlaces {
        let mut reach = vec![(f64::INFINITY, usize::MAX); self.nodes.len()];
        let mut on_edge: HashMap<usize, Vec<(usize, f64, f64)>> = HashMap::new();
        // Non-negative floats order like their bits, which the heap needs as integers.
        let mut heap: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
        let mut settle = |reach: &mut Vec<(f64, usize)>, node: usize, d: f64, place: usize| {
            if d < reach[node].0 {
                reach[node] = (d, place);
                heap.push(Reverse((d.to_bits(), node)));
            }
        };
        for (place, p) in places.iter().enumerate() {
            let Some(s) = self.snap(*p) else { continue };
            let edge = &self.edges[s.edge];
            on_edge
                .entry(s.edge)
                .or_default()
                .push((place, s.offset_m, s.walk_m));
            settle(&mut reach, edge.from, s.walk_m + s.offset_m, place);
            settle(
                &mut reach,
                edge.to,
                s.walk_m + edge.length_m - s.offset_m,
                place,
            );
        }
        while let Some(Reverse((bits, node))) = heap.pop() {
            let d = f64::from_bits(bits);
            if d > reach[node].0 {
                continue;
            }
            let place = reach[node].1;
            for &(other, e) in &self.adjacency[node] {
                let nd = d + self.edges[e].length_m;
                if nd < reach[other].0 {
                    reach[other] = (nd, place);
                    heap.push(Reverse((nd.to_bits(), other)));
                }
            }
        }
        NearestPlaces { reach, on_edge }
    }

    /// The nearest place to `p` and the walk to it in metres (to the road, along it, to the
    /// place); `None` when no place is in the same part of the network.
    pub fn nearest_place(&self, nearest: &NearestPlaces, p: Point<f64>) -> Option<(usize, f64)> {
        let s = self.snap(p)?;
        let edge = &self.edges[s.edge];
        let mut best: Option<(usize, f64)> = None;
        let mut consider = |place: usize, d: f64| {
            if place != usize::MAX && d.is_finite() && best.is_none_or(|(_, b)| d < b) {
                best = Some((place, d));
            }
        };
        let (df, pf) = nearest.reach[edge.from];
        consider(pf, s.walk_m + s.offset_m + df);
        let (dt, pt) = nearest.reach[edge.to];
        consider(pt, s.walk_m + edge.length_m - s.offset_m + dt);
        for &(place, offset, walk) in nearest.on_edge.get(&s.edge).into_iter().flatten() {
            consider(place, s.walk_m + (s.offset_m - offset).abs() + walk);
        }
        best
    }
}

fn edge(metric: &LocalMetric, from: usize, to: usize, degrees: Vec<Coord<f64>>) -> Edge {
    let metres: Vec<Coord<f64>> = degrees.iter().map(|&c| metric.to_metres(c)).collect();
    let mut along = Vec::with_capacity(metres.len());
    let mut length = 0.0;
    along.push(0.0);
    for w in metres.windows(2) {
        length += distance(w[0], w[1]);
        along.push(length);
    }
    Edge {
        from,
        to,
        length_m: length,
        degrees,
        metres,
        along,
    }
}

fn prepare(edges: &[Edge]) -> Option<Hierarchy> {
    let total: f64 = edges.iter().map(|e| e.length_m).sum();
    if edges.iter().all(|e| e.from == e.to) {
        return None;
    }
    let scale = MAX_SCALE.min(MAX_TOTAL_WEIGHT / total.max(1.0));
    // Parallel roads between two junctions: the hierarchy keeps the shortest.
    let mut shortest: HashMap<(usize, usize), usize> = HashMap::new();
    for e in edges.iter().filter(|e| e.from != e.to) {
        let weight = ((e.length_m * scale).round() as usize).max(1);
        let w = shortest
            .entry((e.from.min(e.to), e.from.max(e.to)))
            .or_insert(weight);
        *w = (*w).min(weight);
    }
    let mut pairs: Vec<((usize, usize), usize)> = shortest.into_iter().collect();
    pairs.sort_unstable();
    let mut input = InputGraph::new();
    for ((a, b), weight) in pairs {
        input.add_edge_bidir(a, b, weight);
    }
    input.freeze();
    let graph = fast_paths::prepare(&input);
    let up = FastGraph32::new(&graph);
    Some(Hierarchy { graph, up, scale })
}

/// A Dijkstra in the upward graph of the hierarchy (with stall-on-demand), reused across
/// searches: only the nodes it touched are reset.
struct UpwardSearch {
    dist: Vec<u64>,
    touched: Vec<usize>,
    heap: BinaryHeap<Reverse<(u64, usize)>>,
}

impl UpwardSearch {
    fn new(nodes: usize) -> Self {
        UpwardSearch {
            dist: vec![u64::MAX; nodes],
            touched: Vec::new(),
            heap: BinaryHeap::new(),
        }
    }

    /// Visits every node the search settles (and does not stall) with its distance.
    fn run(
        &mut self,
        g: &FastGraph32,
        forward: bool,
        seeds: &[(usize, u64)],
        mut visit: impl FnMut(usize, u64),
    ) {
        for &n in &self.touched {
            self.dist[n] = u64::MAX;
        }
        self.touched.clear();
        self.heap.clear();
        for &(n, d) in seeds {
            if d < self.dist[n] {
                if self.dist[n] == u64::MAX {
                    self.touched.push(n);
                }
                self.dist[n] = d;
                self.heap.push(Reverse((d, n)));
            }
        }
        let (ahead, behind, first_ahead, first_behind) = if forward {
            (
                &g.edges_fwd,
                &g.edges_bwd,
                &g.first_edge_ids_fwd,
                &g.first_edge_ids_bwd,
            )
        } else {
            (
                &g.edges_bwd,
                &g.edges_fwd,
                &g.first_edge_ids_bwd,
                &g.first_edge_ids_fwd,
            )
        };
        while let Some(Reverse((d, n))) = self.heap.pop() {
            if d > self.dist[n] {
                continue;
            }
            let rank = g.ranks[n] as usize;
            // Stall on demand: a higher node reaches this one for less.
            let stalled = behind[first_behind[rank] as usize..first_behind[rank + 1] as usize]
                .iter()
                .any(|e| {
                    let du = self.dist[e.adj_node as usize];
                    du != u64::MAX && du + (e.weight as u64) < d
                });
            if stalled {
                continue;
            }
            visit(n, d);
            for e in &ahead[first_ahead[rank] as usize..first_ahead[rank + 1] as usize] {
                let m = e.adj_node as usize;
                let dm = d + e.weight as u64;
                if dm < self.dist[m] {
                    if self.dist[m] == u64::MAX {
                        self.touched.push(m);
                    }
                    self.dist[m] = dm;
                    self.heap.push(Reverse((dm, m)));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Ordering the stops.

/// A square distance matrix, flat.
struct Costs {
    n: usize,
    d: Vec<f64>,
}

impl Costs {
    #[inline]
    fn get(&self, i: usize, j: usize) -> f64 {
        self.d[i * self.n + j]
    }

    fn path(&self, p: &[usize]) -> f64 {
        p.windows(2).map(|w| self.get(w[0], w[1])).sum()
    }
}

const EPSILON: f64 = 1e-9;

/// The order of visits on a distance matrix (index 0 is the start; an open path from it that
/// ends at any stop). Returns the path as matrix indices, beginning with 0.
///
/// The matrix is taken as symmetric (roads are walked both ways) with finite entries.
/// Cheapest insertion and nearest neighbour through each of the nearest first stops, each
/// improved by 2-opt and Or-opt (moves that join a stop to one of its 10 nearest), then an
/// iterated local search with a chain from each of these (segment-swap kicks, 40 per stop in
/// all, fixed seeds) and a last pass of full 2-opt and Or-opt until neither improves:
/// deterministic.
pub fn order_stops(matrix: &[Vec<f64>]) -> Vec<usize> {
    let n = matrix.len();
    if n <= 2 {
        return (0..n).collect();
    }
    let costs = Costs {
        n,
        d: matrix.iter().flat_map(|row| row.iter().copied()).collect(),
    };
    let search = Neighbourhood::new(&costs, 10);
    // Local optima from the constructions, best first.
    let mut starts: Vec<(f64, Vec<usize>)> = Vec::new();
    let mut consider = |mut path: Vec<usize>| {
        search.improve(&mut path, 0..n);
        let c = costs.path(&path);
        if !starts.iter().any(|(_, p)| *p == path) {
            starts.push((c, path));
        }
    };
    consider(cheapest_insertion(&costs));
    // Nearest neighbour from the start, forced through each of the nearest first stops.
    let mut firsts: Vec<usize> = (1..n).collect();
    firsts.sort_by(|&a, &b| costs.get(0, a).total_cmp(&costs.get(0, b)).then(a.cmp(&b)));
    for &first in firsts.iter().take(8) {
        consider(nearest_neighbour(&costs, first));
    }
    starts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut best_cost, mut best) = starts[0].clone();

    if n > 4 {
        // Iterated local search, one chain from each distinct construction: kick, improve
        // where the kick cut, move on when not worse than the chain's path or hardly worse
        // than the best.
        let rounds = ILS_ROUNDS_PER_STOP * n / starts.len();
        for (chain, (start_cost, start)) in starts.iter().enumerate() {
            let mut rng = ChaCha8Rng::seed_from_u64(0x0063_756e_7475 + chain as u64);
            let mut current = start.clone();
            let mut current_cost = *start_cost;
            for _ in 0..rounds {
                let (mut candidate, cut) = kick(&current, &mut rng);
                search.improve(&mut candidate, cut);
                let c = costs.path(&candidate);
                if c <= current_cost + EPSILON || c < best_cost * (1.0 + ILS_SLACK) {
                    current_cost = c;
                    current = candidate;
                    if c < best_cost - EPSILON {
                        best_cost = c;
                        best = current.clone();
                    }
                }
            }
        }
    }
    full_local_search(&costs, &mut best);
    best
}

/// Kicks per stop in the iterated local search, shared by its chains.
const ILS_ROUNDS_PER_STOP: usize = 40;
/// A chain moves on to a kicked path up to this much longer than the best so far (0.2 %).
const ILS_SLACK: f64 = 0.002;

/// Local search on the `k` nearest neighbours of each stop, with a queue of stops to look at
/// (don't-look bits): after a kick only the stops at its cuts are looked at again.
struct Neighbourhood<'a> {
    costs: &'a Costs,
    near: Vec<Vec<usize>>,
}

/// A move: reverse `p[i..=j]`, or move `p[i..i + len]` behind `p[k]`, maybe reversed.
#[derive(Clone, Copy)]
enum Move {
    TwoOpt {
        i: usize,
        j: usize,
    },
    OrOpt {
        i: usize,
        len: usize,
        k: usize,
        reversed: bool,
    },
}

impl<'a> Neighbourhood<'a> {
    fn new(costs: &'a Costs, k: usize) -> Self {
        let near = (0..costs.n)
            .map(|a| {
                let mut others: Vec<usize> = (0..costs.n).filter(|&b| b != a).collect();
                others
                    .sort_by(|&x, &y| costs.get(a, x).total_cmp(&costs.get(a, y)).then(x.cmp(&y)));
                others.truncate(k);
                others
            })
            .collect();
        Neighbourhood { costs, near }
    }

    fn improve(&self, p: &mut Vec<usize>, first: impl IntoIterator<Item = usize>) {
        let n = self.costs.n;
        let mut pos = vec![0; n];
        for (k, &c) in p.iter().enumerate() {
            pos[c] = k;
        }
        let mut queued = vec![false; n];
        let mut queue = std::collections::VecDeque::new();
        for a in first {
            if !queued[a] {
                queued[a] = true;
                queue.push_back(a);
            }
        }
        while let Some(a) = queue.pop_front() {
            queued[a] = false;
            let Some(m) = self.best_move(p, &pos, a) else {
                continue;
            };
            let touched: Vec<usize> = match m {
                Move::TwoOpt { i, j } => {
                    let mut t = vec![p[i - 1], p[i], p[j]];
                    t.extend(p.get(j + 1));
                    p[i..=j].reverse();
                    t
                }
                Move::OrOpt {
                    i,
                    len,
                    k,
                    reversed,
                } => {
                    let mut t = vec![p[i - 1], p[i], p[i + len - 1], p[k]];
                    t.extend(p.get(i + len));
                    t.extend(p.get(k + 1));
                    or_move(p, i, len, k, reversed);
                    t
                }
            };
            for (k, &c) in p.iter().enumerate() {
                pos[c] = k;
            }
            for t in touched.into_iter().chain([a]) {
                if !queued[t] {
                    queued[t] = true;
                    queue.push_back(t);
                }
            }
        }
    }

    /// The best improving move that makes `a` a neighbour of one of its nearest stops.
    fn best_move(&self, p: &[usize], pos: &[usize], a: usize) -> Option<Move> {
        let m = p.len();
        let pa = pos[a];
        let mut best: Option<(f64, Move)> = None;
        let mut offer = |delta: f64, mv: Move| {
            if delta < -EPSILON && best.is_none_or(|(d, _)| delta < d) {
                best = Some((delta, mv));
            }
        };
        for &c in &self.near[a] {
            let pc = pos[c];
            // 2-opt: reversals after which a and c are neighbours.
            let mut two_opt = |i: usize, j: usize| {
                if 1 <= i && i < j && j < m {
                    offer(two_opt_delta(self.costs, p, i, j), Move::TwoOpt { i, j });
                }
            };
            if pa < pc {
                two_opt(pa + 1, pc);
                two_opt(pa, pc - 1);
            } else {
                two_opt(pc + 1, pa);
                two_opt(pc, pa - 1);
            }
            // Or-opt: a stretch beginning or ending at a, moved next to c.
            if a == 0 {
                continue;
            }
            for len in 1..=3 {
                for (i, a_first) in [(pa, true), (pa + 1 - len.min(pa + 1), false)] {
                    if i < 1 || i + len > m || (!a_first && i + len - 1 != pa) {
                        continue;
                    }
                    // c before the stretch (k = pc) or after it (k + 1 = pc).
                    for (k, c_left) in [(Some(pc), true), (pc.checked_sub(1), false)] {
                        let Some(k) = k else { continue };
                        if k + 1 >= i && k < i + len {
                            continue;
                        }
                        let reversed = a_first != c_left;
                        offer(
                            or_delta(self.costs, p, i, len, k, reversed),
                            Move::OrOpt {
                                i,
                                len,
                                k,
                                reversed,
                            },
                        );
                    }
                }
            }
        }
        best.map(|(_, mv)| mv)
    }
}

/// The change of length when `p[i..=j]` is reversed (1 <= i < j < p.len()).
fn two_opt_delta(costs: &Costs, p: &[usize], i: usize, j: usize) -> f64 {
    let (before, first, last) = (p[i - 1], p[i], p[j]);
    match p.get(j + 1) {
        Some(&after) => {
            costs.get(before, last) + costs.get(first, after)
                - costs.get(before, first)
                - costs.get(last, after)
        }
        None => costs.get(before, last) - costs.get(before, first),
    }
}

/// The change of length when `p[i..i + len]` moves behind `p[k]` (k outside `i - 1..i + len`),
/// reversed or not.
fn or_delta(costs: &Costs, p: &[usize], i: usize, len: usize, k: usize, reversed: bool) -> f64 {
    let (first, last, before) = (p[i], p[i + len - 1], p[i - 1]);
    let gain = match p.get(i + len) {
        Some(&after) => {
            costs.get(before, first) + costs.get(last, after) - costs.get(before, after)
        }
        None => costs.get(before, first),
    };
    let (head, tail) = if reversed {
        (last, first)
    } else {
        (first, last)
    };
    let a = p[k];
    let added = match p.get(k + 1) {
        Some(&b) => costs.get(a, head) + costs.get(tail, b) - costs.get(a, b),
        None => costs.get(a, head),
    };
    added - gain
}

fn or_move(p: &mut Vec<usize>, i: usize, len: usize, k: usize, reversed: bool) {
    let mut stretch: Vec<usize> = p.drain(i..i + len).collect();
    if reversed {
        stretch.reverse();
    }
    let at = if k < i { k + 1 } else { k + 1 - len };
    p.splice(at..at, stretch);
}

fn nearest_neighbour(costs: &Costs, first: usize) -> Vec<usize> {
    let mut visited = vec![false; costs.n];
    visited[0] = true;
    visited[first] = true;
    let mut path = vec![0, first];
    while path.len() < costs.n {
        let last = *path.last().unwrap();
        let next = (0..costs.n)
            .filter(|&j| !visited[j])
            .min_by(|&a, &b| costs.get(last, a).total_cmp(&costs.get(last, b)))
            .unwrap();
        visited[next] = true;
        path.push(next);
    }
    path
}

/// Inserts each stop where it adds least, the stop that adds least first.
fn cheapest_insertion(costs: &Costs) -> Vec<usize> {
    let n = costs.n;
    let mut path = vec![0];
    let mut left: Vec<usize> = (1..n).collect();
    while !left.is_empty() {
        let mut choice = (f64::INFINITY, 0, 0);
        for (k, &j) in left.iter().enumerate() {
            for at in 0..path.len() {
                let a = path[at];
                let added = match path.get(at + 1) {
                    Some(&b) => costs.get(a, j) + costs.get(j, b) - costs.get(a, b),
                    None => costs.get(a, j),
                };
                if added < choice.0 {
                    choice = (added, k, at + 1);
                }
            }
        }
        let j = left.swap_remove(choice.1);
        path.insert(choice.2, j);
    }
    path
}

/// A double bridge on the open path: two neighbouring stretches swap places. Returns the
/// kicked path and the stops at its new joints.
fn kick(path: &[usize], rng: &mut ChaCha8Rng) -> (Vec<usize>, Vec<usize>) {
    let m = path.len();
    let span = (m - 1).min(30);
    let a = rng.gen_range(1..=m - span);
    let mut cuts = [
        a,
        a + rng.gen_range(1..span),
        a + rng.gen_range(1..span),
        a + span,
    ];
    if cuts[1] > cuts[2] {
        cuts.swap(1, 2);
    }
    let [a, b, c, d] = cuts;
    let mut out = Vec::with_capacity(m);
    out.extend(&path[..a]);
    out.extend(&path[b..c]);
    out.extend(&path[a..b]);
    out.extend(&path[c..d]);
    out.extend(&path[d..]);
    let joints = cuts
        .iter()
        .flat_map(|&k| [k - 1, k])
        .filter_map(|k| path.get(k).copied())
        .collect();
    (out, joints)
}

/// 2-opt and Or-opt over every pair of places until neither improves.
fn full_local_search(costs: &Costs, path: &mut Vec<usize>) {
    loop {
        let a = two_opt(costs, path);
        let b = or_opt(costs, path);
        if !a && !b {
            break;
        }
    }
}

/// Reverses stretches of the path while that shortens it.
fn two_opt(costs: &Costs, p: &mut [usize]) -> bool {
    let m = p.len();
    let mut any = false;
    let mut improved = true;
    while improved {
        improved = false;
        for i in 1..m - 1 {
            let (before, first) = (p[i - 1], p[i]);
            let removed = costs.get(before, first);
            for j in i + 1..m {
                let last = p[j];
                let delta = if j + 1 < m {
                    let after = p[j + 1];
                    costs.get(before, last) + costs.get(first, after)
                        - removed
                        - costs.get(last, after)
                } else {
                    costs.get(before, last) - removed
                };
                if delta < -EPSILON {
                    p[i..=j].reverse();
                    improved = true;
                    any = true;
                    break;
                }
            }
        }
    }
    any
}

/// Moves stretches of one to three stops elsewhere (either way round) while that shortens the path.
fn or_opt(costs: &Costs, p: &mut Vec<usize>) -> bool {
    let m = p.len();
    let mut any = false;
    let mut improved = true;
    while improved {
        improved = false;
        'segments: for len in 1..=3.min(m - 1) {
            for i in 1..=m - len {
                let (first, last) = (p[i], p[i + len - 1]);
                let before = p[i - 1];
                let gain = match p.get(i + len) {
                    Some(&after) => {
                        costs.get(before, first) + costs.get(last, after) - costs.get(before, after)
                    }
                    None => costs.get(before, first),
                };
                // Insert between p[k] and p[k + 1] (or after the end), away from the stretch.
                for k in (0..m).filter(|&k| k + 1 < i || k >= i + len) {
                    let a = p[k];
                    let (forward, backward) = match p.get(k + 1) {
                        Some(&b) => (
                            costs.get(a, first) + costs.get(last, b) - costs.get(a, b),
                            costs.get(a, last) + costs.get(first, b) - costs.get(a, b),
                        ),
                        None => (costs.get(a, first), costs.get(a, last)),
                    };
                    let reverse = backward < forward;
                    if forward.min(backward) - gain < -EPSILON {
                        let mut stretch: Vec<usize> = p.drain(i..i + len).collect();
                        if reverse {
                            stretch.reverse();
                        }
                        let at = if k < i { k + 1 } else { k + 1 - len };
                        p.splice(at..at, stretch);
                        improved = true;
                        any = true;
                        break 'segments;
                    }
                }
            }
        }
    }
    any
}

#[cfg(test)]
mod tests {
    use super::*;

    const CENTRE: Coord<f64> = Coord { x: 9.5, y: 47.1 };

    fn metric() -> LocalMetric {
        LocalMetric::centred_on(CENTRE)
    }

    /// A point `x` metres east and `y` north of the centre.
    fn at(x: f64, y: f64) -> Point<f64> {
        Point(metric().to_degrees(coord! { x: x, y: y }))
    }

    fn road(points: &[(f64, f64)]) -> LineString<f64> {
        LineString::new(points.iter().map(|&(x, y)| at(x, y).0).collect())
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    fn length_of(line: &LineString<f64>) -> f64 {
        let m = metric();
        line.0
            .windows(2)
            .map(|w| distance(m.to_metres(w[0]), m.to_metres(w[1])))
            .sum()
    }

    /// The tour's promises: each reachable stop once, legs adding up to the line, the line from
    /// the start through every stop in order.
    fn check(tour: &Tour, start: Point<f64>, stops: &[Point<f64>]) {
        let mut seen: Vec<usize> = tour
            .order
            .iter()
            .chain(&tour.unreachable)
            .copied()
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..stops.len()).collect::<Vec<_>>());
        assert_eq!(tour.legs_m.len(), tour.order.len());
        assert!(close(tour.length_m, tour.legs_m.iter().sum()));
        if tour.order.is_empty() {
            assert!(tour.line.0.is_empty());
            return;
        }
        let line_length = length_of(&tour.line);
        assert!(
            (line_length - tour.length_m).abs() <= 0.005 * tour.length_m + 1e-6,
            "{line_length} vs {}",
            tour.length_m
        );
        assert_eq!(tour.line.0[0], start.0);
        assert_eq!(
            *tour.line.0.last().unwrap(),
            stops[*tour.order.last().unwrap()].0
        );
        // Each stop is on the line, in order.
        let mut from = 0;
        for &k in &tour.order {
            let found = tour.line.0[from..]
                .iter()
                .position(|&c| c == stops[k].0)
                .expect("the line passes each stop");
            from += found;
        }
    }

    fn square() -> Vec<LineString<f64>> {
        vec![
            road(&[(-50.0, -50.0), (50.0, -50.0)]),
            road(&[(50.0, -50.0), (50.0, 50.0)]),
            road(&[(50.0, 50.0), (-50.0, 50.0)]),
            road(&[(-50.0, 50.0), (-50.0, -50.0)]),
        ]
    }

    #[test]
    fn a_square_of_four_roads_has_four_corners() {
        let net = RoadNetwork::build(&square());
        assert_eq!((net.node_count(), net.edge_count()), (4, 4));
        assert!(close(net.length_m(), 400.0));
        let s = net.snap(at(0.0, -60.0)).unwrap();
        assert!(close(s.walk_m, 10.0));
        assert!(close(s.offset_m, 50.0));
    }

    #[test]
    fn the_nearest_place_is_nearest_by_road_not_as_the_crow_flies() {
        // A square with one road across its middle from the west side that ends blind.
        // (Roads join only at shared vertices: the west side has one where the cross road starts.)
        let mut roads = square();
        roads[3] = road(&[(-50.0, 50.0), (-50.0, 0.0), (-50.0, -50.0)]);
        roads.push(road(&[(-50.0, 0.0), (40.0, 0.0)]));
        let net = RoadNetwork::build(&roads);
        // Place 0 sits on the east side, 12 m from the blind end; place 1 by the west road.
        let places = [at(55.0, 0.0), at(-55.0, 30.0)];
        let nearest = net.nearest_places(&places);
        // From the blind end's tip the east place is 15 m away as the crow flies, but the walk
        // is back along the cross road (90 m), 50 m down, 100 m along, 50 m up: the west one
        // is closer by road (90 m + 30 m + 5 m, plus 2 m to the road).
        let (place, metres) = net.nearest_place(&nearest, at(40.0, 2.0)).unwrap();
        assert_eq!(place, 1);
        assert!(close(metres, 2.0 + 90.0 + 30.0 + 5.0), "{metres}");
        // On the east side itself, the east place, along the same road.
        let (place, metres) = net.nearest_place(&nearest, at(52.0, -20.0)).unwrap();
        assert_eq!(place, 0);
        assert!(close(metres, 2.0 + 20.0 + 5.0), "{metres}");
        // Nothing to find on an empty network.
        let empty = RoadNetwork::build(&[]);
        let none = empty.nearest_places(&places);
        assert_eq!(empty.nearest_place(&none, at(0.0, 0.0)), None);
    }

    #[test]
    fn across_a_square_walks_round_it() {
        let net = RoadNetwork::build(&square());
        let start = at(-10.0, -60.0);
        let stops = [at(0.0, 55.0)];
        let tour = net.route(start, &stops);
        // 10 m to the road, 40 m to the corner, 100 m up, 50 m along the top, 5 m off the road.
        assert!(
            close(tour.length_m, 10.0 + 40.0 + 100.0 + 50.0 + 5.0),
            "{}",
            tour.length_m
        );
        assert_eq!(tour.order, vec![0]);
        check(&tour, start, &stops);
        // Through the corner at (-50, -50): it is on the line.
        assert!(tour.line.0.contains(&at(-50.0, -50.0).0));
    }

    #[test]
    fn three_stops_round_a_square() {
        let net = RoadNetwork::build(&square());
        let start = at(0.0, -50.0);
        let stops = [at(0.0, 50.0), at(50.0, 0.0), at(-50.0, 0.0)];
        let tour = net.route(start, &stops);
        // Best: one side first (50 + 50), then over the top (50 + 100 + 50) = 300.
        assert!(close(tour.length_m, 300.0), "{}", tour.length_m);
        assert_eq!(tour.order[1], 0);
        check(&tour, start, &stops);
        let m = net.distance_matrix(&[start, stops[0], stops[1], stops[2]]);
        assert!(close(m[0][1], 200.0) && close(m[1][0], 200.0));
        assert!(close(m[2][3], 200.0) && close(m[0][2], 100.0));
    }

    #[test]
    fn a_closed_road_is_walked_the_short_way_round() {
        let ring = road(&[
            (-50.0, -50.0),
            (50.0, -50.0),
            (50.0, 50.0),
            (-50.0, 50.0),
            (-50.0, -50.0),
        ]);
        let net = RoadNetwork::build(&[ring]);
        assert_eq!((net.node_count(), net.edge_count()), (1, 1));
        let start = at(0.0, -50.0);
        let stops = [at(-50.0, 40.0)];
        let tour = net.route(start, &stops);
        // Through the ring's first vertex: 50 + 90, not 50 + 100 + 100 + 10.
        assert!(close(tour.length_m, 140.0), "{}", tour.length_m);
        check(&tour, start, &stops);
    }

    #[test]
    fn stops_on_a_line_are_visited_in_order() {
        let net = RoadNetwork::build(&[road(&[(0.0, 0.0), (150.0, 0.0), (400.0, 0.0)])]);
        assert_eq!((net.node_count(), net.edge_count()), (2, 1));
        let start = at(0.0, 0.0);
        let stops = [
            at(300.0, 0.0),
            at(100.0, 3.0),
            at(200.0, -4.0),
            at(0.0, 0.0),
        ];
        let tour = net.route(start, &stops);
        assert_eq!(tour.order, vec![3, 1, 2, 0]);
        assert!(
            close(tour.length_m, 300.0 + 2.0 * 3.0 + 2.0 * 4.0),
            "{}",
            tour.length_m
        );
        assert!(close(tour.legs_m[0], 0.0));
        check(&tour, start, &stops);
    }

    #[test]
    fn roads_join_only_at_shared_vertices() {
        // A cross whose arms share the middle vertex, and a bridge over it sharing none.
        let roads = [
            road(&[(-100.0, 0.0), (0.0, 0.0), (100.0, 0.0)]),
            road(&[(0.0, -100.0), (0.0, 0.0), (0.0, 100.0)]),
            road(&[(-50.0, -80.0), (50.0, 80.0)]),
        ];
        let net = RoadNetwork::build(&roads);
        assert_eq!((net.node_count(), net.edge_count()), (7, 5));
        let start = at(-100.0, 0.0);
        let stops = [at(0.0, 100.0), at(50.0, 80.0)];
        let tour = net.route(start, &stops);
        assert_eq!(tour.order, vec![0]);
        assert_eq!(tour.unreachable, vec![1]);
        assert!(close(tour.length_m, 200.0));
        check(&tour, start, &stops);
    }

    #[test]
    fn stops_in_another_part_are_unreachable() {
        let roads = [
            road(&[(0.0, 0.0), (100.0, 0.0)]),
            road(&[(100.0, 0.0), (100.0, 100.0)]),
            road(&[(1000.0, 0.0), (1100.0, 0.0)]),
        ];
        let net = RoadNetwork::build(&roads);
        let start = at(0.0, 0.0);
        let stops = [at(1050.0, 0.0), at(100.0, 50.0), at(1100.0, 10.0)];
        let tour = net.route(start, &stops);
        assert_eq!(tour.order, vec![1]);
        assert_eq!(tour.unreachable, vec![0, 2]);
        // (The network measures in its own plane, centred elsewhere: a millimetre apart.)
        assert!((tour.length_m - 150.0).abs() < 0.01, "{tour:?}");
        check(&tour, start, &stops);
        let m = net.distance_matrix(&[start, stops[0], stops[2]]);
        assert!(m[0][1].is_infinite() && m[2][0].is_infinite());
        assert!((m[1][2] - 60.0).abs() < 0.01, "{}", m[1][2]);

        // From the other part, only the other part.
        let tour = net.route(at(1000.0, 0.0), &stops);
        assert_eq!(tour.unreachable, vec![1]);
    }

    #[test]
    fn an_empty_network_reaches_nothing() {
        let net = RoadNetwork::build(&[]);
        assert_eq!((net.node_count(), net.edge_count()), (0, 0));
        assert!(net.snap(at(0.0, 0.0)).is_none());
        let tour = net.route(at(0.0, 0.0), &[at(1.0, 1.0), at(2.0, 2.0)]);
        assert_eq!(tour.unreachable, vec![0, 1]);
        assert!(tour.order.is_empty() && tour.line.0.is_empty());
        assert_eq!(tour.length_m, 0.0);
    }

    /// A jittered lattice of short ways with some missing, deterministic by seed.
    fn lattice(side: usize, seed: u64) -> Vec<LineString<f64>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let spacing = 80.0;
        let half = side as f64 * spacing / 2.0;
        let points: Vec<Vec<(f64, f64)>> = (0..side)
            .map(|i| {
                (0..side)
                    .map(|j| {
                        (
                            i as f64 * spacing - half + rng.gen_range(-20.0..20.0),
                            j as f64 * spacing - half + rng.gen_range(-20.0..20.0),
                        )
                    })
                    .collect()
            })
            .collect();
        let mut roads = Vec::new();
        for i in 0..side {
            for j in 0..side {
                if i + 1 < side && rng.gen_bool(0.85) {
                    let mid = (
                        (points[i][j].0 + points[i + 1][j].0) / 2.0,
                        (points[i][j].1 + points[i + 1][j].1) / 2.0 + rng.gen_range(-8.0..8.0),
                    );
                    roads.push(road(&[points[i][j], mid, points[i + 1][j]]));
                }
                if j + 1 < side && rng.gen_bool(0.85) {
                    roads.push(road(&[points[i][j], points[i][j + 1]]));
                }
            }
        }
        roads
    }

    /// Plain Dijkstra over the nodes, for reference.
    fn dijkstra(net: &RoadNetwork, seeds: &[(usize, f64)]) -> Vec<f64> {
        let mut dist = vec![f64::INFINITY; net.node_count()];
        let mut heap = BinaryHeap::new();
        for &(n, d) in seeds {
            if d < dist[n] {
                dist[n] = d;
                heap.push(Reverse(((d * 1e6) as u64, n)));
            }
        }
        while let Some(Reverse((_, n))) = heap.pop() {
            let d = dist[n];
            for &(m, e) in &net.adjacency[n] {
                let dm = d + net.edges[e].length_m;
                if dm < dist[m] {
                    dist[m] = dm;
                    heap.push(Reverse(((dm * 1e6) as u64, m)));
                }
            }
        }
        dist
    }

    #[test]
    fn the_hierarchy_agrees_with_dijkstra() {
        let net = RoadNetwork::build(&lattice(18, 7));
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let points: Vec<Point<f64>> = (0..25)
            .map(|_| at(rng.gen_range(-700.0..700.0), rng.gen_range(-700.0..700.0)))
            .collect();
        let matrix = net.distance_matrix(&points);
        let snapped: Vec<Snapped> = points.iter().map(|p| net.snap(*p).unwrap()).collect();
        for (i, a) in snapped.iter().enumerate() {
            let ea = &net.edges[a.edge];
            let dist = dijkstra(
                &net,
                &[(ea.from, a.offset_m), (ea.to, ea.length_m - a.offset_m)],
            );
            for (j, b) in snapped.iter().enumerate() {
                let eb = &net.edges[b.edge];
                let mut expected = (dist[eb.from] + b.offset_m)
                    .min(dist[eb.to] + eb.length_m - b.offset_m)
                    + a.walk_m
                    + b.walk_m;
                if a.edge == b.edge {
                    expected = expected.min(a.walk_m + (a.offset_m - b.offset_m).abs() + b.walk_m);
                }
                if i == j {
                    expected = 0.0;
                }
                if expected.is_infinite() {
                    assert!(matrix[i][j].is_infinite());
                } else {
                    // Integer millimetres per edge in the hierarchy.
                    assert!(
                        (matrix[i][j] - expected).abs() < 0.05,
                        "{i}→{j}: {} vs {expected}",
                        matrix[i][j]
                    );
                }
            }
        }
    }

    #[test]
    fn tours_on_a_lattice_keep_their_promises() {
        let net = RoadNetwork::build(&lattice(20, 11));
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..5 {
            let start = at(rng.gen_range(-800.0..800.0), rng.gen_range(-800.0..800.0));
            let stops: Vec<Point<f64>> = (0..30)
                .map(|_| at(rng.gen_range(-800.0..800.0), rng.gen_range(-800.0..800.0)))
                .collect();
            let tour = net.route(start, &stops);
            check(&tour, start, &stops);
            // The legs are the matrix's distances.
            let points: Vec<Point<f64>> = std::iter::once(start).chain(stops.clone()).collect();
            let m = net.distance_matrix(&points);
            let mut previous = 0;
            for (k, &i) in tour.order.iter().enumerate() {
                assert!((tour.legs_m[k] - m[previous][i + 1]).abs() < 0.05);
                previous = i + 1;
            }
            assert_eq!(net.route(start, &stops), tour, "deterministic");
        }
    }

    fn random_matrix(rng: &mut ChaCha8Rng, n: usize, euclidean: bool) -> Vec<Vec<f64>> {
        if euclidean {
            let p: Vec<(f64, f64)> = (0..n)
                .map(|_| (rng.gen_range(0.0..1000.0), rng.gen_range(0.0..1000.0)))
                .collect();
            (0..n)
                .map(|i| {
                    (0..n)
                        .map(|j| (p[i].0 - p[j].0).hypot(p[i].1 - p[j].1))
                        .collect()
                })
                .collect()
        } else {
            let upper: Vec<f64> = (0..n * n).map(|_| rng.gen_range(1.0..100.0)).collect();
            (0..n)
                .map(|i| {
                    (0..n)
                        .map(|j| match i.cmp(&j) {
                            std::cmp::Ordering::Equal => 0.0,
                            std::cmp::Ordering::Less => upper[i * n + j],
                            std::cmp::Ordering::Greater => upper[j * n + i],
                        })
                        .collect()
                })
                .collect()
        }
    }

    fn cost(m: &[Vec<f64>], path: &[usize]) -> f64 {
        path.windows(2).map(|w| m[w[0]][w[1]]).sum()
    }

    fn brute_force(m: &[Vec<f64>]) -> f64 {
        fn go(m: &[Vec<f64>], path: &mut Vec<usize>, used: &mut [bool], best: &mut f64) {
            if path.len() == m.len() {
                *best = best.min(cost(m, path));
                return;
            }
            for j in 1..m.len() {
                if !used[j] {
                    used[j] = true;
                    path.push(j);
                    go(m, path, used, best);
                    path.pop();
                    used[j] = false;
                }
            }
        }
        let mut best = f64::INFINITY;
        let mut used = vec![false; m.len()];
        go(m, &mut vec![0], &mut used, &mut best);
        best
    }

    /// Held-Karp for an open path from 0.
    fn held_karp(m: &[Vec<f64>]) -> f64 {
        let k = m.len() - 1;
        let mut dp = vec![vec![f64::INFINITY; k]; 1 << k];
        for j in 0..k {
            dp[1 << j][j] = m[0][j + 1];
        }
        for set in 1..(1usize << k) {
            for j in 0..k {
                let d = dp[set][j];
                if set & (1 << j) == 0 || d.is_infinite() {
                    continue;
                }
                for next in 0..k {
                    if set & (1 << next) == 0 {
                        let to = set | (1 << next);
                        dp[to][next] = dp[to][next].min(d + m[j + 1][next + 1]);
                    }
                }
            }
        }
        dp[(1 << k) - 1]
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min)
    }

    fn is_path_from_start(path: &[usize], n: usize) {
        assert_eq!(path.first(), Some(&0));
        let mut sorted = path.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..n).collect::<Vec<_>>());
    }

    #[test]
    fn order_stops_finds_the_optimum_of_small_matrices() {
        let mut rng = ChaCha8Rng::seed_from_u64(2026);
        for n in 1..=8 {
            for round in 0..30 {
                let m = random_matrix(&mut rng, n, round % 2 == 0);
                let path = order_stops(&m);
                is_path_from_start(&path, n);
                let optimum = if n == 1 { 0.0 } else { brute_force(&m) };
                assert!(
                    (cost(&m, &path) - optimum).abs() < 1e-9,
                    "n {n}: {} vs {optimum}",
                    cost(&m, &path)
                );
            }
        }
    }

    #[test]
    fn order_stops_finds_the_optimum_of_thirteen() {
        let mut rng = ChaCha8Rng::seed_from_u64(13);
        for round in 0..6 {
            let m = random_matrix(&mut rng, 13, round % 2 == 0);
            let path = order_stops(&m);
            is_path_from_start(&path, 13);
            let optimum = held_karp(&m);
            assert!(
                (cost(&m, &path) - optimum).abs() < 1e-9,
                "{} vs {optimum}",
                cost(&m, &path)
            );
        }
    }

    #[test]
    fn order_stops_is_deterministic() {
        let mut rng = ChaCha8Rng::seed_from_u64(60);
        let m = random_matrix(&mut rng, 61, true);
        let path = order_stops(&m);
        is_path_from_start(&path, 61);
        for _ in 0..3 {
            assert_eq!(order_stops(&m), path);
        }
        // And no worse than nearest neighbour from the start.
        let costs = Costs {
            n: 61,
            d: m.iter().flatten().copied().collect(),
        };
        let nn = (1..61)
            .map(|first| nearest_neighbour(&costs, first))
            .min_by(|a, b| costs.path(a).total_cmp(&costs.path(b)))
            .unwrap();
        assert!(cost(&m, &path) <= costs.path(&nn) + 1e-9);
    }
}
