// Drawing a line or a polygon on the map by clicking vertices, with snapping, undo/redo, Esc.
//
// Written here rather than with terra-draw: the editor needs undo/redo of single vertices while a
// shape is being drawn, which terra-draw's modes do not offer, and snapping onto what MapLibre
// has rendered from vector tiles (roads, rivers) as well as onto our GeoJSON, which would be a
// custom callback there too. What is left, clicks and a rubber band, is small.
import type { GeoJSONSource, Map as MapLibreMap, MapMouseEvent, PointLike } from 'maplibre-gl';
import type { Feature, FeatureCollection, Position } from 'geojson';

/** Pixels within which a click or a dragged vertex snaps onto something. */
export const SNAP_PX = 10;

export type SnapKind = 'vertex' | 'edge';

export interface Snapped {
  at: Position;
  kind: SnapKind;
  /** what was snapped onto: 'grid', 'village', 'road', 'river' */
  source: string;
}

export interface Px {
  x: number;
  y: number;
}

/** Something to snap onto, already in screen pixels, with its map coordinates. */
export interface SnapTarget {
  source: string;
  /** lower wins over any distance: grid and village boundaries (0) before roads and rivers (1) */
  rank?: number;
  /** a path of vertices (a ring is closed by repeating its first vertex) */
  px: Px[];
  at: Position[];
}

/**
 * The point to snap the cursor onto: the nearest vertex within `radius` pixels, else the nearest
 * point on a segment; within each, targets of a lower rank first (a grid corner beats a road's
 * vertex next to it: grids must share their corners exactly, roads come rounded from tiles).
 * A point on a segment is interpolated in map coordinates, so it lies on the segment the server
 * stores, not on its screen picture.
 */
export function snapTo(cursor: Px, targets: SnapTarget[], radius = SNAP_PX): Snapped | null {
  const ranks = [...new Set(targets.map((t) => t.rank ?? 0))].sort((a, b) => a - b);
  for (const r of ranks) {
    const s = nearestVertex(cursor, targets.filter((t) => (t.rank ?? 0) === r), radius);
    if (s) return s;
  }
  for (const r of ranks) {
    const s = nearestOnSegment(cursor, targets.filter((t) => (t.rank ?? 0) === r), radius);
    if (s) return s;
  }
  return null;
}

function nearestVertex(cursor: Px, targets: SnapTarget[], radius: number): Snapped | null {
  let best: Snapped | null = null;
  let bestD = radius;
  for (const t of targets) {
    for (let i = 0; i < t.px.length; i++) {
      const d = Math.hypot(t.px[i].x - cursor.x, t.px[i].y - cursor.y);
      if (d <= bestD) {
        bestD = d;
        best = { at: t.at[i], kind: 'vertex', source: t.source };
      }
    }
  }
  return best;
}

function nearestOnSegment(cursor: Px, targets: SnapTarget[], radius: number): Snapped | null {
  let best: Snapped | null = null;
  let bestD = radius;
  for (const t of targets) {
    for (let i = 0; i + 1 < t.px.length; i++) {
      const a = t.px[i];
      const b = t.px[i + 1];
      const dx = b.x - a.x;
      const dy = b.y - a.y;
      const len2 = dx * dx + dy * dy;
      if (len2 === 0) continue;
      const s = Math.max(0, Math.min(1, ((cursor.x - a.x) * dx + (cursor.y - a.y) * dy) / len2));
      const d = Math.hypot(a.x + s * dx - cursor.x, a.y + s * dy - cursor.y);
      if (d <= bestD) {
        bestD = d;
        const A = t.at[i];
        const B = t.at[i + 1];
        best = { at: [A[0] + s * (B[0] - A[0]), A[1] + s * (B[1] - A[1])], kind: 'edge', source: t.source };
      }
    }
  }
  return best;
}

export type DrawKind = 'line' | 'polygon';

export interface DrawOptions {
  kind: DrawKind;
  /** the snapped point for a screen point, or null to take the cursor as it is */
  snap: (p: Px) => Snapped | null;
  /** vertices were added, undone or redone */
  onChange: () => void;
  onFinish: (coords: Position[]) => void;
  onCancel: () => void;
}

export const DRAW_SOURCE = 'draw-shape';
export const DRAW_VERTEX_SOURCE = 'draw-vertices';
export const SNAP_SOURCE = 'draw-snap';

const EMPTY: FeatureCollection = { type: 'FeatureCollection', features: [] };

/** The sources and layers a DrawTool draws into (added once, on top of the style). */
export function addDrawLayers(map: MapLibreMap): void {
  for (const id of [DRAW_SOURCE, DRAW_VERTEX_SOURCE, SNAP_SOURCE]) {
    if (!map.getSource(id)) map.addSource(id, { type: 'geojson', data: EMPTY });
  }
  map.addLayer({
    id: 'draw-fill',
    type: 'fill',
    source: DRAW_SOURCE,
    filter: ['==', ['geometry-type'], 'Polygon'],
    paint: { 'fill-color': '#1565c0', 'fill-opacity': 0.15 },
  });
  map.addLayer({
    id: 'draw-line',
    type: 'line',
    source: DRAW_SOURCE,
    layout: { 'line-join': 'round', 'line-cap': 'round' },
    paint: {
      'line-color': '#1565c0',
      'line-width': 2.5,
      // The rubber band to the cursor is dashed: it is not a vertex yet.
      'line-dasharray': ['case', ['==', ['get', 'role'], 'rubber'], ['literal', [2, 2]], ['literal', [1, 0]]],
    },
  });
  map.addLayer({
    id: 'draw-vertex',
    type: 'circle',
    source: DRAW_VERTEX_SOURCE,
    paint: {
      'circle-radius': ['case', ['get', 'first'], 6, 4.5],
      'circle-color': '#ffffff',
      'circle-stroke-color': '#1565c0',
      'circle-stroke-width': 2,
    },
  });
  map.addLayer({
    id: 'draw-snap',
    type: 'circle',
    source: SNAP_SOURCE,
    paint: {
      'circle-radius': 8,
      'circle-color': 'rgba(0,0,0,0)',
      'circle-stroke-color': ['match', ['get', 'kind'], 'vertex', '#d81b60', '#ff6f00'],
      'circle-stroke-width': 3,
    },
  });
}

/** Show (or with null, hide) the snap marker; body[data-snapped] tells tests what it snapped onto. */
export function showSnap(map: MapLibreMap, s: Snapped | null): void {
  const src = map.getSource(SNAP_SOURCE) as GeoJSONSource | undefined;
  src?.setData(
    s
      ? { type: 'FeatureCollection', features: [{ type: 'Feature', properties: { kind: s.kind, source: s.source }, geometry: { type: 'Point', coordinates: s.at } }] }
      : EMPTY,
  );
  if (s) document.body.dataset.snapped = `${s.source}:${s.kind}`;
  else delete document.body.dataset.snapped;
}

export class DrawTool {
  readonly kind: DrawKind;
  private vertices: Position[] = [];
  private redoStack: Position[] = [];
  private cursor: Position | null = null;
  private readonly onClick = (e: MapMouseEvent) => this.click(e);
  private readonly onMove = (e: MapMouseEvent) => this.move(e);
  private readonly onDblClick = (e: MapMouseEvent) => {
    // A double click ends the shape instead of zooming in.
    e.preventDefault();
    if (this.canFinish()) this.finish();
  };
  private readonly onKey = (e: KeyboardEvent) => this.key(e);
  private active = false;

  constructor(
    private readonly map: MapLibreMap,
    private readonly opts: DrawOptions,
  ) {
    this.kind = opts.kind;
  }

  start(): void {
    if (this.active) return;
    this.active = true;
    this.map.doubleClickZoom.disable();
    this.map.on('click', this.onClick);
    this.map.on('mousemove', this.onMove);
    this.map.on('dblclick', this.onDblClick);
    document.addEventListener('keydown', this.onKey);
    this.map.getCanvas().style.cursor = 'crosshair';
    this.render();
  }

  /** Stop listening and clear the drawing (after finish or cancel). */
  stop(): void {
    if (!this.active) return;
    this.active = false;
    this.map.off('click', this.onClick);
    this.map.off('mousemove', this.onMove);
    this.map.off('dblclick', this.onDblClick);
    document.removeEventListener('keydown', this.onKey);
    // Re-enabled after the dblclick of the finishing double click has passed.
    window.setTimeout(() => this.map.doubleClickZoom.enable(), 400);
    this.map.getCanvas().style.cursor = '';
    this.vertices = [];
    this.redoStack = [];
    this.cursor = null;
    this.render();
    showSnap(this.map, null);
  }

  get count(): number {
    return this.vertices.length;
  }

  canUndo(): boolean {
    return this.vertices.length > 0;
  }

  canRedo(): boolean {
    return this.redoStack.length > 0;
  }

  canFinish(): boolean {
    return this.vertices.length >= (this.kind === 'line' ? 2 : 3);
  }

  undo(): void {
    const v = this.vertices.pop();
    if (!v) return;
    this.redoStack.push(v);
    this.changed();
  }

  redo(): void {
    const v = this.redoStack.pop();
    if (!v) return;
    this.vertices.push(v);
    this.changed();
  }

  finish(): void {
    if (!this.canFinish()) return;
    const coords = this.vertices.slice();
    if (this.kind === 'polygon') coords.push(coords[0]);
    this.stop();
    this.opts.onFinish(coords);
  }

  cancel(): void {
    this.stop();
    this.opts.onCancel();
  }

  /** Add a vertex at a map coordinate (also what a click does, after snapping). */
  add(at: Position): void {
    this.vertices.push(at);
    this.redoStack = [];
    this.changed();
  }

  private changed(): void {
    this.render();
    this.opts.onChange();
  }

  private pointAt(e: MapMouseEvent): { at: Position; snapped: Snapped | null } {
    const snapped = this.opts.snap(e.point);
    return { at: snapped ? snapped.at : [e.lngLat.lng, e.lngLat.lat], snapped };
  }

  private click(e: MapMouseEvent): void {
    const { at, snapped } = this.pointAt(e);
    const px = (p: Position) => this.map.project(p as [number, number]);
    const last = this.vertices[this.vertices.length - 1];
    // The second click of a double click lands on the last vertex: not a new one.
    if (last && Math.hypot(px(last).x - e.point.x, px(last).y - e.point.y) < 4) return;
    // Clicking the first vertex closes the polygon.
    const first = this.vertices[0];
    if (this.kind === 'polygon' && first && this.canFinish() && Math.hypot(px(first).x - e.point.x, px(first).y - e.point.y) < 8) {
      this.finish();
      return;
    }
    showSnap(this.map, snapped);
    this.add(at);
  }

  private move(e: MapMouseEvent): void {
    const { at, snapped } = this.pointAt(e);
    this.cursor = at;
    showSnap(this.map, snapped);
    this.render();
  }

  private key(e: KeyboardEvent): void {
    const target = e.target as HTMLElement | null;
    if (target && /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) return;
    const mod = e.ctrlKey || e.metaKey;
    if (e.key === 'Escape') {
      e.preventDefault();
      this.cancel();
    } else if (mod && (e.key === 'y' || e.key === 'Y' || ((e.key === 'z' || e.key === 'Z') && e.shiftKey))) {
      e.preventDefault();
      this.redo();
    } else if (mod && (e.key === 'z' || e.key === 'Z')) {
      e.preventDefault();
      this.undo();
    } else if (e.key === 'Enter') {
      e.preventDefault();
      this.finish();
    }
  }

  private render(): void {
    const shape = this.map.getSource(DRAW_SOURCE) as GeoJSONSource | undefined;
    const verts = this.map.getSource(DRAW_VERTEX_SOURCE) as GeoJSONSource | undefined;
    if (!shape || !verts) return;
    const v = this.vertices;
    const features: Feature[] = [];
    if (this.kind === 'polygon' && v.length >= 3) {
      features.push({ type: 'Feature', properties: { role: 'shape' }, geometry: { type: 'Polygon', coordinates: [[...v, v[0]]] } });
    }
    if (v.length >= 2) {
      const path = this.kind === 'polygon' && v.length >= 3 ? [...v, v[0]] : v;
      features.push({ type: 'Feature', properties: { role: 'shape' }, geometry: { type: 'LineString', coordinates: path } });
    }
    if (this.active && this.cursor && v.length) {
      const band = [v[v.length - 1], this.cursor];
      if (this.kind === 'polygon' && v.length >= 2) band.push(v[0]);
      features.push({ type: 'Feature', properties: { role: 'rubber' }, geometry: { type: 'LineString', coordinates: band } });
    }
    shape.setData({ type: 'FeatureCollection', features });
    verts.setData({
      type: 'FeatureCollection',
      features: v.map((c, i) => ({ type: 'Feature', properties: { first: i === 0 }, geometry: { type: 'Point', coordinates: c } })),
    });
  }
}

/** Screen-space snap targets from rendered vector-tile lines (roads, rivers) near a point. */
export function renderedLineTargets(map: MapLibreMap, p: Px, layers: Array<{ layer: string; source: string }>, radius = SNAP_PX): SnapTarget[] {
  const present = layers.filter((l) => map.getLayer(l.layer) && map.getLayoutProperty(l.layer, 'visibility') !== 'none');
  if (!present.length) return [];
  const box: [PointLike, PointLike] = [
    [p.x - radius, p.y - radius],
    [p.x + radius, p.y + radius],
  ];
  const out: SnapTarget[] = [];
  const sourceOf = new Map(present.map((l) => [l.layer, l.source]));
  for (const f of map.queryRenderedFeatures(box, { layers: present.map((l) => l.layer) })) {
    const g = f.geometry;
    const paths: Position[][] = g.type === 'LineString' ? [g.coordinates] : g.type === 'MultiLineString' ? g.coordinates : [];
    for (const path of paths) {
      out.push({ source: sourceOf.get(f.layer.id) ?? f.layer.id, rank: 1, at: path, px: path.map((c) => map.project(c as [number, number])) });
    }
  }
  return out;
}
