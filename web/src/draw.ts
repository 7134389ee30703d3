// The grid editor (`/draw`): a village cadre or township admin divides a village into grids.
//
// The base map is the main page's style (roads, rivers, households, village line from the
// tiles), but the village's grids come from GET /api/villages/{id}/grids as GeoJSON: tiles would
// lag behind an edit, and snapping needs the stored coordinates, not the tiles' rounded ones.
// Every edit is first sent as a dry run (POST …/grids/validate) and shown in a preview dialog;
// only "Save" makes the real call. Splits, merges and shared-vertex moves are done by the server,
// which keeps shared edges shared; the page only draws lines and polygons.
import {
  AttributionControl,
  Map as MapLibreMap,
  NavigationControl,
  ScaleControl,
  setWorkerUrl,
  type GeoJSONSource,
  type MapLayerMouseEvent,
  type MapLayerTouchEvent,
} from 'maplibre-gl';
import workerUrl from 'maplibre-gl/dist/maplibre-gl-worker.mjs?url';
import type { Feature, FeatureCollection, LineString, MultiPolygon, Point, Polygon, Position } from 'geojson';
import { accountReady, currentUser } from './account';
import {
  ApiError,
  fetchHistory,
  fetchStaff,
  fetchTileLayers,
  fetchVillageGrids,
  fetchVillages,
  proposeGrids,
  saveGridOp,
  saveGridRule,
  saveStaff,
  validateGridOp,
  type DraftFeature,
  type EditResponse,
  type GridFeature,
  type GridOp,
  type HistoryVersion,
  type ProposeRequest,
  type StaffAnswer,
  type Village,
  type VillageGrids,
} from './api';
import { Draft, near, verticesOfGeometry } from './draft';
import { addDrawLayers, DrawTool, renderedLineTargets, showSnap, SNAP_PX, snapTo, type Px, type SnapTarget, type Snapped } from './drawtool';
import { lang, onLangChange, t, tf, tk, type TKey } from './i18n';
import { inPoly, labelPoint } from './labels';
import { buildStyle, COLORS, SOURCE_IDS, type SourceId } from './style';

declare global {
  interface Window {
    __cuntuMap?: MapLibreMap;
    /** test hook: the grids as loaded, the selection and the village */
    __cuntuDraw?: {
      data: () => VillageGrids | null;
      selected: () => number | null;
      villageId: () => number | null;
      /** the proposal as adjusted so far, or null */
      draft: () => { features: DraftFeature[]; summary: unknown; adjustments: number; selected: number | null } | null;
    };
  }
}

setWorkerUrl(new URL(workerUrl, location.href).href);

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

type Tool = 'create' | 'split' | 'merge' | 'move';
type Status = 'under' | 'ok' | 'over';
type Poly = Position[][];

const FONT = ['sans-serif'];
const GAP_COLOR = '#c62828';
const HISTORY_COLOR = '#6a1b9a';
const SELECT_COLOR = '#0d47a1';
// The draft is drawn in colours the grids never use, so it cannot be mistaken for saved grids.
const DRAFT_LINE = '#1a237e';
const DRAFT_OK = '#4f8fe8';
const DRAFT_BAD = '#ff8f00';

const state: {
  map: MapLibreMap | null;
  villages: Village[];
  villageId: number | null;
  data: VillageGrids | null;
  selected: number | null;
  tool: Tool | null;
  draw: DrawTool | null;
  history: HistoryVersion[] | null;
  historyPick: number | null;
  staff: StaffAnswer | null;
  loads: number;
  /** a proposal being looked at and adjusted, not saved */
  draft: Draft | null;
  /** the draft grid whose vertices have handles */
  draftSelected: number | null;
  /** the proposal form; null min/max follow the township's rule */
  proposeForm: { min: string | null; max: string | null; target: string; seed: string; keep: boolean };
  proposing: boolean;
  proposeError: string | null;
  ruleError: string | null;
} = {
  map: null,
  villages: [],
  villageId: null,
  data: null,
  selected: null,
  tool: null,
  draw: null,
  history: null,
  historyPick: null,
  staff: null,
  loads: 0,
  draft: null,
  draftSelected: null,
  proposeForm: { min: null, max: null, target: '', seed: '', keep: false },
  proposing: false,
  proposeError: null,
  ruleError: null,
};

// ---------------------------------------------------------------------------
// Small DOM helpers
// ---------------------------------------------------------------------------

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | undefined> = {},
  ...children: Array<Node | string | null | undefined>
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'role' || k === 'type' || k === 'for' || k === 'id' || k === 'title') e.setAttribute(k, v);
    else (e as unknown as Record<string, string>)[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

/** A label that follows the language switch (applyDom re-translates every data-i18n). */
function i18nText(key: TKey, tag: 'span' | 'h2' | 'h3' | 'label' | 'p' = 'span'): HTMLElement {
  return el(tag, { 'data-i18n': key, text: t(key) });
}

function button(key: TKey, testid: string, onClick: () => void, cls = 'tool'): HTMLButtonElement {
  const b = el('button', { type: 'button', class: cls, 'data-testid': testid, 'data-i18n': key, text: t(key) });
  b.addEventListener('click', onClick);
  return b;
}

function fmt(n: number, digits = 0): string {
  return new Intl.NumberFormat(lang(), { maximumFractionDigits: digits }).format(n);
}

/** Grid names are stored in Chinese ("网格03"); in English the usual ones read "Grid 03". */
function gridName(name: string | null | undefined): string {
  if (!name) return t('draw.move.gap');
  if (lang() === 'en') {
    const m = /^网格(\d+)$/.exec(name);
    if (m) return `Grid ${m[1]}`;
  }
  return name;
}

function ruleOf(): { min: number; max: number } {
  const r = state.data?.rule;
  return { min: r?.min_households ?? 30, max: r?.max_households ?? 60 };
}

function statusOf(n: number): Status {
  const { min, max } = ruleOf();
  return n < min ? 'under' : n <= max ? 'ok' : 'over';
}

let toastTimer = 0;

function toast(text: string, kind: 'ok' | 'warn' = 'ok'): void {
  const box = $('toast');
  box.textContent = text;
  box.dataset.kind = kind;
  box.hidden = false;
  window.clearTimeout(toastTimer);
  toastTimer = window.setTimeout(() => (box.hidden = true), 5000);
}

function showError(prefix: TKey, e: unknown): void {
  const box = $('error');
  box.hidden = false;
  box.textContent = t(prefix) + (e instanceof Error ? e.message : String(e));
}

// ---------------------------------------------------------------------------
// Geometry
// ---------------------------------------------------------------------------

function polysOf(g: Polygon | MultiPolygon | null | undefined): Poly[] {
  if (!g) return [];
  return g.type === 'Polygon' ? [g.coordinates] : g.coordinates;
}

function bboxOf(polys: Poly[]): [number, number, number, number] | null {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const p of polys) for (const r of p) for (const [x, y] of r) {
    x0 = Math.min(x0, x);
    y0 = Math.min(y0, y);
    x1 = Math.max(x1, x);
    y1 = Math.max(y1, y);
  }
  return Number.isFinite(x0) ? [x0, y0, x1, y1] : null;
}

/** The grid whose polygon holds most midpoints of the line's segments: the one the line cuts. */
function gridUnderLine(line: Position[]): GridFeature | null {
  const grids = state.data?.grids.features ?? [];
  const votes = new Map<number, number>();
  for (let i = 0; i + 1 < line.length; i++) {
    // Several points along each segment, so a line with two long segments still finds its grid.
    for (const f of [0.25, 0.5, 0.75]) {
      const p: Position = [line[i][0] + f * (line[i + 1][0] - line[i][0]), line[i][1] + f * (line[i + 1][1] - line[i][1])];
      for (const g of grids) {
        if (polysOf(g.geometry).some((poly) => inPoly(p, poly))) votes.set(g.properties.id, (votes.get(g.properties.id) ?? 0) + 1);
      }
    }
  }
  let best: number | null = null;
  for (const [id, n] of votes) if (best === null || n > (votes.get(best) ?? 0)) best = id;
  return best === null ? null : gridById(best);
}

function gridById(id: number | null): GridFeature | null {
  if (id === null) return null;
  return (state.data?.grids.features.find((f) => f.properties.id === id) as GridFeature | undefined) ?? null;
}

const samePos = (a: Position, b: Position) => Math.abs(a[0] - b[0]) < 1e-10 && Math.abs(a[1] - b[1]) < 1e-10;

/** The distinct vertices of a grid (rings repeat their first vertex at the end). */
function verticesOf(g: GridFeature): Position[] {
  const out: Position[] = [];
  for (const poly of polysOf(g.geometry)) for (const ring of poly) {
    for (let i = 0; i < ring.length - 1; i++) if (!out.some((p) => samePos(p, ring[i]))) out.push(ring[i]);
  }
  return out;
}

// Snapping onto our GeoJSON: every ring of the grids and of the village, with its bounding box so
// that only rings near the cursor are projected to the screen.
interface Ring {
  source: string;
  at: Position[];
  b: [number, number, number, number];
}
let rings: Ring[] = [];

function indexRings(): void {
  rings = [];
  const add = (source: string, polys: Poly[]) => {
    for (const p of polys) for (const r of p) {
      const b = bboxOf([[r]]);
      if (b) rings.push({ source, at: r, b });
    }
  };
  if (state.data) {
    add('village', polysOf(state.data.village.geometry));
    const draft = state.draft;
    if (draft) {
      // A dragged draft vertex meets the draft's own edges; the current grids only where they
      // stay (keep_existing), since otherwise the draft replaces them.
      for (const f of draft.features) add('draft', polysOf(f.geometry));
      if (draft.keepExisting) for (const g of state.data.grids.features) add('grid', polysOf(g.geometry));
      return;
    }
    for (const g of state.data.grids.features) add('grid', polysOf(g.geometry));
    // The uncovered part's outline too: its corners are where a new grid filling it must go,
    // and some of them are on a neighbour's edge rather than at one of its vertices.
    add('gap', polysOf(state.data.gaps?.geometry));
  }
}

/** Snap a screen point onto grid and village vertices/edges, roads and rivers; `except` is never a target (a dragged vertex). */
function snapAt(p: Px, except?: Position): Snapped | null {
  const map = state.map;
  if (!map) return null;
  const r = SNAP_PX + 2;
  const a = map.unproject([p.x - r, p.y + r]);
  const b = map.unproject([p.x + r, p.y - r]);
  const targets: SnapTarget[] = [];
  for (const ring of rings) {
    if (ring.b[2] < a.lng || ring.b[0] > b.lng || ring.b[3] < a.lat || ring.b[1] > b.lat) continue;
    // `near`, not exact: a draft vertex shared by several polygons may differ there by a few ulps.
    const at = except ? ring.at.filter((c) => !near(c, except)) : ring.at;
    targets.push({ source: ring.source, at, px: at.map((c) => map.project(c as [number, number])) });
  }
  targets.push(
    ...renderedLineTargets(map, p, [
      { layer: 'roads', source: 'road' },
      { layer: 'waterways', source: 'river' },
    ]),
  );
  return snapTo(p, targets);
}

// ---------------------------------------------------------------------------
// The map's GeoJSON
// ---------------------------------------------------------------------------

const EMPTY: FeatureCollection = { type: 'FeatureCollection', features: [] };

function setSource(id: string, data: FeatureCollection): void {
  (state.map?.getSource(id) as GeoJSONSource | undefined)?.setData(data);
}

/** Redraw the grids, their labels, the gap and the selection from `state.data`. */
function renderGrids(): void {
  const data = state.data;
  if (!state.map) return;
  if (!data) {
    for (const id of ['edit-grids', 'edit-grid-labels', 'edit-gaps', 'edit-handles']) setSource(id, EMPTY);
    return;
  }
  const grids: Feature[] = data.grids.features.map((f) => ({
    type: 'Feature',
    id: f.properties.id,
    properties: { id: f.properties.id, status: statusOf(f.properties.households), selected: f.properties.id === state.selected },
    geometry: f.geometry,
  }));
  setSource('edit-grids', { type: 'FeatureCollection', features: grids });
  const labels: Feature<Point>[] = [];
  for (const f of data.grids.features) {
    const at = labelPoint(polysOf(f.geometry));
    if (!at) continue;
    labels.push({
      type: 'Feature',
      properties: { kind: 'grid', label: tf('draw.gridLabel', { name: gridName(f.properties.name), n: fmt(f.properties.households) }) },
      geometry: { type: 'Point', coordinates: at },
    });
  }
  const gapGeom = data.gaps?.geometry ?? null;
  const gapFeatures: Feature[] = [];
  if (gapGeom && polysOf(gapGeom).length) {
    gapFeatures.push({ type: 'Feature', properties: {}, geometry: gapGeom });
    // One label, on the largest part: the count is the gap's total.
    const polys = polysOf(gapGeom);
    // Plane area in degrees² is enough to tell the largest part (a long sliver has a big bbox).
    const ringArea = (r: Position[]) => {
      let a = 0;
      for (let i = 0, j = r.length - 1; i < r.length; j = i++) a += r[j][0] * r[i][1] - r[i][0] * r[j][1];
      return Math.abs(a / 2);
    };
    const area = (p: Poly) => p.reduce((sum, r, i) => sum + (i === 0 ? ringArea(r) : -ringArea(r)), 0);
    const largest = polys.slice().sort((x, y) => area(y) - area(x))[0];
    const at = labelPoint([largest]);
    // A sliver left by rounding, with nobody in it, is hatched but not labelled.
    if (at && ((data.gaps?.households ?? 0) > 0 || (data.gaps?.area_m2 ?? 0) > 2000)) {
      labels.push({
        type: 'Feature',
        properties: { kind: 'gap', label: tf('draw.gapLabel', { n: fmt(data.gaps?.households ?? 0) }) },
        geometry: { type: 'Point', coordinates: at },
      });
    }
  }
  setSource('edit-gaps', { type: 'FeatureCollection', features: gapFeatures });
  setSource('edit-grid-labels', { type: 'FeatureCollection', features: labels });
  renderHandles();
}

/** The vertex handles of the selected grid, in the move tool. */
function renderHandles(override?: { from: Position; to: Position }): void {
  const g = gridById(state.selected);
  if (state.tool !== 'move' || !g) {
    setSource('edit-handles', EMPTY);
    return;
  }
  setSource('edit-handles', {
    type: 'FeatureCollection',
    features: verticesOf(g).map((c) => ({
      type: 'Feature',
      properties: { x: c[0], y: c[1] },
      geometry: { type: 'Point', coordinates: override && samePos(c, override.from) ? override.to : c },
    })),
  });
}

function renderHistoryOutline(): void {
  const v = state.history?.find((h) => h.version === state.historyPick);
  setSource('edit-history', v?.geometry ? { type: 'FeatureCollection', features: [{ type: 'Feature', properties: {}, geometry: v.geometry }] } : EMPTY);
}

/** A diagonal red hatch for the uncovered part, made here: no image is fetched. */
function hatchImage(): { width: number; height: number; data: Uint8Array } {
  const n = 10;
  const data = new Uint8Array(n * n * 4);
  for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) {
    const on = (x + y) % n < 2;
    const i = (y * n + x) * 4;
    data.set(on ? [198, 40, 40, 200] : [229, 115, 107, 40], i);
  }
  return { width: n, height: n, data };
}

function addEditLayers(map: MapLibreMap): void {
  // The tiles' grids are hidden: the GeoJSON ones are drawn instead, and change as the user edits.
  for (const id of ['grid-fill', 'grid-line', 'lane-line', 'hazards-fill', 'hazards-outline', 'hazards-point']) {
    if (map.getLayer(id)) map.setLayoutProperty(id, 'visibility', 'none');
  }
  if (map.getLayer('area-label')) map.setFilter('area-label', ['match', ['get', 'kind'], ['grid', 'lane'], false, true]);

  map.addImage('gap-hatch', hatchImage());
  for (const id of ['edit-grids', 'edit-gaps', 'edit-grid-labels', 'edit-handles', 'edit-history']) {
    map.addSource(id, { type: 'geojson', data: EMPTY, ...(id === 'edit-grids' ? { promoteId: 'id' } : {}) });
  }
  const below = map.getLayer('hazards-fill') ? 'hazards-fill' : undefined;
  map.addLayer(
    {
      id: 'edit-grid-fill',
      type: 'fill',
      source: 'edit-grids',
      paint: {
        'fill-color': ['match', ['get', 'status'], 'under', COLORS.gridUnder, 'over', COLORS.gridOver, COLORS.gridOk],
        'fill-opacity': ['case', ['get', 'selected'], 0.6, 0.4],
      },
    },
    below,
  );
  map.addLayer({ id: 'edit-gap-fill', type: 'fill', source: 'edit-gaps', paint: { 'fill-pattern': 'gap-hatch', 'fill-opacity': 0.9 } }, below);
  const over = map.getLayer('village-line') ? 'village-line' : undefined;
  map.addLayer(
    {
      id: 'edit-gap-line',
      type: 'line',
      source: 'edit-gaps',
      paint: { 'line-color': GAP_COLOR, 'line-width': 2, 'line-dasharray': [3, 1.5] },
    },
    over,
  );
  map.addLayer(
    {
      id: 'edit-grid-line',
      type: 'line',
      source: 'edit-grids',
      layout: { 'line-join': 'round' },
      paint: { 'line-color': COLORS.gridLine, 'line-width': ['interpolate', ['linear'], ['zoom'], 11, 1, 15, 1.8] },
    },
    over,
  );
  map.addLayer({
    id: 'edit-grid-selected',
    type: 'line',
    source: 'edit-grids',
    filter: ['==', ['get', 'selected'], true],
    layout: { 'line-join': 'round' },
    paint: { 'line-color': SELECT_COLOR, 'line-width': 3.5 },
  });
  map.addLayer({ id: 'edit-history-fill', type: 'fill', source: 'edit-history', paint: { 'fill-color': HISTORY_COLOR, 'fill-opacity': 0.12 } });
  map.addLayer({
    id: 'edit-history-line',
    type: 'line',
    source: 'edit-history',
    layout: { 'line-join': 'round' },
    paint: { 'line-color': HISTORY_COLOR, 'line-width': 3, 'line-dasharray': [2, 1.2] },
  });
  map.addLayer({
    id: 'edit-grid-label',
    type: 'symbol',
    source: 'edit-grid-labels',
    layout: {
      'text-field': ['get', 'label'],
      'text-font': FONT,
      'text-size': ['interpolate', ['linear'], ['zoom'], 12, 11, 15, 14],
      'text-max-width': 10,
      'text-padding': 2,
      'symbol-sort-key': ['match', ['get', 'kind'], 'gap', 0, 1],
    },
    paint: {
      'text-color': ['match', ['get', 'kind'], 'gap', GAP_COLOR, '#0f2a1a'],
      'text-halo-color': 'rgba(255,255,255,0.95)',
      'text-halo-width': 2,
    },
  });
  map.addLayer({
    id: 'edit-handles',
    type: 'circle',
    source: 'edit-handles',
    paint: { 'circle-radius': 6, 'circle-color': '#ffffff', 'circle-stroke-color': SELECT_COLOR, 'circle-stroke-width': 2.5 },
  });
  addDraftLayers(map);
  addDrawLayers(map);
}

/** The proposal over the grids: dashed outlines, fill by the rule, its own labels and handles. */
function addDraftLayers(map: MapLibreMap): void {
  for (const id of ['edit-draft', 'edit-draft-labels', 'edit-draft-handles']) {
    map.addSource(id, { type: 'geojson', data: EMPTY, ...(id === 'edit-draft' ? { promoteId: 'draft' } : {}) });
  }
  map.addLayer(
    {
      id: 'edit-draft-fill',
      type: 'fill',
      source: 'edit-draft',
      paint: {
        'fill-color': ['case', ['get', 'within_rule'], DRAFT_OK, DRAFT_BAD],
        'fill-opacity': ['case', ['get', 'selected'], 0.45, 0.28],
      },
    },
    'edit-grid-label',
  );
  map.addLayer(
    {
      id: 'edit-draft-line',
      type: 'line',
      source: 'edit-draft',
      layout: { 'line-join': 'round' },
      paint: { 'line-color': DRAFT_LINE, 'line-width': ['interpolate', ['linear'], ['zoom'], 11, 1.2, 15, 2.2], 'line-dasharray': [3, 2] },
    },
    'edit-grid-label',
  );
  map.addLayer({
    id: 'edit-draft-selected',
    type: 'line',
    source: 'edit-draft',
    filter: ['==', ['get', 'selected'], true],
    layout: { 'line-join': 'round' },
    paint: { 'line-color': SELECT_COLOR, 'line-width': 3.5 },
  });
  map.addLayer({
    id: 'edit-draft-label',
    type: 'symbol',
    source: 'edit-draft-labels',
    layout: {
      'text-field': ['get', 'label'],
      'text-font': FONT,
      'text-size': ['interpolate', ['linear'], ['zoom'], 12, 11, 15, 14],
      'text-max-width': 10,
      'text-padding': 2,
    },
    paint: { 'text-color': DRAFT_LINE, 'text-halo-color': 'rgba(255,255,255,0.95)', 'text-halo-width': 2 },
  });
  map.addLayer({
    id: 'edit-draft-handles',
    type: 'circle',
    source: 'edit-draft-handles',
    paint: { 'circle-radius': 6, 'circle-color': '#ffffff', 'circle-stroke-color': DRAFT_LINE, 'circle-stroke-width': 2.5 },
  });
}

/**
 * Draw the draft (or, with `features`, a dragged state of it) and dim the current grids under it:
 * they are what the draft would replace, still there for comparison.
 */
function renderDraft(features?: DraftFeature[], drag?: { from: Position; to: Position }): void {
  const map = state.map;
  if (!map || !map.getLayer('edit-draft-fill')) return;
  const d = state.draft;
  const shown = features ?? d?.features ?? [];
  setSource('edit-draft', {
    type: 'FeatureCollection',
    features: shown.map((f) => ({
      type: 'Feature',
      properties: { draft: f.properties.draft, within_rule: f.properties.within_rule, selected: f.properties.draft === state.draftSelected },
      geometry: f.geometry,
    })),
  });
  const labels: Feature<Point>[] = [];
  for (const f of shown) {
    const at = labelPoint(polysOf(f.geometry));
    if (!at) continue;
    labels.push({
      type: 'Feature',
      properties: { label: tf('draw.draft.label', { n: f.properties.draft, h: fmt(f.properties.households) }) },
      geometry: { type: 'Point', coordinates: at },
    });
  }
  setSource('edit-draft-labels', { type: 'FeatureCollection', features: labels });
  const sel = d?.byDraft(state.draftSelected);
  setSource('edit-draft-handles', {
    type: 'FeatureCollection',
    features: sel
      ? verticesOfGeometry(sel.geometry).map((c) => ({
          type: 'Feature',
          properties: { x: c[0], y: c[1] },
          geometry: { type: 'Point', coordinates: drag && near(c, drag.from) ? drag.to : c },
        }))
      : [],
  });
  const on = !!d;
  const keep = !!d?.keepExisting;
  map.setPaintProperty('edit-grid-fill', 'fill-opacity', on ? (keep ? 0.3 : 0.08) : ['case', ['get', 'selected'], 0.6, 0.4]);
  map.setPaintProperty('edit-grid-line', 'line-opacity', on ? 0.35 : 1);
  for (const id of ['edit-grid-label', 'edit-gap-fill', 'edit-gap-line']) map.setLayoutProperty(id, 'visibility', on ? 'none' : 'visible');
}

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

function fitVillage(): void {
  const map = state.map;
  const b = bboxOf(polysOf(state.data?.village.geometry));
  if (!map || !b) return;
  map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: mapPadding(), animate: false, maxZoom: 17 });
}

function isNarrow(): boolean {
  return window.matchMedia('(max-width: 720px)').matches;
}

/** Room left for the panel at the left on a desktop (on a phone the map ends above the sheet). */
function mapPadding(): { top: number; bottom: number; left: number; right: number } {
  if (isNarrow()) return { top: 20, bottom: 20, left: 16, right: 16 };
  return { top: 30, bottom: 30, left: 360, right: 60 };
}

/** (Re)load the village's grids; keeps the selection if the grid still exists. */
async function loadGrids(opts: { fit?: boolean } = {}): Promise<void> {
  const id = state.villageId;
  if (id === null) return;
  delete document.body.dataset.drawReady;
  try {
    const data = await fetchVillageGrids(id);
    if (state.villageId !== id) return;
    state.data = data;
    $('error').hidden = true;
  } catch (e) {
    showError('draw.loadError', e);
    return;
  }
  if (state.selected !== null && !gridById(state.selected)) select(null);
  indexRings();
  renderGrids();
  renderPanel();
  if (opts.fit) fitVillage();
  state.loads++;
  const map = state.map;
  const ready = () => {
    document.body.dataset.drawReady = '1';
    document.body.dataset.gridLoads = String(state.loads);
  };
  if (map) {
    map.once('idle', ready);
    map.triggerRepaint();
  } else ready();
}

// ---------------------------------------------------------------------------
// Tools
// ---------------------------------------------------------------------------

function select(id: number | null): void {
  if (state.selected === id) return;
  state.selected = id;
  state.history = null;
  state.historyPick = null;
  state.staff = null;
  renderHistoryOutline();
  renderGrids();
  renderPanel();
  if (id !== null) void loadStaff(id);
}

function setTool(tool: Tool | null): void {
  state.draw?.stop();
  state.draw = null;
  state.tool = tool;
  document.body.classList.toggle('drawing', tool === 'create' || tool === 'split');
  if (tool === 'create' || tool === 'split') {
    const map = state.map!;
    state.draw = new DrawTool(map, {
      kind: tool === 'create' ? 'polygon' : 'line',
      snap: (p) => snapAt(p),
      onChange: renderDrawBar,
      onFinish: (coords) => {
        state.draw = null;
        document.body.classList.remove('drawing');
        if (tool === 'create') finishCreate(coords);
        else finishSplit(coords);
      },
      onCancel: () => setTool(null),
    });
    state.draw.start();
  }
  if (tool === 'move' && state.map) state.map.getCanvas().style.cursor = '';
  renderHandles();
  renderPanel();
}

function finishCreate(ring: Position[]): void {
  const geometry: Polygon = { type: 'Polygon', coordinates: [ring] };
  state.tool = null;
  renderPanel();
  void runOp({ op: 'create', geometry, trim: true }, 'draw.preview.create');
}

function finishSplit(line: Position[]): void {
  state.tool = null;
  const grid = gridById(state.selected) ?? gridUnderLine(line);
  renderPanel();
  if (!grid) {
    toast(t('draw.needSelection'), 'warn');
    return;
  }
  if (state.selected !== grid.properties.id) select(grid.properties.id);
  const geometry: LineString = { type: 'LineString', coordinates: line };
  void runOp({ op: 'split', id: grid.properties.id, line: geometry, version: grid.properties.version }, 'draw.preview.split');
}

function mergeWith(absorbId: number): void {
  const keep = gridById(state.selected);
  const absorb = gridById(absorbId);
  if (!keep || !absorb || keep === absorb) return;
  void runOp(
    { op: 'merge', keep: { id: keep.properties.id, version: keep.properties.version }, absorb: { id: absorb.properties.id, version: absorb.properties.version } },
    'draw.preview.merge',
  );
}

function versionsOfAll(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of state.data?.grids.features ?? []) out[String(f.properties.id)] = f.properties.version;
  return out;
}

/** Show the grids as if the vertex `from` were at `to` in every grid holding it (while dragging). */
function previewMove(from: Position, to: Position): void {
  if (!state.data) return;
  const moved: Feature[] = state.data.grids.features.map((f) => {
    const polys = polysOf(f.geometry).map((p) => p.map((r) => r.map((c) => (samePos(c, from) ? to : c))));
    return {
      type: 'Feature',
      id: f.properties.id,
      properties: { id: f.properties.id, status: statusOf(f.properties.households), selected: f.properties.id === state.selected },
      geometry: { type: 'MultiPolygon', coordinates: polys },
    };
  });
  setSource('edit-grids', { type: 'FeatureCollection', features: moved });
  renderHandles({ from, to });
}

function initMoveDrag(map: MapLibreMap): void {
  let from: Position | null = null;
  let to: Position | null = null;
  const move = (p: Px, lngLat: { lng: number; lat: number }) => {
    if (!from) return;
    const s = snapAt(p, from);
    showSnap(map, s);
    to = s ? s.at : [lngLat.lng, lngLat.lat];
    previewMove(from, to);
  };
  const end = () => {
    map.off('mousemove', onMouseMove);
    map.off('touchmove', onTouchMove);
    const f = from;
    const dest = to;
    from = null;
    to = null;
    showSnap(map, null);
    map.dragPan.enable();
    if (!f || !dest || samePos(f, dest)) {
      renderGrids();
      return;
    }
    void runOp({ op: 'move', moves: [{ from: f, to: dest }], versions: versionsOfAll() }, 'draw.preview.move');
  };
  const onMouseMove = (e: MapLayerMouseEvent | { point: Px; lngLat: { lng: number; lat: number } }) => move(e.point, e.lngLat);
  const onTouchMove = (e: MapLayerTouchEvent) => {
    e.preventDefault();
    move(e.point, e.lngLat);
  };
  const begin = (e: MapLayerMouseEvent | MapLayerTouchEvent) => {
    if (state.tool !== 'move' || !e.features?.length) return;
    // preventDefault keeps MapLibre from panning the map with this gesture.
    e.preventDefault();
    map.dragPan.disable();
    const p = e.features[0].properties as { x: number; y: number };
    from = [p.x, p.y];
    to = null;
    map.on('mousemove', onMouseMove);
    map.on('touchmove', onTouchMove);
    if (e.type === 'touchstart') map.once('touchend', end);
    else map.once('mouseup', end);
  };
  map.on('mousedown', 'edit-handles', begin);
  map.on('touchstart', 'edit-handles', begin);
  map.on('mouseenter', 'edit-handles', () => {
    if (state.tool === 'move') map.getCanvas().style.cursor = 'move';
  });
  map.on('mouseleave', 'edit-handles', () => {
    if (state.tool === 'move') map.getCanvas().style.cursor = '';
  });
}

// ---------------------------------------------------------------------------
// The proposal (issue 5): ask, look, adjust shared vertices, accept or discard
// ---------------------------------------------------------------------------

function proposeValues(): { min: string; max: string } {
  const { min, max } = ruleOf();
  return { min: state.proposeForm.min ?? String(min), max: state.proposeForm.max ?? String(max) };
}

/** The form as the request, or null (with the reason shown) when it cannot be sent. */
function proposeRequest(): ProposeRequest | null {
  const f = state.proposeForm;
  const v = proposeValues();
  const int = (s: string) => (/^\s*\d+\s*$/.test(s) ? Number(s) : NaN);
  const min = int(v.min);
  const max = int(v.max);
  if (!(min >= 1 && max >= min)) return null;
  const req: ProposeRequest = { min_households: min, max_households: max, keep_existing: f.keep };
  if (f.target.trim()) {
    const target = int(f.target);
    if (!(target >= min && target <= max)) return null;
    req.target = target;
  }
  if (f.seed.trim()) {
    const seed = int(f.seed);
    if (!Number.isFinite(seed)) return null;
    req.seed = seed;
  }
  return req;
}

async function runPropose(): Promise<void> {
  const villageId = state.villageId;
  if (villageId === null || state.proposing) return;
  const req = proposeRequest();
  if (!req) {
    state.proposeError = t('draw.propose.badRule');
    renderPanel();
    return;
  }
  setTool(null);
  select(null);
  state.proposing = true;
  state.proposeError = null;
  renderPanel();
  try {
    const proposal = await proposeGrids(villageId, req);
    if (state.villageId !== villageId) return;
    setDraft(new Draft(proposal, !!req.keep_existing));
  } catch (e) {
    state.proposeError = t('draw.propose.error') + errorText(e);
  } finally {
    state.proposing = false;
    renderPanel();
  }
  // The figures are what the cadre wants to see next; on a phone they are below the sheet's fold.
  document.querySelector(state.draft ? '#draw-propose .draft-result' : '#draw-propose .propose-actions')?.scrollIntoView({ block: 'start' });
}

/** Show `d` (or with null, drop the draft and show the grids as they are). */
function setDraft(d: Draft | null): void {
  state.draft = d;
  state.draftSelected = null;
  document.body.classList.toggle('has-draft', !!d);
  if (d) document.body.dataset.draftLoads = String(Number(document.body.dataset.draftLoads ?? 0) + 1);
  indexRings();
  renderDraft();
  renderPanel();
}

function selectDraft(n: number | null, opts: { fit?: boolean } = {}): void {
  state.draftSelected = n;
  renderDraft();
  renderPanel();
  const f = state.draft?.byDraft(n);
  if (opts.fit && f && state.map) {
    const b = bboxOf(polysOf(f.geometry));
    if (b) state.map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: mapPadding(), maxZoom: 17, duration: 300 });
  }
}

function draftChanged(): void {
  indexRings();
  renderDraft();
  renderPanel();
}

function undoDraft(): void {
  state.draft?.undo();
  draftChanged();
}

function redoDraft(): void {
  state.draft?.redo();
  draftChanged();
}

function acceptDraft(): void {
  const d = state.draft;
  if (!d) return;
  // Only the geometry and a name go back: the counts are the proposal's, before any adjustment.
  const features: DraftFeature[] = d.features.map((f) => ({ type: 'Feature', geometry: f.geometry, properties: { ...f.properties } }));
  void runOp({ op: 'accept', features, versions: versionsOfAll(), keep_existing: d.keepExisting }, 'draw.preview.accept');
}

/** Dragging a handle of the selected draft grid: every draft grid holding that vertex follows. */
function initDraftDrag(map: MapLibreMap): void {
  let from: Position | null = null;
  let to: Position | null = null;
  const move = (p: Px, lngLat: { lng: number; lat: number }) => {
    if (!from || !state.draft) return;
    const s = snapAt(p, from);
    showSnap(map, s);
    to = s ? s.at : [lngLat.lng, lngLat.lat];
    renderDraft(state.draft.preview(from, to), { from, to });
  };
  const end = () => {
    map.off('mousemove', onMouseMove);
    map.off('touchmove', onTouchMove);
    const f = from;
    const dest = to;
    from = null;
    to = null;
    showSnap(map, null);
    map.dragPan.enable();
    if (f && dest && state.draft && !near(f, dest)) state.draft.moveVertex(f, dest);
    draftChanged();
  };
  const onMouseMove = (e: MapLayerMouseEvent) => move(e.point, e.lngLat);
  const onTouchMove = (e: MapLayerTouchEvent) => {
    e.preventDefault();
    move(e.point, e.lngLat);
  };
  const begin = (e: MapLayerMouseEvent | MapLayerTouchEvent) => {
    if (!state.draft || !e.features?.length) return;
    // preventDefault keeps MapLibre from panning the map with this gesture.
    e.preventDefault();
    map.dragPan.disable();
    const p = e.features[0].properties as { x: number; y: number };
    from = [p.x, p.y];
    to = null;
    map.on('mousemove', onMouseMove);
    map.on('touchmove', onTouchMove);
    if (e.type === 'touchstart') map.once('touchend', end);
    else map.once('mouseup', end);
  };
  map.on('mousedown', 'edit-draft-handles', begin);
  map.on('touchstart', 'edit-draft-handles', begin);
  map.on('mouseenter', 'edit-draft-handles', () => {
    map.getCanvas().style.cursor = 'move';
  });
  map.on('mouseleave', 'edit-draft-handles', () => {
    map.getCanvas().style.cursor = '';
  });
}

// ---------------------------------------------------------------------------
// Preview dialog: the dry run, then Save or Cancel
// ---------------------------------------------------------------------------

let pending: { op: GridOp; title: TKey; token: number } | null = null;
let opToken = 0;

function dialogEls() {
  return {
    dialog: $<HTMLDialogElement>('preview-dialog'),
    title: $('preview-title'),
    summary: $('preview-summary'),
    error: $('preview-error'),
    body: $('preview-body'),
    save: $<HTMLButtonElement>('preview-save'),
  };
}

function buildDialog(): void {
  const dialog = el(
    'dialog',
    { id: 'preview-dialog', class: 'password-dialog preview-dialog', 'data-testid': 'preview-dialog', 'aria-labelledby': 'preview-title' },
    el('h2', { id: 'preview-title' }),
    el('p', { id: 'preview-summary', class: 'preview-summary', 'data-testid': 'preview-summary', 'aria-live': 'polite' }),
    el('div', { id: 'preview-error', class: 'form-error', role: 'alert', 'data-testid': 'preview-error' }),
    el('div', { id: 'preview-body', class: 'preview-body' }),
    el(
      'div',
      { class: 'dialog-buttons' },
      Object.assign(button('draw.cancel', 'preview-cancel', () => closeDialog(), ''), { id: 'preview-cancel' }),
      Object.assign(button('draw.save', 'preview-save', () => void savePending(), 'primary'), { id: 'preview-save' }),
    ),
  );
  document.body.append(dialog);
  dialog.addEventListener('cancel', (e) => {
    e.preventDefault();
    closeDialog();
  });
}

function closeDialog(): void {
  const { dialog } = dialogEls();
  pending = null;
  opToken++;
  if (dialog.open) dialog.close();
  // Whatever was previewed on the map (a dragged vertex) goes back to what is stored.
  renderGrids();
}

function section(key: TKey, testid: string, items: Array<Node | string>): HTMLElement | null {
  if (!items.length) return null;
  return el('section', { 'data-testid': testid }, el('h3', { 'data-i18n': key, text: t(key) }), el('ul', {}, ...items.map((i) => el('li', {}, i))));
}

function moveSentence(m: NonNullable<EditResponse['report']['moves']>[number]): string {
  let s = tf('draw.move.sentence', { n: fmt(m.households), from: gridName(m.from_name), to: gridName(m.to_name) });
  if (m.key_population) s += tf('draw.move.key', { k: fmt(m.key_population) });
  return s;
}

function renderPreview(r: EditResponse): void {
  const { summary, body } = dialogEls();
  summary.textContent = r.summary ?? '';
  if (pending?.op.op === 'accept') {
    // Accepting re-files the whole village; the moves are listed below, the headline counts them.
    summary.textContent = tf('draw.preview.acceptSummary', {
      n: fmt((r.report?.grids ?? []).length),
      m: fmt(r.report?.moved_households ?? (r.report?.moves ?? []).reduce((s, m) => s + m.households, 0)),
    });
  }
  body.replaceChildren();
  const report = r.report ?? {};
  // The server's own sentences when it sends them (localised, with its names); else ours.
  const moves = r.moves?.length ? r.moves : (report.moves ?? []).filter((m) => m.households > 0).map(moveSentence);
  const movesSection = section('draw.preview.moves', 'preview-moves', moves.length ? moves : [t('draw.preview.noMoves')]);
  const removed = new Set(report.removed ?? []);
  const rows = (report.grids ?? []).map((g) => {
    const st = statusOf(g.households);
    return el(
      'tr',
      { 'data-id': String(g.id), 'data-status': st, 'data-households': String(g.households) },
      el('td', {}, el('span', { class: `chip chip-${st}` }), gridName(g.name)),
      el('td', { class: 'num', text: tf('draw.households', { n: fmt(g.households) }) }),
      el('td', { class: `status status-${st}`, text: t(`draw.status.${st}` as TKey) }),
    );
  });
  for (const id of removed) {
    const g = gridById(id);
    rows.push(el('tr', { 'data-id': String(id), 'data-removed': '1' }, el('td', {}, gridName(g?.properties.name ?? String(id))), el('td', { class: 'num', text: t('draw.preview.removed') }), el('td', {})));
  }
  const counts = rows.length
    ? el('section', { 'data-testid': 'preview-grids' }, el('h3', { 'data-i18n': 'draw.preview.counts', text: t('draw.preview.counts') }), el('table', {}, el('tbody', {}, ...rows)))
    : null;
  const warnings = section('draw.preview.warnings', 'preview-warnings', r.warnings ?? []);
  warnings?.classList.add('warnings');
  const notes = section('draw.preview.notes', 'preview-notes', report.notes ?? []);
  const gapText = r.gaps ? gapSentence(r.gaps.households ?? 0, r.gaps.area_m2 ?? 0) : null;
  const gaps = gapText ? el('section', { 'data-testid': 'preview-gaps', 'data-households': String(r.gaps?.households ?? 0) }, el('h3', { 'data-i18n': 'draw.preview.gaps', text: t('draw.preview.gaps') }), el('p', { text: gapText })) : null;
  for (const s of [movesSection, counts, warnings, notes, gaps]) if (s) body.append(s);
}

function gapSentence(households: number, areaM2: number): string {
  if (households <= 0 && areaM2 < 1) return t('draw.noGap');
  return tf('draw.gapRow', { n: fmt(households), area: tf('draw.ha', { n: fmt(areaM2 / 10_000, 2) }) });
}

function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.fromServer ? e.message : `${e.status} ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}

/** Someone else saved first: say so, show their change, keep nothing of ours. */
function stale(): void {
  const { error, save } = dialogEls();
  error.textContent = t('draw.stale');
  error.dataset.code = 'stale_version';
  error.hidden = false;
  save.disabled = true;
  save.hidden = true;
  setTool(null);
  state.history = null;
  state.historyPick = null;
  renderHistoryOutline();
  void loadGrids();
}

/** Dry-run `op`, show what it would do, and wait for Save or Cancel. */
async function runOp(op: GridOp, title: TKey): Promise<void> {
  const villageId = state.villageId;
  if (villageId === null) return;
  const token = ++opToken;
  pending = { op, title, token };
  const { dialog, title: h, summary, error, body, save } = dialogEls();
  h.dataset.i18n = title;
  h.textContent = t(title);
  summary.textContent = t('draw.preview.checking');
  delete dialog.dataset.state;
  error.hidden = true;
  delete error.dataset.code;
  body.replaceChildren();
  save.disabled = true;
  save.hidden = false;
  if (!dialog.open) dialog.showModal();
  try {
    const r = await validateGridOp(villageId, op);
    if (token !== opToken) return;
    renderPreview(r);
    save.disabled = false;
    dialog.dataset.state = 'ready';
    save.focus();
  } catch (e) {
    if (token !== opToken) return;
    summary.textContent = '';
    dialog.dataset.state = 'error';
    if (e instanceof ApiError && e.status === 409) {
      stale();
      return;
    }
    error.textContent = errorText(e);
    if (e instanceof ApiError && e.code) error.dataset.code = e.code;
    error.hidden = false;
    save.hidden = true;
  }
}

async function savePending(): Promise<void> {
  const p = pending;
  const villageId = state.villageId;
  if (!p || villageId === null) return;
  const { dialog, error, save } = dialogEls();
  save.disabled = true;
  save.dataset.i18n = 'draw.saving';
  save.textContent = t('draw.saving');
  dialog.dataset.state = 'saving';
  try {
    const r = await saveGridOp(villageId, p.op);
    if (p.token !== opToken) return;
    // After a split the first grid of the report is the cut one; keep it selected. After a
    // delete nothing is; after a merge the kept one is.
    const keep = p.op.op === 'merge' ? p.op.keep.id : p.op.op === 'delete' || p.op.op === 'accept' ? null : (r.report?.grids?.[0]?.id ?? state.selected);
    // Accepted: the draft is now the grids (loaded below), so it goes.
    if (p.op.op === 'accept') setDraft(null);
    pending = null;
    dialog.close();
    dialog.dataset.state = 'saved';
    // The server's summary of an accept names every move of hundreds of households: too long for a toast.
    if (p.op.op === 'accept') toast(tf('draw.draft.accepted', { n: fmt((r.report?.grids ?? []).length) }));
    else toast(r.summary ? t('draw.saved') + r.summary : t('draw.savedPlain'));
    setTool(null);
    state.selected = keep ?? null;
    state.history = null;
    state.historyPick = null;
    renderHistoryOutline();
    await loadGrids();
    if (state.selected !== null) void loadStaff(state.selected);
  } catch (e) {
    if (p.token !== opToken) return;
    dialog.dataset.state = 'error';
    if (e instanceof ApiError && e.status === 409) {
      stale();
      return;
    }
    error.textContent = t('draw.error') + errorText(e);
    if (e instanceof ApiError && e.code) error.dataset.code = e.code;
    error.hidden = false;
    save.disabled = false;
  } finally {
    save.dataset.i18n = 'draw.save';
    save.textContent = t('draw.save');
  }
}

// ---------------------------------------------------------------------------
// Staff and history of the selected grid
// ---------------------------------------------------------------------------

async function loadStaff(id: number): Promise<void> {
  try {
    const s = await fetchStaff(id);
    if (state.selected !== id) return;
    state.staff = s;
  } catch (e) {
    if (state.selected !== id) return;
    state.staff = { staff: [], candidates: [] };
    console.warn('staff', e);
  }
  renderPanel();
}

async function toggleHistory(): Promise<void> {
  const id = state.selected;
  if (id === null) return;
  if (state.history) {
    state.history = null;
    state.historyPick = null;
    renderHistoryOutline();
    renderPanel();
    return;
  }
  try {
    const h = await fetchHistory(id);
    if (state.selected !== id) return;
    state.history = h.versions ?? [];
  } catch (e) {
    toast(errorText(e), 'warn');
    return;
  }
  renderPanel();
}

function whoChanged(v: HistoryVersion): string {
  const c = v.changed_by;
  if (!c) return t('draw.system');
  if (typeof c === 'string') return c;
  return c.display_name || c.username || t('draw.system');
}

function whenText(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(lang(), { dateStyle: 'short', timeStyle: 'short' }).format(d);
}

// ---------------------------------------------------------------------------
// The panel
// ---------------------------------------------------------------------------

function buildPanel(): void {
  const panel = el(
    'aside',
    { id: 'draw-panel', class: 'panel draw-panel', 'aria-labelledby': 'draw-heading' },
    el(
      'div',
      { class: 'panel-head' },
      el('h2', { id: 'draw-heading', 'data-i18n': 'draw.title', text: t('draw.title') }),
      el('a', { class: 'back-link', href: '/', 'data-i18n': 'draw.backToMap', text: t('draw.backToMap') }),
      el('button', { id: 'draw-panel-close', class: 'panel-close', type: 'button', 'data-i18n-aria': 'panel.close', 'aria-label': t('panel.close'), text: '×' }),
    ),
    el('div', { id: 'draw-village' }),
    el('div', { id: 'draw-rule', class: 'draw-rule' }),
    el('div', { id: 'draw-tools', class: 'draw-tools' }),
    el('div', { id: 'draw-bar', class: 'draw-bar' }),
    el('p', { id: 'draw-hint', class: 'draw-hint', 'data-testid': 'draw-hint' }),
    el('section', { id: 'draw-propose', class: 'draw-propose', 'data-testid': 'propose', 'aria-labelledby': 'propose-heading' }),
    el('div', { id: 'draw-selected', class: 'draw-selected' }),
    el('div', { id: 'draw-list-wrap', class: 'draw-list-wrap' }),
  );
  $('stage').append(panel);
  $('draw-panel-close').addEventListener('click', () => setPanelOpen(false));
}

function setPanelOpen(open: boolean): void {
  document.body.classList.toggle('panel-open', open);
  $('panel-toggle').setAttribute('aria-expanded', String(open));
}

function renderVillagePicker(): void {
  const box = $('draw-village');
  box.replaceChildren();
  if (!state.villages.length) {
    box.append(el('p', { class: 'form-error', 'data-testid': 'no-village', 'data-i18n': 'draw.noVillage', text: t('draw.noVillage') }));
    return;
  }
  const sel = el('select', { id: 'village-select', 'data-testid': 'village-select' });
  for (const v of state.villages) {
    const o = el('option', { value: String(v.id), text: v.name });
    if (v.id === state.villageId) o.selected = true;
    sel.append(o);
  }
  sel.disabled = state.villages.length < 2;
  sel.addEventListener('change', () => {
    setTool(null);
    setDraft(null);
    state.villageId = Number(sel.value);
    state.data = null;
    state.proposeError = null;
    state.ruleError = null;
    select(null);
    void loadGrids({ fit: true });
  });
  box.append(el('label', { for: 'village-select', class: 'field-label', 'data-i18n': 'draw.village', text: t('draw.village') }), sel);
}

function renderRule(): void {
  const { min, max } = ruleOf();
  const box = $('draw-rule');
  const chip = (cls: string, text: string) => el('span', { class: 'legend-chip' }, el('span', { class: `chip ${cls}` }), text);
  let view = box.querySelector<HTMLElement>('.rule-view');
  if (!view) {
    view = el('div', { class: 'rule-view' });
    box.prepend(view);
  }
  view.replaceChildren(
    el('div', { class: 'rule-text', 'data-testid': 'grid-rule', text: tf('draw.rule', { min, max }) }),
    el(
      'div',
      { class: 'rule-legend' },
      chip('chip-under', tf('draw.legend.under', { min })),
      chip('chip-ok', tf('draw.legend.ok', { min, max })),
      chip('chip-over', tf('draw.legend.over', { max })),
      chip('chip-gap', t('draw.legend.gap')),
      ...(state.draft ? [chip('chip-draft-ok', t('draw.legend.draftOk')), chip('chip-draft-bad', t('draw.legend.draftBad'))] : []),
    ),
  );
  renderRuleEditor(box);
}

/** The township of the village shown, when the signed-in user administers it (and may set its rule). */
function adminTownship(): number | null {
  const v = state.villages.find((x) => x.id === state.villageId);
  const tid = v?.township_id;
  if (tid === undefined || !state.data) return null;
  const mine = currentUser()?.roles?.some((r) => r.role === 'township_admin' && r.area_id === tid);
  return mine ? tid : null;
}

/**
 * The rule editor, for a township admin only (the server refuses anyone else anyway). Built once
 * and kept, so a re-render of the panel does not take the cursor out of a field being typed in.
 */
function renderRuleEditor(box: HTMLElement): void {
  const tid = adminTownship();
  let form = box.querySelector<HTMLFormElement>('form.rule-editor');
  if (tid === null) {
    form?.remove();
    return;
  }
  const { min, max } = ruleOf();
  if (!form || form.dataset.township !== String(tid)) {
    form?.remove();
    const minIn = el('input', { id: 'rule-min', type: 'number', 'data-testid': 'rule-min' });
    const maxIn = el('input', { id: 'rule-max', type: 'number', 'data-testid': 'rule-max' });
    for (const i of [minIn, maxIn]) {
      i.inputMode = 'numeric';
      i.min = '1';
      i.step = '1';
      i.required = true;
    }
    const save = el('button', { type: 'submit', class: 'small', 'data-testid': 'rule-save', 'data-i18n': 'draw.ruleEdit.save', text: t('draw.ruleEdit.save') });
    form = el(
      'form',
      { class: 'rule-editor', 'data-testid': 'rule-editor', 'data-township': String(tid) },
      el('h3', { 'data-i18n': 'draw.ruleEdit.title', text: t('draw.ruleEdit.title') }),
      el(
        'div',
        { class: 'rule-fields' },
        el('label', { for: 'rule-min', 'data-i18n': 'draw.ruleEdit.min', text: t('draw.ruleEdit.min') }),
        minIn,
        el('span', { text: '–' }),
        el('label', { for: 'rule-max', 'data-i18n': 'draw.ruleEdit.max', text: t('draw.ruleEdit.max') }),
        maxIn,
        save,
      ),
      el('p', { class: 'muted', 'data-i18n': 'draw.ruleEdit.hint', text: t('draw.ruleEdit.hint') }),
      el('p', { class: 'form-error', role: 'alert', 'data-testid': 'rule-error' }),
    );
    minIn.value = String(min);
    maxIn.value = String(max);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void saveRule(tid, Number(minIn.value), Number(maxIn.value), save);
    });
    box.append(form);
  }
  const err = form.querySelector<HTMLElement>('[data-testid="rule-error"]')!;
  err.textContent = state.ruleError ?? '';
  err.hidden = !state.ruleError;
}

async function saveRule(tid: number, min: number, max: number, save: HTMLButtonElement): Promise<void> {
  save.disabled = true;
  state.ruleError = null;
  try {
    const rule = await saveGridRule(tid, { min_households: min, max_households: max });
    toast(tf('draw.ruleEdit.saved', { min: rule.min_households, max: rule.max_households }));
    // The proposal form follows the new rule again.
    state.proposeForm.min = null;
    state.proposeForm.max = null;
    // The rule comes with the grids: reloading them recolours the map and the list by it.
    await loadGrids();
    const { min: m, max: x } = ruleOf();
    $<HTMLInputElement>('rule-min').value = String(m);
    $<HTMLInputElement>('rule-max').value = String(x);
  } catch (e) {
    // The server says what is wrong (min above max, not your township, …) in the page's language.
    state.ruleError = t('draw.ruleEdit.error') + errorText(e);
  } finally {
    save.disabled = false;
    renderPanel();
  }
}

/** A labelled field of the proposal form, kept in `state.proposeForm` as it is typed. */
function proposeField(key: TKey, id: string, value: string, onInput: (v: string) => void): HTMLElement {
  const input = el('input', { id, type: 'number', 'data-testid': id });
  input.inputMode = 'numeric';
  input.min = '0';
  input.step = '1';
  input.value = value;
  input.addEventListener('input', () => onInput(input.value));
  return el('div', { class: 'propose-field' }, el('label', { for: id, class: 'field-label', 'data-i18n': key, text: t(key) }), input);
}

function renderPropose(): void {
  const box = $('draw-propose');
  const f = state.proposeForm;
  let form = box.querySelector<HTMLElement>('.propose-form');
  if (!form) {
    const v = proposeValues();
    const keep = el('input', { id: 'propose-keep', type: 'checkbox', 'data-testid': 'propose-keep' });
    keep.checked = f.keep;
    keep.addEventListener('change', () => (f.keep = keep.checked));
    form = el(
      'div',
      { class: 'propose-form' },
      el('div', { class: 'propose-fields' },
        proposeField('draw.propose.min', 'propose-min', v.min, (x) => (f.min = x)),
        proposeField('draw.propose.max', 'propose-max', v.max, (x) => (f.max = x)),
        proposeField('draw.propose.target', 'propose-target', f.target, (x) => (f.target = x)),
        proposeField('draw.propose.seed', 'propose-seed', f.seed, (x) => (f.seed = x)),
      ),
      el('label', { class: 'propose-keep', for: 'propose-keep' }, keep, el('span', { 'data-i18n': 'draw.propose.keep', text: t('draw.propose.keep') })),
    );
    box.replaceChildren(
      el('h3', { id: 'propose-heading', 'data-i18n': 'draw.propose.title', text: t('draw.propose.title') }),
      el('p', { class: 'muted', 'data-i18n': 'draw.propose.intro', text: t('draw.propose.intro') }),
      form,
      el('div', { class: 'propose-actions' }),
      el('div', { class: 'draft-result' }),
    );
  }
  // Fields that follow the rule show it until the user types a number of their own.
  const v = proposeValues();
  for (const [id, value] of [['propose-min', v.min], ['propose-max', v.max]] as const) {
    const input = $<HTMLInputElement>(id);
    if (document.activeElement !== input && input.value !== value) input.value = value;
  }
  $<HTMLInputElement>('propose-keep').checked = f.keep;
  const run = button(state.proposing ? 'draw.propose.running' : state.draft ? 'draw.propose.again' : 'draw.propose.run', 'propose-run', () => void runPropose(), 'small primary-small');
  run.disabled = !state.data || state.proposing || !!state.draw;
  const actions = box.querySelector<HTMLElement>('.propose-actions')!;
  actions.replaceChildren(run);
  if (state.proposeError) actions.append(el('p', { class: 'form-error', role: 'alert', 'data-testid': 'propose-error', text: state.proposeError }));
  renderDraftResult(box.querySelector<HTMLElement>('.draft-result')!);
}

function renderDraftResult(box: HTMLElement): void {
  const d = state.draft;
  box.replaceChildren();
  box.hidden = !d;
  if (!d) return;
  const s = d.proposal.summary;
  const pp = (x: number | null) => (x === null || x === undefined ? '–' : fmt(x, 2));
  const figures = el(
    'ul',
    { class: 'draft-summary', 'data-testid': 'draft-summary', 'data-grids': String(s.grids), 'data-within': String(s.within_rule) },
    el('li', { text: tf('draw.draft.grids', { n: fmt(s.grids), h: fmt(s.households) }) }),
    el('li', { class: s.within_rule === s.grids ? 'status-ok' : 'status-over', 'data-testid': 'draft-within', text: tf('draw.draft.within', { x: fmt(s.within_rule), y: fmt(s.grids), min: d.proposal.rule.min_households, max: d.proposal.rule.max_households }) }),
    el('li', { text: tf('draw.draft.compact', { mean: pp(s.mean_polsby_popper), worst: pp(s.worst_polsby_popper) }) }),
    el('li', { text: tf('draw.draft.barriers', { n: fmt(s.crossing_barriers) }) }),
    el('li', { class: s.not_contiguous ? 'status-over' : '', text: tf('draw.draft.notContiguous', { n: fmt(s.not_contiguous) }) }),
    el('li', { class: 'muted', text: tf('draw.draft.elapsed', { ms: fmt(s.elapsed_ms) }) }),
  );
  box.append(el('h3', { 'data-i18n': 'draw.draft.heading', text: t('draw.draft.heading') }), figures);
  if (d.proposal.infeasible) box.append(el('p', { class: 'draft-infeasible', role: 'status', 'data-testid': 'draft-infeasible', text: d.proposal.infeasible }));
  if (d.adjustments) box.append(el('p', { class: 'draft-adjusted', 'data-testid': 'draft-adjusted', text: tf('draw.draft.adjusted', { n: d.adjustments }) }));

  const undo = button('draw.undo', 'draft-undo', undoDraft, 'small');
  undo.disabled = !d.canUndo();
  undo.title = 'Ctrl+Z';
  const redo = button('draw.redo', 'draft-redo', redoDraft, 'small');
  redo.disabled = !d.canRedo();
  redo.title = 'Ctrl+Shift+Z / Ctrl+Y';
  const accept = button('draw.draft.accept', 'draft-accept', acceptDraft, 'small primary-small');
  const discard = button('draw.draft.discard', 'draft-discard', () => setDraft(null), 'small');
  box.append(el('div', { class: 'draft-buttons' }, undo, redo, discard, accept));

  const list = el('ul', { class: 'grid-list draft-list', 'data-testid': 'draft-list' });
  for (const f of d.features) {
    const p = f.properties;
    const row = el(
      'button',
      {
        type: 'button',
        class: `grid-row${p.draft === state.draftSelected ? ' selected' : ''}`,
        'data-testid': 'draft-row',
        'data-draft': String(p.draft),
        'data-households': String(p.households),
        'data-within': String(p.within_rule),
        'aria-pressed': String(p.draft === state.draftSelected),
      },
      el('span', { class: `chip ${p.within_rule ? 'chip-draft-ok' : 'chip-draft-bad'}` }),
      el('span', { class: 'grid-name', text: tf('draw.draft.row', { n: p.draft }) }),
      el('span', { class: `grid-count ${p.within_rule ? 'status-ok' : 'status-over'}`, text: tf('draw.households', { n: fmt(p.households) }) }),
      el('span', {
        class: 'grid-staff',
        text: [
          `PP ${pp(p.polsby_popper ?? null)}`,
          p.crosses_barrier ? t('draw.draft.crosses') : null,
          (p.parts ?? 1) > 1 ? tf('draw.draft.parts', { n: p.parts ?? 1 }) : null,
        ].filter(Boolean).join(' · '),
      }),
    );
    row.addEventListener('click', () => selectDraft(p.draft === state.draftSelected ? null : p.draft, { fit: p.draft !== state.draftSelected }));
    list.append(el('li', {}, row));
  }
  box.append(list);
}

function renderTools(): void {
  const box = $('draw-tools');
  const has = state.selected !== null;
  const noData = !state.data;
  // While a draft is shown the grids under it are not edited: accepting the draft replaces them,
  // and an edit in between would only make the accept stale.
  const drafting = !!state.draft;
  const toolButton = (tool: Tool, key: TKey, needsSelection: boolean) => {
    const b = button(key, `tool-${tool}`, () => setTool(state.tool === tool ? null : tool));
    b.classList.toggle('active', state.tool === tool);
    b.setAttribute('aria-pressed', String(state.tool === tool));
    b.disabled = noData || drafting || (needsSelection && !has);
    return b;
  };
  const fill = button('draw.tool.fill', 'tool-fill', () => {
    if (!state.data) return;
    setTool(null);
    void runOp({ op: 'create', geometry: state.data.village.geometry, trim: true }, 'draw.preview.fill');
  });
  fill.disabled = noData || drafting || !(state.data?.gaps?.households || state.data?.gaps?.geometry);
  const del = button('draw.tool.delete', 'tool-delete', () => {
    const g = gridById(state.selected);
    if (!g) return;
    setTool(null);
    void runOp({ op: 'delete', id: g.properties.id, version: g.properties.version }, 'draw.preview.delete');
  });
  del.classList.add('danger');
  del.disabled = !has || drafting;
  box.replaceChildren(
    toolButton('create', 'draw.tool.create', false),
    toolButton('split', 'draw.tool.split', false),
    toolButton('merge', 'draw.tool.merge', true),
    toolButton('move', 'draw.tool.move', true),
    fill,
    del,
  );
}

function renderDrawBar(): void {
  const box = $('draw-bar');
  const d = state.draw;
  box.hidden = !d;
  if (!d) {
    box.replaceChildren();
    return;
  }
  const undo = button('draw.undo', 'draw-undo', () => d.undo(), 'small');
  undo.disabled = !d.canUndo();
  undo.title = 'Ctrl+Z';
  const redo = button('draw.redo', 'draw-redo', () => d.redo(), 'small');
  redo.disabled = !d.canRedo();
  redo.title = 'Ctrl+Shift+Z / Ctrl+Y';
  const finish = button('draw.finish', 'draw-finish', () => d.finish(), 'small primary-small');
  finish.disabled = !d.canFinish();
  const cancel = button('draw.cancel', 'draw-cancel', () => d.cancel(), 'small');
  cancel.title = 'Esc';
  box.dataset.vertices = String(d.count);
  box.replaceChildren(undo, redo, finish, cancel, el('div', { class: 'keys', 'data-i18n': 'draw.hint.keys', text: t('draw.hint.keys') }));
}

function renderHint(): void {
  const g = gridById(state.selected);
  const name = g ? gridName(g.properties.name) : '';
  const key: TKey =
    state.tool === 'create'
      ? 'draw.hint.create'
      : state.tool === 'split'
        ? g
          ? 'draw.hint.split'
          : 'draw.hint.splitAny'
        : state.tool === 'merge'
          ? g
            ? 'draw.hint.merge'
            : 'draw.hint.mergeSelect'
          : state.tool === 'move'
            ? g
              ? 'draw.hint.move'
              : 'draw.hint.moveSelect'
            : 'draw.hint.select';
  const hint = $('draw-hint');
  hint.textContent = state.draft ? t('draw.draft.hint') : tf(key, { name });
  hint.dataset.tool = state.tool ?? '';
}

function staffNames(g: GridFeature): string {
  const staff = g.properties.staff ?? [];
  if (!staff.length) return t('draw.noStaff');
  const leader = staff.filter((s) => s.duty === 'leader');
  const workers = staff.filter((s) => s.duty !== 'leader');
  const name = (s: { display_name?: string | null; username: string }) => s.display_name || s.username;
  const parts: string[] = [];
  if (leader.length) parts.push(`${t('draw.leader')}: ${leader.map(name).join('、')}`);
  if (workers.length) parts.push(`${t('draw.workers')}: ${workers.map(name).join('、')}`);
  return parts.join(' · ');
}

function renderSelected(): void {
  const box = $('draw-selected');
  const g = gridById(state.selected);
  box.replaceChildren();
  box.hidden = !g;
  if (!g) return;
  const p = g.properties;
  const st = statusOf(p.households);
  const head = el(
    'div',
    { class: 'selected-head' },
    el('span', { class: `chip chip-${st}` }),
    el('strong', { 'data-testid': 'selected-name', text: gridName(p.name) }),
    el('span', { class: 'muted', 'data-testid': 'selected-households', text: tf('draw.households', { n: fmt(p.households) }) }),
  );
  // Rename
  const input = el('input', { id: 'rename-input', type: 'text', 'data-testid': 'rename-input', value: p.name, 'aria-label': t('draw.name') });
  input.maxLength = 40;
  const rename = button('draw.rename', 'rename-save', () => {
    const name = input.value.trim();
    if (!name || name === p.name) return;
    void runOp({ op: 'update', id: p.id, version: p.version, name }, 'draw.preview.update');
  }, 'small');
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') rename.click();
  });
  const renameRow = el('div', { class: 'rename-row' }, input, rename);

  box.append(head, renameRow, staffBox(p.id), historyBox(g));
}

function staffBox(id: number): HTMLElement {
  const wrap = el('section', { class: 'staff', 'data-testid': 'staff' }, i18nText('draw.staff', 'h3'));
  const s = state.staff;
  if (!s) {
    wrap.append(el('p', { class: 'muted', text: t('popup.loading') }));
    return wrap;
  }
  const people = new Map<number, { user_id: number; username: string; display_name?: string | null }>();
  for (const c of [...s.candidates, ...s.staff]) people.set(c.user_id, c);
  if (!people.size) {
    wrap.append(el('p', { class: 'muted', text: t('draw.noCandidates') }));
    return wrap;
  }
  const name = (u: { username: string; display_name?: string | null }) => (u.display_name ? `${u.display_name} (${u.username})` : u.username);
  const leaderNow = s.staff.find((x) => x.duty === 'leader')?.user_id ?? null;
  const workersNow = new Set(s.staff.filter((x) => x.duty !== 'leader').map((x) => x.user_id));
  const leader = el('select', { id: 'staff-leader', 'data-testid': 'staff-leader' });
  leader.append(el('option', { value: '', text: t('draw.nobody') }));
  for (const u of people.values()) {
    const o = el('option', { value: String(u.user_id), text: name(u) });
    if (u.user_id === leaderNow) o.selected = true;
    leader.append(o);
  }
  const workers = el('div', { class: 'staff-workers' });
  for (const u of people.values()) {
    const box = el('input', { type: 'checkbox', 'data-testid': 'staff-worker', value: String(u.user_id) });
    box.checked = workersNow.has(u.user_id);
    workers.append(el('label', {}, box, name(u)));
  }
  const save = button('draw.staffSave', 'staff-save', async () => {
    save.disabled = true;
    const ids = [...workers.querySelectorAll<HTMLInputElement>('input:checked')].map((b) => Number(b.value));
    try {
      state.staff = await saveStaff(id, leader.value ? Number(leader.value) : null, ids);
      toast(t('draw.staffSaved'));
      await loadGrids();
    } catch (e) {
      toast(t('draw.staffError') + errorText(e), 'warn');
    } finally {
      save.disabled = false;
    }
  }, 'small');
  wrap.append(
    el('label', { for: 'staff-leader', class: 'field-label', 'data-i18n': 'draw.leader', text: t('draw.leader') }),
    leader,
    el('div', { class: 'field-label', 'data-i18n': 'draw.workers', text: t('draw.workers') }),
    workers,
    save,
  );
  return wrap;
}

function historyBox(g: GridFeature): HTMLElement {
  const wrap = el('section', { class: 'history', 'data-testid': 'history' });
  const open = !!state.history;
  const toggle = button(open ? 'draw.historyHide' : 'draw.historyShow', 'history-open', () => void toggleHistory(), 'small');
  toggle.setAttribute('aria-expanded', String(open));
  wrap.append(el('h3', { 'data-i18n': 'draw.history', text: t('draw.history') }), toggle);
  if (!state.history) return wrap;
  wrap.append(el('p', { class: 'muted', 'data-i18n': 'draw.historyHint', text: t('draw.historyHint') }));
  const list = el('ul', { class: 'history-list', 'data-testid': 'history-list' });
  for (const v of state.history) {
    const current = v.operation === 'current' || v.valid_to === null;
    // A stored row names who replaced it, and how; so the one before a version says who made it.
    const before = state.history.find((h) => h.version === v.version - 1);
    const made = before ? `${tk('draw.op', before.operation)} · ${whoChanged(before)} · ` : '';
    const item = el(
      'li',
      { 'data-testid': 'history-item', 'data-version': String(v.version), class: v.version === state.historyPick ? 'picked' : '' },
      el('button', { type: 'button', class: 'history-pick' },
        el('strong', { text: tf('draw.version', { v: v.version }) }),
        ' · ',
        current ? t('draw.currentVersion') : gridName(v.name),
        el('br'),
        el('span', { class: 'muted', text: `${made}${whenText(v.valid_from)}` }),
      ),
    );
    item.querySelector('button')!.addEventListener('click', () => {
      state.historyPick = state.historyPick === v.version ? null : v.version;
      renderHistoryOutline();
      renderPanel();
    });
    if (v.version === state.historyPick && !current) {
      item.append(
        button('draw.restore', 'history-restore', () =>
          void runOp({ op: 'restore', id: g.properties.id, version: g.properties.version, to_version: v.version }, 'draw.preview.restore'),
        'small'),
      );
    }
    list.append(item);
  }
  wrap.append(list);
  return wrap;
}

function renderList(): void {
  const box = $('draw-list-wrap');
  box.replaceChildren();
  const data = state.data;
  if (!data) return;
  const grids = data.grids.features.slice().sort((a, b) => (a.properties.code ?? a.properties.name).localeCompare(b.properties.code ?? b.properties.name));
  box.append(el('h2', {}, `${t('draw.gridList')} (${grids.length})`));
  const gap = data.gaps;
  box.append(
    el('p', {
      class: `gap-row${gap && (gap.households ?? 0) > 0 ? ' has-gap' : ''}`,
      'data-testid': 'gap-row',
      'data-households': String(gap?.households ?? 0),
      text: gapSentence(gap?.households ?? 0, gap?.area_m2 ?? 0),
    }),
  );
  if (!grids.length) {
    box.append(el('p', { class: 'muted', text: t('draw.noGrids') }));
    return;
  }
  const list = el('ul', { class: 'grid-list', 'data-testid': 'grid-list' });
  for (const g of grids) {
    const p = g.properties;
    const st = statusOf(p.households);
    const row = el(
      'li',
      {},
      el(
        'button',
        { type: 'button', class: `grid-row${p.id === state.selected ? ' selected' : ''}`, 'data-testid': 'grid-row', 'data-id': String(p.id), 'data-code': p.code, 'data-households': String(p.households), 'aria-pressed': String(p.id === state.selected) },
        el('span', { class: `chip chip-${st}` }),
        el('span', { class: 'grid-name', text: gridName(p.name) }),
        el('span', { class: `grid-count status-${st}`, text: tf('draw.households', { n: fmt(p.households) }) }),
        el('span', { class: 'grid-staff', text: staffNames(g) }),
      ),
    );
    row.querySelector('button')!.addEventListener('click', () => gridClicked(p.id, { fromList: true }));
    list.append(row);
  }
  box.append(list);
}

function renderPanel(): void {
  renderVillagePicker();
  renderRule();
  renderTools();
  renderDrawBar();
  renderHint();
  renderPropose();
  renderSelected();
  renderList();
}

function gridClicked(id: number, opts: { fromList?: boolean } = {}): void {
  if (state.tool === 'merge' && state.selected !== null && id !== state.selected) {
    mergeWith(id);
    return;
  }
  if (state.draw) return; // clicks while drawing add vertices
  select(state.selected === id && !opts.fromList ? null : id);
  if (opts.fromList && state.map) {
    const b = bboxOf(polysOf(gridById(id)?.geometry));
    if (b) state.map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: mapPadding(), maxZoom: 16.5, duration: 300 });
  }
}

// ---------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------

export async function startDraw(): Promise<void> {
  const toggleLabel = document.querySelector<HTMLElement>('#panel-toggle [data-i18n]');
  if (toggleLabel) {
    toggleLabel.dataset.i18n = 'draw.open';
    toggleLabel.textContent = t('draw.open');
  }
  buildPanel();
  buildDialog();
  setPanelOpen(true);
  $('panel-toggle').addEventListener('click', () => setPanelOpen(!document.body.classList.contains('panel-open')));
  window.__cuntuDraw = {
    data: () => state.data,
    selected: () => state.selected,
    villageId: () => state.villageId,
    draft: () =>
      state.draft
        ? { features: state.draft.features, summary: state.draft.proposal.summary, adjustments: state.draft.adjustments, selected: state.draftSelected }
        : null,
  };

  const [villages, tileLayers] = await Promise.all([
    fetchVillages().catch((e: unknown) => {
      if (e instanceof ApiError && e.status === 401) location.assign('/login?next=/draw');
      else showError('draw.loadError', e);
      return [] as Village[];
    }),
    fetchTileLayers().catch(() => null),
    accountReady,
  ]);
  state.villages = villages;
  // A cadre has one village; an admin starts with the first, or the one named in ?village=.
  const wanted = Number(new URLSearchParams(location.search).get('village'));
  state.villageId = villages.find((v) => v.id === wanted)?.id ?? villages[0]?.id ?? null;
  renderPanel();

  const sources: Partial<Record<SourceId, string>> = {};
  const known = new Set<string>(SOURCE_IDS);
  for (const l of tileLayers ?? []) if (known.has(l.id)) sources[l.id as SourceId] = new URL(l.url || `/tiles/${l.id}`, location.href).href;
  if (!tileLayers?.length) for (const id of SOURCE_IDS) sources[id] = new URL(`tiles/${id}`, location.href).href;

  const map = new MapLibreMap({
    container: 'map',
    style: buildStyle(sources, lang()),
    center: [9.55, 47.15],
    zoom: 11,
    maxZoom: 19,
    attributionControl: false,
    localIdeographFontFamily: '"Microsoft YaHei", "PingFang SC", "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", sans-serif',
    dragRotate: false,
    pitchWithRotate: false,
  });
  state.map = map;
  window.__cuntuMap = map;
  map.touchZoomRotate.disableRotation();
  map.addControl(new NavigationControl({ showCompass: false }), 'top-right');
  map.addControl(new ScaleControl({ unit: 'metric', maxWidth: 120 }), 'bottom-left');
  map.addControl(new AttributionControl({ compact: false }), 'bottom-right');

  map.on('load', () => {
    addEditLayers(map);
    initMoveDrag(map);
    initDraftDrag(map);
    map.once('idle', () => {
      document.body.dataset.mapReady = '1';
    });
    void loadGrids({ fit: true });
  });

  map.on('click', (e) => {
    if (state.draw) return;
    if (state.draft) {
      // With a draft on the map a click picks a draft grid (to show its handles), not a grid.
      const d = map.queryRenderedFeatures(e.point, { layers: ['edit-draft-handles'] }).length
        ? null
        : map.queryRenderedFeatures(e.point, { layers: ['edit-draft-fill'] })[0];
      if (d) selectDraft(Number(d.properties?.draft));
      return;
    }
    const hit = map.queryRenderedFeatures(e.point, { layers: ['edit-grid-fill'] })[0];
    if (hit) gridClicked(Number(hit.properties?.id));
    else if (state.tool !== 'move') select(null);
  });
  map.on('mousemove', (e) => {
    if (state.draw || state.tool === 'move') return;
    const layer = state.draft ? 'edit-draft-fill' : 'edit-grid-fill';
    if (state.draft && map.queryRenderedFeatures(e.point, { layers: ['edit-draft-handles'] }).length) return;
    map.getCanvas().style.cursor = map.queryRenderedFeatures(e.point, { layers: [layer] }).length ? 'pointer' : '';
  });

  document.addEventListener('keydown', (e) => {
    // Esc leaves the merge and move tools too (the drawing tools handle it themselves).
    if (e.key === 'Escape' && !state.draw && state.tool && !$<HTMLDialogElement>('preview-dialog').open) setTool(null);
    // Undo/redo of draft adjustments, with the keys the drawing tool uses.
    const target = e.target as HTMLElement | null;
    if (!state.draft || state.draw || $<HTMLDialogElement>('preview-dialog').open) return;
    if (target && /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) return;
    if (!(e.ctrlKey || e.metaKey)) return;
    if (e.key === 'y' || e.key === 'Y' || ((e.key === 'z' || e.key === 'Z') && e.shiftKey)) {
      e.preventDefault();
      redoDraft();
    } else if (e.key === 'z' || e.key === 'Z') {
      e.preventDefault();
      undoDraft();
    }
  });

  onLangChange(() => {
    renderGrids();
    renderDraft();
    renderPanel();
    if (pending) {
      // The dry run's text is in the old language: ask again.
      void runOp(pending.op, pending.title);
    }
  });
}
