// One label point per area.
//
// Vector tiles cut a village into one piece per tile, and a symbol layer on the polygons would
// label every piece ("冶河村" four times). So the labels come from a GeoJSON source built here,
// one point per area id, from the pieces of the loaded tiles. If the server puts a label point
// (a Point feature with the area's id) into the `areas` layer, that point is used as it is.
import type { GeoJSONSource, Map as MapLibreMap } from 'maplibre-gl';
import type { Feature, FeatureCollection, Point, Polygon, Position } from 'geojson';

type Ring = Position[];
type Poly = Ring[];

interface Acc {
  props: Record<string, unknown>;
  point?: Position;
  polys: Poly[];
}

function ringArea(r: Ring): { a: number; cx: number; cy: number } {
  let a = 0, cx = 0, cy = 0;
  for (let i = 0, j = r.length - 1; i < r.length; j = i++) {
    const f = r[j][0] * r[i][1] - r[i][0] * r[j][1];
    a += f;
    cx += (r[j][0] + r[i][0]) * f;
    cy += (r[j][1] + r[i][1]) * f;
  }
  a /= 2;
  return a === 0 ? { a: 0, cx: r[0]?.[0] ?? 0, cy: r[0]?.[1] ?? 0 } : { a, cx: cx / (6 * a), cy: cy / (6 * a) };
}

function inRing(p: Position, r: Ring): boolean {
  let inside = false;
  for (let i = 0, j = r.length - 1; i < r.length; j = i++) {
    const [xi, yi] = r[i];
    const [xj, yj] = r[j];
    if (yi > p[1] !== yj > p[1] && p[0] < ((xj - xi) * (p[1] - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

export function inPoly(p: Position, poly: Poly): boolean {
  if (!poly.length || !inRing(p, poly[0])) return false;
  for (let i = 1; i < poly.length; i++) if (inRing(p, poly[i])) return false;
  return true;
}

/** Middle of the widest stretch of the polygon along the horizontal line at latitude y. */
function scanlinePoint(poly: Poly, y: number): Position | null {
  const xs: number[] = [];
  for (const r of poly) {
    for (let i = 0, j = r.length - 1; i < r.length; j = i++) {
      const [xi, yi] = r[i];
      const [xj, yj] = r[j];
      if (yi > y !== yj > y) xs.push(((xj - xi) * (y - yi)) / (yj - yi) + xi);
    }
  }
  xs.sort((a, b) => a - b);
  let best: Position | null = null;
  let width = 0;
  for (let i = 0; i + 1 < xs.length; i += 2) {
    if (xs[i + 1] - xs[i] > width) {
      width = xs[i + 1] - xs[i];
      best = [(xs[i] + xs[i + 1]) / 2, y];
    }
  }
  return best;
}

function bboxOf(poly: Poly): [number, number, number, number] {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const [x, y] of poly[0] ?? []) {
    x0 = Math.min(x0, x);
    y0 = Math.min(y0, y);
    x1 = Math.max(x1, x);
    y1 = Math.max(y1, y);
  }
  return [x0, y0, x1, y1];
}

/** A point inside the area: the centroid of all its pieces, or failing that a point inside the largest piece. */
export function labelPoint(polys: Poly[]): Position | null {
  let A = 0, X = 0, Y = 0;
  let largest: Poly | null = null;
  let largestArea = -1;
  for (const poly of polys) {
    let pa = 0, px = 0, py = 0;
    poly.forEach((ring, i) => {
      const { a, cx, cy } = ringArea(ring);
      const s = i === 0 ? Math.abs(a) : -Math.abs(a);
      pa += s;
      px += cx * s;
      py += cy * s;
    });
    if (pa > largestArea) {
      largestArea = pa;
      largest = poly;
    }
    A += pa;
    X += px;
    Y += py;
  }
  if (!largest) return null;
  if (A > 0) {
    const c: Position = [X / A, Y / A];
    if (polys.some((p) => inPoly(c, p))) return c;
  }
  const [, y0, , y1] = bboxOf(largest);
  let best: Position | null = null;
  for (const f of [0.5, 0.4, 0.6, 0.3, 0.7]) {
    best = scanlinePoint(largest, y0 + (y1 - y0) * f);
    if (best) break;
  }
  return best ?? largest[0][0] ?? null;
}

export const LABEL_SOURCE = 'area-labels';

export const EMPTY: FeatureCollection<Point> = { type: 'FeatureCollection', features: [] };

let lastKey = '';

/**
 * Rebuild the label points from the loaded `areas` tiles. Returns true when the labels changed
 * (the map will then render and go idle once more).
 */
export function updateAreaLabels(map: MapLibreMap): boolean {
  const src = map.getSource(LABEL_SOURCE) as GeoJSONSource | undefined;
  if (!src || !map.getSource('areas')) return false;
  const byId = new Map<string, Acc>();
  for (const f of map.querySourceFeatures('areas', { sourceLayer: 'areas' })) {
    const props = (f.properties ?? {}) as Record<string, unknown>;
    const id = String(props.id ?? f.id ?? '');
    if (!id) continue;
    let acc = byId.get(id);
    if (!acc) {
      acc = { props, polys: [] };
      byId.set(id, acc);
    }
    const g = f.geometry;
    if (g.type === 'Point') acc.point = g.coordinates;
    else if (g.type === 'Polygon') acc.polys.push((g as Polygon).coordinates);
    else if (g.type === 'MultiPolygon') for (const p of g.coordinates) acc.polys.push(p);
  }
  const features: Feature<Point>[] = [];
  const keys: string[] = [];
  for (const [id, acc] of byId) {
    const p = acc.point ?? labelPoint(acc.polys);
    if (!p) continue;
    const x = Math.round(p[0] * 1e6) / 1e6;
    const y = Math.round(p[1] * 1e6) / 1e6;
    keys.push(`${id}:${x},${y}`);
    const feature: Feature<Point> = { type: 'Feature', properties: { ...acc.props }, geometry: { type: 'Point', coordinates: [x, y] } };
    if (Number.isFinite(Number(id))) feature.id = Number(id);
    features.push(feature);
  }
  keys.sort();
  const key = keys.join(';');
  if (key === lastKey) return false;
  lastKey = key;
  src.setData({ type: 'FeatureCollection', features });
  return true;
}
