// The township leader's page (`/leader`, issue 7): one map of the township's risks. Hazards by kind
// and severity with their influence zones, shelters, the density of key populations, thematic maps
// per village and grid; click a hazard or a zone (or "all flood zones") for the households exposed,
// counted by key-population tag, per village and per grid, and (with the personal-data grant) the
// households themselves with their nearest shelter and the route to it. A dashboard of the
// township's figures, each a way onto the map; exports (XLSX, CSV) and a print of the map (PNG or
// PDF, A4/A3) or of a grid's noticeboard (公示牌).
import {
  AttributionControl,
  Map as MapLibreMap,
  NavigationControl,
  Popup,
  ScaleControl,
  setWorkerUrl,
  type ExpressionSpecification,
  type GeoJSONSource,
  type LngLatBoundsLike,
  type MapGeoJSONFeature,
} from 'maplibre-gl';
import workerUrl from 'maplibre-gl/dist/maplibre-gl-worker.mjs?url';
import './leader.css';
import type { Feature, FeatureCollection, Geometry, MultiPolygon, Point, Polygon, Position } from 'geojson';
import { fetchMe, fetchTileLayers } from './api';
import { lang, onLangChange, t, tf, tk, type TKey } from './i18n';
import { labelPoint, updateAreaLabels } from './labels';
import { buildStyle, COLORS, FACILITY_COLORS, SOURCE_IDS, type SourceId } from './style';
import {
  addInspection,
  CHORO_METRICS,
  createEvacuation,
  EVACUEE_STATES,
  exposureDownloadUrl,
  fetchEvacuations,
  fetchInspections,
  updateHazard,
  fetchChoropleth,
  fetchDashboard,
  fetchExposure,
  fetchHazards,
  fetchHeat,
  fetchNoticeboard,
  fetchShelterRoute,
  fetchZones,
  HAZARD_KINDS,
  SEVERITIES,
  type ChoroLevel,
  type ChoroMetric,
  type Choropleth,
  type Count,
  type Dashboard,
  type EvacuationRow,
  type Exposure,
  type HazardProps,
  type Inspection,
  type ShelterRoute,
  type ZoneProps,
} from './leader-api';
import { barCentres, destroyCharts, KIND_COLORS, renderDashboard, SEVERITY_COLORS } from './leader-dashboard';
import { canvasBlob, composePage, download, pdfBlob, type LegendItem, type Orientation, type Paper } from './leader-print';

declare global {
  interface Window {
    __cuntuMap?: MapLibreMap;
    /** test hook: what the leader's page holds */
    __cuntuLeader?: {
      selected: () => number[];
      exposure: () => Exposure | null;
      choropleth: () => Choropleth | null;
      dashboard: () => Dashboard | null;
      hazards: () => FeatureCollection<Geometry, HazardProps> | null;
      zones: () => FeatureCollection<Polygon | MultiPolygon, ZoneProps> | null;
      select: (ids: number[]) => Promise<void>;
      selectKind: (kind: string) => Promise<void>;
      chartBars: (testid: string) => Array<{ key: string; x: number; y: number }>;
    };
  }
}

setWorkerUrl(new URL(workerUrl, location.href).href);

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

type Tab = 'layers' | 'exposure' | 'dashboard' | 'print';
const TABS: Tab[] = ['layers', 'exposure', 'dashboard', 'print'];

/** Five classes, light to dark (ColorBrewer OrRd). */
const CHORO_COLORS = ['#fef0d9', '#fdcc8a', '#fc8d59', '#e34a33', '#b30000'];
const CHORO_NULL = '#d6d6d6';
const HEAT_RAMP = ['rgba(103,0,163,0)', '#6a1b9a', '#c2185b', '#f57c00', '#fdd835'];
const EXPOSED_COLOR = '#0d47a1';
const ROUTE_COLOR = '#00897b';
const SHELTER_OK = FACILITY_COLORS.shelter;
const SHELTER_OVER = '#d50000';
const SELECT_COLOR = '#ffd600';
const EMPTY_FC: FeatureCollection = { type: 'FeatureCollection', features: [] };

interface Layers {
  base: boolean;
  roads: boolean;
  hazards: boolean;
  kinds: Set<string>;
  zones: boolean;
  shelters: boolean;
  heat: boolean;
  choro: boolean;
}

const state: {
  map: MapLibreMap | null;
  tab: Tab;
  township: string;
  hazards: FeatureCollection<Geometry, HazardProps> | null;
  zones: FeatureCollection<Polygon | MultiPolygon, ZoneProps> | null;
  selected: number[];
  /** what the selection is called ("全部洪涝风险区", a hazard's name) */
  selectionLabel: string | null;
  exposure: Exposure | null;
  exposureBusy: boolean;
  exposureError: string | null;
  /** the exposure of every open hazard: the shelters' load when nothing is selected */
  allExposure: Exposure | null;
  route: ShelterRoute | null;
  routeHousehold: number | null;
  routeError: string | null;
  choro: Choropleth | null;
  choroLevel: ChoroLevel;
  choroMetric: ChoroMetric;
  choroError: string | null;
  gridList: Choropleth | null;
  dashboard: Dashboard | null;
  dashboardError: string | null;
  heatLoaded: boolean;
  layers: Layers;
  notes: string[];
  printBusy: boolean;
  printResult: { kind: 'ok' | 'error'; text: string } | null;
  /** the selected hazard's inspection notes (one hazard selected) */
  inspections: Map<number, Inspection[] | 'error'>;
  recordBusy: boolean;
  recordResult: { kind: 'ok' | 'error'; text: string } | null;
  evacuations: EvacuationRow[] | null;
  evacuationResult: { kind: 'ok' | 'error'; text: string } | null;
} = {
  map: null,
  tab: 'layers',
  township: '',
  hazards: null,
  zones: null,
  selected: [],
  selectionLabel: null,
  exposure: null,
  exposureBusy: false,
  exposureError: null,
  allExposure: null,
  route: null,
  routeHousehold: null,
  routeError: null,
  choro: null,
  choroLevel: 'village',
  choroMetric: 'households',
  choroError: null,
  gridList: null,
  dashboard: null,
  dashboardError: null,
  heatLoaded: false,
  layers: { base: true, roads: true, hazards: true, kinds: new Set(HAZARD_KINDS), zones: true, shelters: true, heat: false, choro: false },
  notes: [],
  printBusy: false,
  printResult: null,
  inspections: new Map(),
  recordBusy: false,
  recordResult: null,
  evacuations: null,
  evacuationResult: null,
};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | undefined> = {},
  ...children: Array<Node | string | null | undefined | false>
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

function button(text: string, testid: string, onClick: () => void, cls = 'small'): HTMLButtonElement {
  const b = el('button', { type: 'button', class: cls, 'data-testid': testid, text });
  b.addEventListener('click', onClick);
  return b;
}

const fmt = (n: number) => new Intl.NumberFormat(lang()).format(n);
/** A count as the server sent it: numbers formatted, "<5" as it is. */
const count = (n: Count | null | undefined): string => (typeof n === 'number' ? fmt(n) : n === null || n === undefined ? '–' : String(n));

function distance(m: number | null | undefined): string {
  if (m === null || m === undefined || !Number.isFinite(m)) return '–';
  return m < 1000 ? tf('leader.unit.m', { n: fmt(Math.round(m)) }) : tf('leader.unit.km', { n: (m / 1000).toFixed(1) });
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function isNarrow(): boolean {
  return window.matchMedia('(max-width: 720px)').matches;
}

function hazardName(p: HazardProps | undefined): string {
  if (!p) return '';
  const kind = (lang() === 'en' ? p.kind_en : p.kind_zh) || tk('hazard', p.kind);
  return p.name ? `${p.name}（${kind}）` : `${kind} #${p.id}`;
}

/** A shelter's name, or "避难场所 67" when it has none. */
function shelterName(id: number, name: string | null | undefined): string {
  return name || `${t('facility.shelter')} ${id}`;
}

function hazardById(id: number): Feature<Geometry, HazardProps> | undefined {
  return state.hazards?.features.find((f) => f.properties.id === id);
}

function extend(b: [number, number, number, number], g: Geometry | null | undefined): void {
  if (!g) return;
  const visit = (c: unknown): void => {
    if (Array.isArray(c) && typeof c[0] === 'number') {
      const [x, y] = c as number[];
      b[0] = Math.min(b[0], x);
      b[1] = Math.min(b[1], y);
      b[2] = Math.max(b[2], x);
      b[3] = Math.max(b[3], y);
    } else if (Array.isArray(c)) c.forEach(visit);
  };
  if (g.type === 'GeometryCollection') g.geometries.forEach((x) => extend(b, x));
  else visit(g.coordinates);
}

function boundsOf(geoms: Array<Geometry | null | undefined>): [number, number, number, number] | null {
  const b: [number, number, number, number] = [Infinity, Infinity, -Infinity, -Infinity];
  geoms.forEach((g) => extend(b, g));
  return Number.isFinite(b[0]) ? b : null;
}

function mapPadding(): { top: number; bottom: number; left: number; right: number } {
  if (isNarrow()) return { top: 30, bottom: 30, left: 24, right: 24 };
  return { top: 50, bottom: 50, left: 400, right: 60 };
}

function fitTo(b: [number, number, number, number] | null, maxZoom = 16): void {
  const map = state.map;
  if (!map || !b) return;
  // A point alone: a little box around it.
  const pad = b[0] === b[2] || b[1] === b[3] ? 0.004 : 0;
  map.fitBounds([[b[0] - pad, b[1] - pad], [b[2] + pad, b[3] + pad]], { padding: mapPadding(), maxZoom, duration: 400 });
}

let popup: Popup | null = null;
let toastTimer = 0;
function toast(text: string, kind: 'ok' | 'warn' = 'ok'): void {
  const box = $('toast');
  box.textContent = text;
  box.dataset.kind = kind;
  box.hidden = false;
  window.clearTimeout(toastTimer);
  toastTimer = window.setTimeout(() => (box.hidden = true), 5000);
}

/** body[data-<flag>] = value after the map has drawn what changed. */
function markAfterIdle(flag: string, value: string): void {
  const map = state.map;
  const set = () => {
    document.body.dataset[flag] = value;
  };
  if (!map) return set();
  map.once('idle', set);
  map.triggerRepaint();
}

// ---------------------------------------------------------------------------
// Map layers
// ---------------------------------------------------------------------------

const sev = (high: number, medium: number, low: number): ExpressionSpecification => ['match', ['get', 'severity'], 'high', high, 'medium', medium, low];
const kindColor = (): ExpressionSpecification =>
  ['match', ['get', 'kind'], ...HAZARD_KINDS.flatMap((k) => [k, KIND_COLORS[k]]), '#757575'] as unknown as ExpressionSpecification;
const polygonish: ExpressionSpecification = ['match', ['geometry-type'], ['Polygon', 'MultiPolygon'], true, false];
const pointish: ExpressionSpecification = ['match', ['geometry-type'], ['Point', 'MultiPoint'], true, false];
const lineish: ExpressionSpecification = ['match', ['geometry-type'], ['LineString', 'MultiLineString'], true, false];

/** The first of `ids` the style has: new layers go below it. */
function before(map: MapLibreMap, ...ids: string[]): string | undefined {
  return ids.find((id) => map.getLayer(id));
}

function addLeaderLayers(map: MapLibreMap): void {
  for (const id of ['leader-choro', 'leader-heat', 'leader-zones', 'leader-hazards', 'leader-shelters', 'leader-exposed', 'leader-route', 'leader-choro-labels']) {
    map.addSource(id, { type: 'geojson', data: EMPTY_FC, promoteId: id === 'leader-hazards' || id === 'leader-zones' ? 'id' : undefined });
  }
  const under = before(map, 'waterways', 'roads-casing', 'roads', 'lane-line');
  map.addLayer(
    {
      id: 'leader-choro-fill',
      type: 'fill',
      source: 'leader-choro',
      paint: { 'fill-color': CHORO_NULL, 'fill-opacity': 0.78 },
      layout: { visibility: 'none' },
    },
    under,
  );
  map.addLayer(
    {
      id: 'leader-choro-line',
      type: 'line',
      source: 'leader-choro',
      paint: { 'line-color': '#5d4037', 'line-width': 1, 'line-opacity': 0.7 },
      layout: { visibility: 'none' },
    },
    under,
  );
  map.addLayer(
    {
      id: 'leader-heat',
      type: 'heatmap',
      source: 'leader-heat',
      layout: { visibility: 'none' },
      paint: {
        'heatmap-weight': ['coalesce', ['to-number', ['get', 'weight']], 1],
        'heatmap-intensity': ['interpolate', ['linear'], ['zoom'], 10, 0.6, 15, 1.6],
        'heatmap-radius': ['interpolate', ['linear'], ['zoom'], 10, 8, 13, 18, 16, 34],
        'heatmap-opacity': 0.72,
        'heatmap-color': ['interpolate', ['linear'], ['heatmap-density'], 0, HEAT_RAMP[0], 0.15, HEAT_RAMP[1], 0.4, HEAT_RAMP[2], 0.7, HEAT_RAMP[3], 1, HEAT_RAMP[4]],
      },
    },
    under,
  );
  const mid = before(map, 'households', 'facilities', 'area-label');
  map.addLayer(
    {
      id: 'leader-zone-fill',
      type: 'fill',
      source: 'leader-zones',
      paint: {
        'fill-color': kindColor(),
        'fill-opacity': ['case', ['boolean', ['feature-state', 'selected'], false], 0.42, sev(0.2, 0.15, 0.11)],
      },
    },
    mid,
  );
  map.addLayer(
    {
      id: 'leader-zone-line',
      type: 'line',
      source: 'leader-zones',
      paint: {
        'line-color': ['case', ['boolean', ['feature-state', 'selected'], false], '#212121', kindColor()],
        'line-width': ['case', ['boolean', ['feature-state', 'selected'], false], 2.5, sev(1.6, 1.2, 0.9)],
        'line-dasharray': [3, 2],
      },
    },
    mid,
  );
  map.addLayer(
    {
      id: 'leader-hazard-fill',
      type: 'fill',
      source: 'leader-hazards',
      filter: polygonish,
      // A closed hazard (销号) stays on the map, faint.
      paint: { 'fill-color': kindColor(), 'fill-opacity': ['case', ['boolean', ['feature-state', 'selected'], false], 0.75, ['==', ['get', 'status'], 'closed'], 0.15, 0.5] },
    },
    mid,
  );
  map.addLayer(
    {
      id: 'leader-hazard-outline',
      type: 'line',
      source: 'leader-hazards',
      filter: ['any', polygonish, lineish],
      paint: {
        'line-color': ['case', ['boolean', ['feature-state', 'selected'], false], SELECT_COLOR, ['match', ['get', 'severity'], 'high', SEVERITY_COLORS.high, kindColor()]],
        'line-width': ['case', ['boolean', ['feature-state', 'selected'], false], 3.5, sev(2.4, 1.6, 1)],
      },
    },
    mid,
  );
  const top = before(map, 'area-label');
  map.addLayer(
    {
      id: 'leader-hazard-point',
      type: 'circle',
      source: 'leader-hazards',
      filter: pointish,
      paint: {
        'circle-color': kindColor(),
        'circle-radius': ['interpolate', ['linear'], ['zoom'], 10, sev(6, 4.5, 3.5), 15, sev(12, 9, 7)],
        // Severity speaks through the outline as well as the size: a major hazard has a dark red ring.
        'circle-stroke-color': ['case', ['boolean', ['feature-state', 'selected'], false], SELECT_COLOR, ['match', ['get', 'severity'], 'high', SEVERITY_COLORS.high, 'medium', '#ffffff', '#ffffff']],
        'circle-stroke-width': ['case', ['boolean', ['feature-state', 'selected'], false], 4, sev(3, 1.8, 1)],
        'circle-opacity': ['case', ['==', ['get', 'status'], 'closed'], 0.3, 1],
        'circle-stroke-opacity': ['case', ['==', ['get', 'status'], 'closed'], 0.3, 1],
      },
    },
    top,
  );
  map.addLayer(
    {
      id: 'leader-route-line',
      type: 'line',
      source: 'leader-route',
      layout: { 'line-join': 'round', 'line-cap': 'round' },
      paint: { 'line-color': ROUTE_COLOR, 'line-width': 5, 'line-opacity': 0.9 },
    },
    top,
  );
  map.addLayer(
    {
      id: 'leader-exposed',
      type: 'circle',
      source: 'leader-exposed',
      paint: {
        'circle-color': ['case', ['get', 'key'], '#6a1b9a', EXPOSED_COLOR],
        'circle-radius': ['interpolate', ['linear'], ['zoom'], 12, 2.5, 16, 6, 18, 9],
        'circle-stroke-color': ['case', ['==', ['get', 'id'], ['literal', -1]], SELECT_COLOR, '#ffffff'],
        'circle-stroke-width': 1.2,
      },
    },
    top,
  );
  map.addLayer(
    {
      id: 'leader-shelter',
      type: 'circle',
      source: 'leader-shelters',
      paint: {
        // A shelter stays green; over capacity it gets a thick red ring (a red dot is a fire risk).
        'circle-color': SHELTER_OK,
        'circle-radius': ['interpolate', ['linear'], ['zoom'], 10, ['case', ['get', 'over'], 7, 6], 15, ['case', ['get', 'over'], 12, 11]],
        'circle-stroke-color': ['case', ['get', 'over'], SHELTER_OVER, '#ffffff'],
        'circle-stroke-width': ['case', ['get', 'over'], 4, 2],
      },
    },
    top,
  );
  map.addLayer({
    id: 'leader-shelter-label',
    type: 'symbol',
    source: 'leader-shelters',
    minzoom: 13,
    layout: { 'text-field': ['get', 'label'], 'text-font': ['sans-serif'], 'text-size': 12, 'text-offset': [0, 1.3], 'text-anchor': 'top', 'text-optional': true },
    paint: { 'text-color': ['case', ['get', 'over'], SHELTER_OVER, '#1b5e20'], 'text-halo-color': '#fff', 'text-halo-width': 1.6 },
  });
  map.addLayer({
    id: 'leader-choro-label',
    type: 'symbol',
    source: 'leader-choro-labels',
    layout: { visibility: 'none', 'text-field': ['get', 'text'], 'text-font': ['sans-serif'], 'text-size': 12, 'text-max-width': 8, 'text-padding': 2 },
    paint: { 'text-color': '#3e2723', 'text-halo-color': 'rgba(255,255,255,0.92)', 'text-halo-width': 1.8 },
  });
}

const LAYER_IDS = {
  base: ['village-fill', 'village-line', 'hamlet-line', 'grid-line', 'lane-line', 'township-line', 'area-label'],
  roads: ['roads-casing', 'roads', 'waterways'],
  hazards: ['leader-hazard-fill', 'leader-hazard-outline', 'leader-hazard-point'],
  zones: ['leader-zone-fill', 'leader-zone-line'],
  shelters: ['leader-shelter', 'leader-shelter-label'],
  heat: ['leader-heat'],
  choro: ['leader-choro-fill', 'leader-choro-line', 'leader-choro-label'],
};

function applyVisibility(): void {
  const map = state.map;
  if (!map || !map.getLayer('leader-hazard-point')) return;
  const L = state.layers;
  const vis = (ids: string[], on: boolean) => {
    for (const id of ids) if (map.getLayer(id)) map.setLayoutProperty(id, 'visibility', on ? 'visible' : 'none');
  };
  vis(LAYER_IDS.base, L.base);
  vis(LAYER_IDS.roads, L.roads);
  vis(LAYER_IDS.hazards, L.hazards);
  vis(LAYER_IDS.zones, L.zones);
  vis(LAYER_IDS.shelters, L.shelters);
  vis(LAYER_IDS.heat, L.heat);
  vis(LAYER_IDS.choro, L.choro);
  // The grid fill coloured by the 30–60 rule belongs to the editor, not to this map; the tile
  // hazards are drawn here from the leader's API, by kind; households appear only as exposed ones.
  vis(['grid-fill', 'hazards-fill', 'hazards-outline', 'hazards-point', 'households', 'facilities', 'facility-label'], false);
  // Under a choropleth the village fill would tint its colours.
  vis(['village-fill'], L.base && !L.choro);
  const kinds = [...L.kinds];
  const kindFilter: ExpressionSpecification = ['in', ['get', 'kind'], ['literal', kinds]];
  map.setFilter('leader-hazard-fill', ['all', polygonish, kindFilter]);
  map.setFilter('leader-hazard-outline', ['all', ['any', polygonish, lineish], kindFilter]);
  map.setFilter('leader-hazard-point', ['all', pointish, kindFilter]);
  map.setFilter('leader-zone-fill', kindFilter);
  map.setFilter('leader-zone-line', kindFilter);
}

function setData(id: string, data: FeatureCollection | Feature): void {
  const src = state.map?.getSource(id) as GeoJSONSource | undefined;
  src?.setData(data);
}

let shownSelection: number[] = [];

function renderSelectionOnMap(): void {
  const map = state.map;
  if (!map || !map.getSource('leader-hazards')) return;
  for (const id of shownSelection) {
    map.setFeatureState({ source: 'leader-hazards', id }, { selected: false });
    map.setFeatureState({ source: 'leader-zones', id }, { selected: false });
  }
  for (const id of state.selected) {
    map.setFeatureState({ source: 'leader-hazards', id }, { selected: true });
    map.setFeatureState({ source: 'leader-zones', id }, { selected: true });
  }
  shownSelection = [...state.selected];
}

function renderExposedOnMap(): void {
  const ex = state.exposure;
  const hh = ex?.personal ? ex.households : [];
  setData('leader-exposed', {
    type: 'FeatureCollection',
    features: hh.map((h) => ({
      type: 'Feature',
      geometry: { type: 'Point', coordinates: [h.lon, h.lat] },
      properties: { id: h.id, key: Boolean(h.tags?.length) },
    })),
  });
  if (state.map?.getLayer('leader-exposed')) {
    state.map.setPaintProperty('leader-exposed', 'circle-stroke-color', ['case', ['==', ['get', 'id'], state.routeHousehold ?? -1], SELECT_COLOR, '#ffffff']);
    state.map.setPaintProperty('leader-exposed', 'circle-stroke-width', ['case', ['==', ['get', 'id'], state.routeHousehold ?? -1], 4, 1.2]);
  }
  renderSheltersOnMap();
}

function renderSheltersOnMap(): void {
  const ex = state.exposure ?? state.allExposure;
  setData('leader-shelters', {
    type: 'FeatureCollection',
    features: (ex?.shelters ?? []).map((s) => ({
      type: 'Feature',
      geometry: { type: 'Point', coordinates: [s.lon, s.lat] },
      properties: {
        id: s.id,
        over: Boolean(s.over_capacity),
        label: `${shelterName(s.id, s.name)}${s.over_capacity ? ' ⚠' : ''}`,
      },
    })),
  });
}

function renderRouteOnMap(): void {
  const r = state.route;
  setData('leader-route', r?.line ? { type: 'Feature', geometry: r.line, properties: {} } : EMPTY_FC);
}

function choroColor(breaks: number[]): ExpressionSpecification {
  const b = cleanBreaks(breaks);
  // Fewer breaks, fewer classes: the darker end of the ramp, as the legend shows it.
  const steps: Array<number | string> = [CHORO_COLORS[4 - b.length]];
  b.forEach((x, i) => steps.push(x, CHORO_COLORS[Math.min(CHORO_COLORS.length - 1, i + 1 + (4 - b.length))]));
  // One class (no break): a plain colour; a step expression needs at least one stop.
  const classed = b.length ? ['step', ['get', 'value'], ...steps] : CHORO_COLORS[CHORO_COLORS.length - 1];
  return ['case', ['==', ['typeof', ['get', 'value']], 'number'], classed, CHORO_NULL] as unknown as ExpressionSpecification;
}

/** Breaks strictly ascending (a step expression needs them so; equal quantiles merge classes), and
 *  only those with values on both sides: no empty class in the legend. */
function cleanBreaks(breaks: number[] | undefined): number[] {
  const values = (state.choro?.features ?? []).map((f) => f.properties.value).filter((v): v is number => typeof v === 'number');
  const lo = values.length ? Math.min(...values) : -Infinity;
  const hi = values.length ? Math.max(...values) : Infinity;
  const out: number[] = [];
  for (const x of breaks ?? []) {
    if (typeof x !== 'number' || !Number.isFinite(x) || x <= lo || x > hi) continue;
    if (!out.length || x > out[out.length - 1]) out.push(x);
  }
  return out.slice(0, 4);
}

function renderChoroOnMap(): void {
  const map = state.map;
  const c = state.choro;
  if (!map || !map.getLayer('leader-choro-fill')) return;
  setData('leader-choro', c ?? EMPTY_FC);
  map.setPaintProperty('leader-choro-fill', 'fill-color', choroColor(c?.breaks ?? []));
  const labels: Feature<Point>[] = [];
  for (const f of c?.features ?? []) {
    const polys = f.geometry.type === 'Polygon' ? [f.geometry.coordinates] : f.geometry.coordinates;
    const p = labelPoint(polys as Position[][][]);
    if (!p) continue;
    const v = f.properties.label ?? (f.properties.value === null ? '<5' : String(f.properties.value));
    labels.push({ type: 'Feature', geometry: { type: 'Point', coordinates: p }, properties: { text: state.choroLevel === 'village' ? `${f.properties.name}\n${v}` : v } });
  }
  setData('leader-choro-labels', { type: 'FeatureCollection', features: labels });
}

// ---------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------

async function loadHazards(): Promise<void> {
  try {
    const [hz, zones] = await Promise.all([fetchHazards(), fetchZones().catch((e: unknown) => (state.notes.push(t('leader.zonesError') + errText(e)), null))]);
    state.hazards = hz;
    state.zones = zones;
  } catch (e) {
    state.notes.push(t('leader.hazardsError') + errText(e));
  }
  setData('leader-hazards', state.hazards ?? EMPTY_FC);
  setData('leader-zones', state.zones ?? EMPTY_FC);
}

async function loadAllExposure(): Promise<void> {
  try {
    state.allExposure = await fetchExposure(null);
    renderSheltersOnMap();
  } catch (e) {
    console.warn('exposure of all hazards', e);
  }
}

let exposureToken = 0;

async function select(ids: number[], label: string | null, zoom: boolean): Promise<void> {
  state.selected = [...new Set(ids)];
  state.selectionLabel = label;
  state.route = null;
  state.routeHousehold = null;
  state.routeError = null;
  renderRouteOnMap();
  renderSelectionOnMap();
  delete document.body.dataset.exposureReady;
  // A selection from the panel: the popup of an earlier click no longer belongs to it.
  if (zoom) popup?.remove();
  // The panel first: on a phone it takes the lower half, and the fit below is to what stays in view.
  if (state.selected.length) setPanelOpen(true);
  if (zoom) {
    const geoms = state.selected.map((id) => state.zones?.features.find((f) => f.properties.id === id)?.geometry ?? hazardById(id)?.geometry);
    fitTo(boundsOf(geoms));
  }
  if (!state.selected.length) {
    state.exposure = null;
    state.exposureError = null;
    renderExposedOnMap();
    renderExposure();
    return;
  }
  state.exposureBusy = true;
  state.exposureError = null;
  setTab('exposure');
  const mine = ++exposureToken;
  try {
    const ex = await fetchExposure(state.selected);
    if (mine !== exposureToken) return;
    state.exposure = ex;
  } catch (e) {
    if (mine !== exposureToken) return;
    state.exposure = null;
    state.exposureError = errText(e);
  } finally {
    if (mine === exposureToken) state.exposureBusy = false;
  }
  renderExposedOnMap();
  renderExposure();
  markAfterIdle('exposureReady', state.selected.join(','));
}

function selectKind(kind: string, severity?: string): Promise<void> {
  const ids = (state.hazards?.features ?? [])
    .filter((f) => f.properties.kind === kind && (f.properties.status ?? 'open') === 'open' && (!severity || f.properties.severity === severity))
    .map((f) => f.properties.id);
  if (!state.layers.kinds.has(kind)) {
    state.layers.kinds.add(kind);
    state.layers.hazards = true;
    applyVisibility();
    renderLayersTab();
  }
  return select(ids, tf('leader.exposure.kindAll', { kind: tk('hazard', kind) }), true);
}

function selectSeverity(severity: string): Promise<void> {
  const ids = (state.hazards?.features ?? []).filter((f) => f.properties.severity === severity && (f.properties.status ?? 'open') === 'open').map((f) => f.properties.id);
  return select(ids, tf('leader.exposure.sevAll', { sev: tk('severity', severity) }), true);
}

function selectAll(): Promise<void> {
  const ids = (state.hazards?.features ?? []).filter((f) => (f.properties.status ?? 'open') === 'open').map((f) => f.properties.id);
  return select(ids, t('leader.exposure.all'), true);
}

async function showRoute(householdId: number): Promise<void> {
  state.routeHousehold = householdId;
  state.routeError = null;
  renderExposedOnMap();
  try {
    state.route = await fetchShelterRoute(householdId);
  } catch (e) {
    state.route = null;
    state.routeError = errText(e);
  }
  renderRouteOnMap();
  renderExposure();
  const h = state.exposure?.households.find((x) => x.id === householdId);
  const geoms: Geometry[] = [];
  if (state.route?.line) geoms.push(state.route.line);
  if (h) geoms.push({ type: 'Point', coordinates: [h.lon, h.lat] });
  fitTo(boundsOf(geoms), 17);
  markAfterIdle('routeReady', String(householdId));
}

async function loadChoropleth(): Promise<void> {
  delete document.body.dataset.choroReady;
  state.choroError = null;
  try {
    state.choro = await fetchChoropleth(state.choroLevel, state.choroMetric);
    if (state.choroLevel === 'grid') state.gridList = state.choro;
  } catch (e) {
    state.choro = null;
    state.choroError = errText(e);
  }
  renderChoroOnMap();
  renderLayersTab();
  renderMapLegend();
  markAfterIdle('choroReady', `${state.choroLevel}:${state.choroMetric}`);
}

function showChoropleth(level: ChoroLevel | null, metric: ChoroMetric | null): void {
  if (level) state.choroLevel = level;
  if (metric) state.choroMetric = metric;
  state.layers.choro = true;
  applyVisibility();
  setTab('layers');
  void loadChoropleth();
}

async function loadHeat(): Promise<void> {
  if (state.heatLoaded) return;
  try {
    setData('leader-heat', await fetchHeat());
    state.heatLoaded = true;
  } catch (e) {
    toast(t('leader.heatError') + errText(e), 'warn');
  }
}

async function loadDashboard(): Promise<void> {
  try {
    state.dashboard = await fetchDashboard();
    state.dashboardError = null;
    if (state.dashboard.township?.name) state.township = state.dashboard.township.name;
  } catch (e) {
    state.dashboardError = errText(e);
  }
  if (state.tab === 'dashboard') renderDashboardTab();
  renderHead();
}

// ---------------------------------------------------------------------------
// Panel
// ---------------------------------------------------------------------------

function buildPanel(): void {
  const tabs = el('div', { class: 'leader-tabs', role: 'tablist' });
  for (const tab of TABS) {
    const b = el('button', { type: 'button', role: 'tab', class: 'leader-tab', id: `leader-tab-${tab}`, 'data-tab': tab, 'data-testid': `tab-${tab}` });
    b.addEventListener('click', () => setTab(tab));
    tabs.append(b);
  }
  const panel = el(
    'aside',
    { id: 'leader-panel', class: 'panel leader-panel', 'aria-labelledby': 'leader-heading' },
    el(
      'div',
      { class: 'leader-top' },
      el(
        'div',
        { class: 'panel-head' },
        el('h2', { id: 'leader-heading' }),
        el('span', { id: 'leader-township', class: 'muted', 'data-testid': 'leader-township' }),
        el('button', { id: 'leader-panel-close', class: 'panel-close', type: 'button', 'aria-label': t('panel.close'), text: '×' }),
      ),
      tabs,
    ),
    el('div', { id: 'leader-notes' }),
    el('div', { id: 'leader-body', class: 'leader-body' }),
  );
  $('stage').append(panel);
  $('leader-panel-close').addEventListener('click', () => setPanelOpen(false));
  // The choropleth's legend floats on the map, so it stays in view on every tab.
  $('stage').append(el('div', { id: 'leader-map-legend', class: 'leader-map-legend', 'data-testid': 'map-legend', hidden: '' }));
}

function setPanelOpen(open: boolean): void {
  document.body.classList.toggle('panel-open', open);
  $('panel-toggle').setAttribute('aria-expanded', String(open));
  state.map?.resize();
}

function setTab(tab: Tab): void {
  state.tab = tab;
  document.body.dataset.leaderTab = tab;
  for (const b of document.querySelectorAll<HTMLButtonElement>('.leader-tab')) {
    const on = b.dataset.tab === tab;
    b.classList.toggle('active', on);
    b.setAttribute('aria-selected', String(on));
  }
  if (tab !== 'dashboard') destroyCharts();
  if (tab !== 'exposure') popup?.remove();
  renderBody();
  $('leader-body').scrollTop = 0;
  $('leader-panel').scrollTop = 0;
}

function renderHead(): void {
  $('leader-heading').textContent = t('leader.title');
  $('leader-township').textContent = state.township;
  for (const b of document.querySelectorAll<HTMLButtonElement>('.leader-tab')) b.textContent = t(`leader.tab.${b.dataset.tab}` as TKey);
  const notes = $('leader-notes');
  notes.replaceChildren(...state.notes.map((n) => el('p', { class: 'form-error', text: n })));
}

function renderBody(): void {
  if (state.tab === 'layers') renderLayersTab();
  else if (state.tab === 'exposure') renderExposure();
  else if (state.tab === 'dashboard') renderDashboardTab();
  else renderPrintTab();
  renderMapLegend();
}

function swatch(kind: 'fill' | 'line' | 'circle' | 'ring', color: string, extra = ''): HTMLElement {
  const s = el('span', { class: `sw sw-${kind} ${extra}` });
  s.style.setProperty('--c', color);
  return s;
}

function check(label: string, testid: string, on: boolean, onChange: (v: boolean) => void, sw?: HTMLElement): HTMLElement {
  const box = el('input', { type: 'checkbox', 'data-testid': testid });
  box.checked = on;
  box.addEventListener('change', () => onChange(box.checked));
  return el('label', { class: 'leader-check' }, box, sw ?? null, el('span', { text: label }));
}

function renderLayersTab(): void {
  if (state.tab !== 'layers') return;
  const body = $('leader-body');
  body.replaceChildren();
  const L = state.layers;
  const toggle = (key: 'base' | 'roads' | 'hazards' | 'zones' | 'shelters' | 'heat' | 'choro') => (v: boolean) => {
    L[key] = v;
    if (key === 'heat' && v) void loadHeat();
    if (key === 'choro' && v && !state.choro) void loadChoropleth();
    applyVisibility();
    renderLayersTab();
    renderMapLegend();
  };

  const ul = el('div', { class: 'leader-layers' });
  ul.append(check(t('leader.layer.hazards'), 'layer-hazards', L.hazards, toggle('hazards'), swatch('circle', COLORS.hazardHigh)));
  const kinds = el('div', { class: 'leader-kinds' });
  for (const k of HAZARD_KINDS) {
    const n = state.hazards?.features.filter((f) => f.properties.kind === k).length ?? 0;
    kinds.append(
      check(`${tk('hazard', k)} (${n})`, `layer-kind-${k}`, L.kinds.has(k), (v) => {
        if (v) L.kinds.add(k);
        else L.kinds.delete(k);
        applyVisibility();
        renderMapLegend();
      }, swatch('circle', KIND_COLORS[k])),
    );
  }
  ul.append(kinds);
  const sevRow = el('div', { class: 'leader-sev-legend' });
  for (const s of SEVERITIES) sevRow.append(el('span', { class: `sev sev-${s}` }, swatch('ring', SEVERITY_COLORS[s], `sev-${s}`), el('span', { text: tk('severity', s) })));
  ul.append(sevRow);
  ul.append(check(t('leader.layer.zones'), 'layer-zones', L.zones, toggle('zones'), swatch('fill', KIND_COLORS.flood, 'dashed')));
  ul.append(check(t('leader.layer.shelters'), 'layer-shelters', L.shelters, toggle('shelters'), swatch('circle', SHELTER_OK)));
  ul.append(el('div', { class: 'leader-sev-legend' }, el('span', { class: 'sev' }, swatch('ring', SHELTER_OVER, 'sev-high shelter-over'), el('span', { text: t('leader.legend.shelterOver') }))));
  ul.append(check(t('leader.layer.heat'), 'layer-heat', L.heat, toggle('heat'), swatch('fill', HEAT_RAMP[2])));
  ul.append(check(t('leader.layer.choro'), 'layer-choro', L.choro, toggle('choro'), swatch('fill', CHORO_COLORS[3])));

  const level = el('select', { 'data-testid': 'choro-level', 'aria-label': t('leader.choro.level') });
  for (const lv of ['village', 'grid'] as ChoroLevel[]) level.append(el('option', { value: lv, text: t(`leader.choro.level.${lv}` as TKey) }));
  level.value = state.choroLevel;
  level.addEventListener('change', () => showChoropleth(level.value as ChoroLevel, null));
  const metric = el('select', { 'data-testid': 'choro-metric', 'aria-label': t('leader.choro.metric') });
  for (const m of CHORO_METRICS) metric.append(el('option', { value: m, text: t(`leader.choro.metric.${m}` as TKey) }));
  metric.value = state.choroMetric;
  metric.addEventListener('change', () => showChoropleth(null, metric.value as ChoroMetric));
  ul.append(el('div', { class: 'leader-choro-pick' }, level, metric));
  if (state.choroError) ul.append(el('p', { class: 'form-error', text: t('leader.choro.error') + state.choroError }));
  ul.append(check(t('leader.layer.base'), 'layer-base', L.base, toggle('base'), swatch('line', COLORS.village)));
  ul.append(check(t('leader.layer.roads'), 'layer-roads', L.roads, toggle('roads'), swatch('line', COLORS.roadPrimary)));
  body.append(ul);
  body.append(el('p', { class: 'muted leader-hint', text: t('leader.hint.click') }));
}

function choroLegendItems(): Array<{ color: string; label: string }> {
  const c = state.choro;
  if (!c) return [];
  const b = cleanBreaks(c.breaks);
  const unit = '';
  const f = (x: number) => (Number.isInteger(x) ? fmt(x) : x.toFixed(1));
  const colors = CHORO_COLORS.slice(CHORO_COLORS.length - (b.length + 1));
  const items: Array<{ color: string; label: string }> = [];
  if (!b.length) items.push({ color: colors[0], label: t('leader.choro.oneClass') });
  else {
    items.push({ color: colors[0], label: `< ${f(b[0])}${unit}` });
    for (let i = 0; i + 1 < b.length; i++) items.push({ color: colors[i + 1], label: `${f(b[i])} – ${f(b[i + 1])}${unit}` });
    items.push({ color: colors[b.length], label: `≥ ${f(b[b.length - 1])}${unit}` });
  }
  if (c.features.some((x) => x.properties.value === null)) items.push({ color: CHORO_NULL, label: t('leader.choro.suppressed') });
  return items;
}

function choroUnit(): string {
  const c = state.choro;
  return ((lang() === 'en' ? c?.unit_en : c?.unit_zh) ?? '').trim();
}

function renderMapLegend(): void {
  const box = $('leader-map-legend');
  if (!box) return;
  box.replaceChildren();
  const show = state.layers.choro && state.choro;
  box.hidden = !show;
  if (!show) return;
  box.append(
    el('h3', { text: `${t(`leader.choro.metric.${state.choroMetric}` as TKey)} · ${t(`leader.choro.level.${state.choroLevel}` as TKey)}` }),
  );
  const unit = choroUnit();
  if (unit) box.append(el('div', { class: 'muted leader-unit', text: tf('leader.choro.unit', { unit }) }));
  const ul = el('ul', { 'data-testid': 'choro-legend', 'data-breaks': JSON.stringify(cleanBreaks(state.choro?.breaks)) });
  for (const it of choroLegendItems()) ul.append(el('li', { 'data-testid': 'choro-class' }, swatch('fill', it.color), el('span', { text: it.label })));
  box.append(ul);
}

function table(testid: string, heads: string[], rows: Array<Array<string | Node>>, onRow?: Array<(() => void) | null>): HTMLElement {
  const tb = el('tbody');
  rows.forEach((r, i) => {
    const tr = el('tr', {}, ...r.map((c) => el('td', {}, c)));
    const go = onRow?.[i];
    if (go) {
      tr.classList.add('clickable');
      tr.tabIndex = 0;
      tr.addEventListener('click', go);
      tr.addEventListener('keydown', (e) => {
        if (e.key === 'Enter') go();
      });
    }
    tb.append(tr);
  });
  return el('div', { class: 'leader-table-wrap' }, el('table', { class: 'leader-table', 'data-testid': testid }, el('thead', {}, el('tr', {}, ...heads.map((h) => el('th', { text: h })))), tb));
}

function tagChips(tags: Record<string, Count> | undefined): HTMLElement {
  const box = el('div', { class: 'leader-tags', 'data-testid': 'exposure-tags' });
  for (const [tag, n] of Object.entries(tags ?? {})) box.append(el('span', { class: 'tag', 'data-tag': tag }, `${tk('tag', tag)} `, el('b', { text: count(n) })));
  if (!box.childElementCount) box.append(el('span', { class: 'muted', text: t('value.none') }));
  return box;
}

function tagSummary(tags: Record<string, Count> | undefined): string {
  return Object.entries(tags ?? {})
    .filter(([, n]) => n !== 0)
    .map(([tag, n]) => `${tk('tag', tag)}${count(n)}`)
    .join('、');
}

function renderExposure(): void {
  if (state.tab !== 'exposure') return;
  const body = $('leader-body');
  body.replaceChildren();
  // Quick picks: every hazard of a kind, or all.
  const picks = el('div', { class: 'leader-picks' });
  for (const k of HAZARD_KINDS) {
    const n = state.hazards?.features.filter((f) => f.properties.kind === k).length ?? 0;
    if (!n) continue;
    const b = button(tf('leader.exposure.kindAll', { kind: tk('hazard', k) }), `pick-${k}`, () => void selectKind(k));
    b.prepend(swatch('circle', KIND_COLORS[k]));
    picks.append(b);
  }
  picks.append(button(t('leader.exposure.all'), 'pick-all', () => void selectAll()));
  if (state.selected.length) picks.append(button(t('leader.exposure.clear'), 'pick-clear', () => void select([], null, false)));
  body.append(picks);

  if (!state.selected.length) {
    body.append(el('p', { class: 'muted', 'data-testid': 'exposure-empty', text: t('leader.exposure.none') }));
    return;
  }
  const label = state.selectionLabel ?? (state.selected.length === 1 ? hazardName(hazardById(state.selected[0])?.properties) : tf('leader.exposure.selected', { n: state.selected.length }));
  body.append(el('h3', { class: 'leader-selection', 'data-testid': 'exposure-selection', text: `${label} · ${tf('leader.exposure.selected', { n: state.selected.length })}` }));
  if (state.selected.length === 1) body.append(hazardRecord(state.selected[0]));
  if (state.exposureBusy) {
    body.append(el('p', { class: 'muted', text: t('leader.exposure.loading') }));
    return;
  }
  if (state.exposureError) {
    body.append(el('p', { class: 'form-error', 'data-testid': 'exposure-error', text: t('leader.exposure.error') + state.exposureError }));
    return;
  }
  const ex = state.exposure;
  if (!ex) return;
  body.append(
    el(
      'div',
      { class: 'leader-totals' },
      el('div', { class: 'dash-figure static', 'data-testid': 'exposed-households', 'data-value': String(ex.total.households) }, el('span', { class: 'dash-value', text: count(ex.total.households) }), el('span', { class: 'dash-label', text: t('leader.exposure.households') })),
      el('div', { class: 'dash-figure static', 'data-testid': 'exposed-persons', 'data-value': String(ex.total.persons ?? '') }, el('span', { class: 'dash-value', text: count(ex.total.persons) }), el('span', { class: 'dash-label', text: t('leader.exposure.persons') })),
    ),
  );
  body.append(el('h4', { text: t('leader.exposure.byTag') }), tagChips(ex.total.tags));

  const xlsx = el('a', { class: 'button small primary-small', href: exposureDownloadUrl('xlsx', state.selected), download: '', 'data-testid': 'export-xlsx', text: t('leader.export.xlsx') });
  const csv = el('a', { class: 'button small', href: exposureDownloadUrl('csv', state.selected), download: '', 'data-testid': 'export-csv', text: t('leader.export.csv') });
  body.append(el('div', { class: 'leader-exports' }, xlsx, csv));

  body.append(el('h4', { text: t('leader.exposure.byVillage') }));
  body.append(
    table(
      'exposure-villages',
      [t('leader.col.village'), t('leader.col.households'), t('leader.col.persons'), t('leader.col.tags')],
      ex.villages.map((v) => [v.name, count(v.households), count(v.persons), tagSummary(v.tags)]),
    ),
  );
  body.append(el('h4', { text: t('leader.exposure.byGrid') }));
  body.append(
    table(
      'exposure-grids',
      [t('leader.col.grid'), t('leader.col.households'), t('leader.col.persons'), t('leader.col.tags')],
      ex.grids.map((g) => [g.village ? `${g.village} ${g.name}` : g.name, count(g.households), count(g.persons), tagSummary(g.tags)]),
    ),
  );

  if (ex.personal) {
    body.append(el('h4', { text: tf('leader.exposure.list', { n: ex.households.length }) }));
    if (state.routeError) body.append(el('p', { class: 'form-error', text: t('leader.route.error') + state.routeError }));
    if (state.route && state.routeHousehold !== null) {
      body.append(
        el('p', { class: 'leader-route', 'data-testid': 'route-summary' }, swatch('line', ROUTE_COLOR), tf('leader.route.summary', { name: shelterName(state.route.shelter.id, state.route.shelter.name), d: distance(state.route.distance_m) })),
      );
    }
    const rows = ex.households.slice(0, 500);
    body.append(
      table(
        'exposure-households',
        [t('leader.col.head'), t('leader.col.house'), t('leader.col.tags'), t('leader.col.shelter')],
        rows.map((h) => [
          h.head_name ?? '–',
          h.house_number ?? '',
          (h.tags ?? []).map((x) => tk('tag', x)).join('、'),
          h.shelter ? `${shelterName(h.shelter.id, h.shelter.name)} · ${distance(h.shelter.distance_m)}` : t('leader.exposure.noShelter'),
        ]),
        rows.map((h) => () => void showRoute(h.id)),
      ),
    );
    if (ex.households.length > rows.length) body.append(el('p', { class: 'muted', text: tf('leader.exposure.more', { n: ex.households.length - rows.length }) }));
  } else {
    body.append(el('p', { class: 'muted', 'data-testid': 'counts-only', text: t('leader.exposure.countsOnly') }));
  }

  if (ex.shelters?.length) {
    body.append(el('h4', { text: t('leader.exposure.shelters') }));
    body.append(
      table(
        'exposure-shelters',
        [t('leader.col.shelter'), t('leader.col.capacity'), t('leader.col.assigned')],
        ex.shelters.map((s) => [
          el('span', {}, shelterName(s.id, s.name), s.over_capacity ? el('span', { class: 'flag-chip', text: t('leader.exposure.over') }) : null),
          s.capacity === null || s.capacity === undefined ? '–' : fmt(s.capacity),
          tf('leader.exposure.assigned', { h: count(s.assigned_households), p: count(s.assigned_persons) }),
        ]),
        ex.shelters.map((s) => () => state.map?.easeTo({ center: [s.lon, s.lat], zoom: Math.max(state.map.getZoom(), 15), duration: 300 })),
      ),
    );
  }
  body.append(evacuationSection());
}

// ---------------------------------------------------------------------------
// Hazard records and evacuations
// ---------------------------------------------------------------------------

function resultLine(r: { kind: 'ok' | 'error'; text: string } | null, testid: string): HTMLElement | null {
  return r ? el('p', { class: `visit-result result-${r.kind}`, 'data-testid': testid, role: 'status', text: r.text }) : null;
}

/** The record of one hazard: version, status, severity; close or reopen it; inspection notes. */
function hazardRecord(id: number): HTMLElement {
  const p = hazardById(id)?.properties;
  const box = el('section', { class: 'leader-record', 'data-testid': 'hazard-record' });
  if (!p) return box;
  const open = (p.status ?? 'open') === 'open';
  box.append(
    el('h4', { text: t('leader.record.heading') }),
    el('div', { class: 'muted', text: tf('leader.record.meta', { v: p.version ?? 1, status: t(open ? 'leader.record.open' : 'leader.record.closed'), m: fmt(p.buffer_m ?? 0) }) }),
  );
  const sev = el('select', { 'data-testid': 'record-severity', 'aria-label': t('field.severity') });
  for (const s of SEVERITIES) sev.append(el('option', { value: s, text: tk('severity', s) }));
  sev.value = p.severity;
  const saveSev = button(t('leader.record.saveSeverity'), 'record-save-severity', () => void patchHazard(p, { severity: sev.value }));
  const toggle = button(t(open ? 'leader.record.close' : 'leader.record.reopen'), 'record-toggle', () => void patchHazard(p, { status: open ? 'closed' : 'open' }));
  saveSev.disabled = toggle.disabled = state.recordBusy;
  box.append(el('div', { class: 'leader-record-row' }, sev, saveSev, toggle));
  const note = el('textarea', { rows: '2', 'data-testid': 'record-note', placeholder: t('leader.record.notePlaceholder'), 'aria-label': t('leader.record.note') });
  const add = button(t('leader.record.addNote'), 'record-add-note', () => {
    const text = note.value.trim();
    if (text) void noteHazard(p, text);
  });
  add.disabled = state.recordBusy;
  box.append(note, add);
  const rr = resultLine(state.recordResult, 'record-result');
  if (rr) box.append(rr);
  const list = state.inspections.get(id);
  if (list === undefined) {
    fetchInspections(id)
      .then((r) => state.inspections.set(id, r.inspections ?? []))
      .catch(() => state.inspections.set(id, 'error'))
      .finally(() => renderExposure());
  } else if (list === 'error') box.append(el('p', { class: 'form-error', text: t('leader.record.notesError') }));
  else if (list.length) {
    const ul = el('ul', { class: 'leader-notes', 'data-testid': 'record-notes' });
    for (const n of list.slice(0, 5)) {
      const when = new Date(n.created_at);
      ul.append(el('li', {}, el('span', { class: 'muted', text: `${Number.isNaN(when.getTime()) ? n.created_at : when.toLocaleDateString(lang())} ${n.by ?? ''} ` }), n.note));
    }
    box.append(ul);
  }
  return box;
}

async function patchHazard(p: HazardProps, change: { severity?: string; status?: string }): Promise<void> {
  state.recordBusy = true;
  state.recordResult = null;
  renderExposure();
  try {
    await updateHazard(p.id, { ...change, version: p.version ?? 1 });
    state.recordResult = { kind: 'ok', text: t('leader.record.saved') };
  } catch (e) {
    state.recordResult = { kind: 'error', text: t('leader.record.error') + errText(e) };
  }
  // Reload either way: after a 409 the page shows what the other person saved.
  await loadHazards();
  state.recordBusy = false;
  renderSelectionOnMap();
  renderExposure();
}

async function noteHazard(p: HazardProps, note: string): Promise<void> {
  state.recordBusy = true;
  state.recordResult = null;
  renderExposure();
  try {
    await addInspection(p.id, note);
    state.inspections.delete(p.id);
    state.recordResult = { kind: 'ok', text: t('leader.record.noteSaved') };
  } catch (e) {
    state.recordResult = { kind: 'error', text: t('leader.record.error') + errText(e) };
  }
  state.recordBusy = false;
  renderExposure();
}

let evacuationsLoading = false;
function loadEvacuations(): void {
  if (evacuationsLoading) return;
  evacuationsLoading = true;
  fetchEvacuations()
    .then((r) => (state.evacuations = r))
    .catch(() => (state.evacuations = state.evacuations ?? []))
    .finally(() => {
      evacuationsLoading = false;
      if (state.tab !== 'exposure') return;
      // Redraw only the evacuations: the live refresh must not wipe what the leader is typing
      // or choosing elsewhere in the panel (an inspection note, a severity).
      const shown = document.querySelector('[data-testid="evacuations"]');
      if (shown) shown.replaceWith(evacuationSection());
      else renderExposure();
    });
}

/** Evacuations (转移): make the list of households to move for the selection; the live tally of each. */
function evacuationSection(): HTMLElement {
  const box = el('section', { class: 'leader-evac', 'data-testid': 'evacuations' }, el('h4', { text: t('leader.evac.heading') }));
  if (state.selected.length) {
    const make = button(t('leader.evac.create'), 'evac-create', () => {
      const label = state.selectionLabel ?? tf('leader.exposure.selected', { n: state.selected.length });
      const name = window.prompt(t('leader.evac.name'), `${label} ${new Date().toLocaleDateString(lang())}`);
      if (!name?.trim()) return;
      createEvacuation(name.trim(), state.selected)
        .then((r) => (state.evacuationResult = { kind: 'ok', text: tf('leader.evac.created', { n: r.households }) }))
        .catch((e: unknown) => (state.evacuationResult = { kind: 'error', text: t('leader.evac.error') + errText(e) }))
        .finally(() => {
          state.evacuations = null;
          loadEvacuations();
        });
    });
    box.append(el('p', { class: 'muted', text: t('leader.evac.hint') }), make);
  }
  const rr = resultLine(state.evacuationResult, 'evac-result');
  if (rr) box.append(rr);
  if (state.evacuations === null) {
    loadEvacuations();
    return box;
  }
  if (!state.evacuations.length) {
    box.append(el('p', { class: 'muted', text: t('leader.evac.none') }));
    return box;
  }
  box.append(
    table(
      'evac-list',
      [t('leader.evac.col.name'), ...EVACUEE_STATES.map((s) => t(`leader.evac.state.${s}` as TKey))],
      state.evacuations.slice(0, 20).map((r) => [
        `${r.evacuation.name} (${fmt(r.tally.total)})`,
        ...EVACUEE_STATES.map((s) => fmt(r.tally.by_status[s] ?? 0)),
      ]),
      state.evacuations.slice(0, 20).map((r) => () => void select(r.evacuation.hazard_ids, r.evacuation.name, true)),
    ),
  );
  box.append(button(t('leader.evac.refresh'), 'evac-refresh', () => loadEvacuations()));
  return box;
}

function renderDashboardTab(): void {
  if (state.tab !== 'dashboard') return;
  const body = $('leader-body');
  body.replaceChildren();
  if (state.dashboardError) {
    body.append(el('p', { class: 'form-error', text: t('leader.dash.error') + state.dashboardError }));
    return;
  }
  const d = state.dashboard;
  if (!d) {
    body.append(el('p', { class: 'muted', text: t('popup.loading') }));
    return;
  }
  const box = el('div', { class: 'leader-dashboard', 'data-testid': 'dashboard' });
  body.append(box);
  const closePanelOnPhone = () => {
    if (isNarrow()) setPanelOpen(false);
  };
  renderDashboard(box, d, {
    villages: () => showChoropleth('village', 'households'),
    grids: () => showChoropleth('grid', 'households'),
    households: () => showChoropleth(state.choroLevel, 'households'),
    persons: () => showChoropleth(state.choroLevel, 'households'),
    coverage: () => showChoropleth(state.choroLevel, 'coverage'),
    keyPopulation: () => {
      state.layers.heat = true;
      void loadHeat();
      showChoropleth(state.choroLevel, 'key_population');
    },
    exposed: () => void selectAll(),
    shelters: () => {
      state.layers.shelters = true;
      applyVisibility();
      const s = (state.exposure ?? state.allExposure)?.shelters ?? [];
      fitTo(boundsOf(s.map((x) => ({ type: 'Point', coordinates: [x.lon, x.lat] }) as Point)));
      closePanelOnPhone();
    },
    hazardKind: (k) => void selectKind(k),
    severity: (s) => void selectSeverity(s),
  });
  markAfterIdle('dashboardReady', '1');
}

// ---------------------------------------------------------------------------
// Print
// ---------------------------------------------------------------------------

const print: { title: string | null; paper: Paper; orientation: Orientation; format: 'pdf' | 'png'; grid: number | null } = {
  title: null,
  paper: 'a4',
  orientation: 'landscape',
  format: 'pdf',
  grid: null,
};

function defaultTitle(): string {
  return tf('leader.print.defaultTitle', { township: state.township || t('kind.township') });
}

function radio<T extends string>(name: string, values: T[], current: T, label: (v: T) => string, onPick: (v: T) => void): HTMLElement {
  const box = el('div', { class: 'leader-radios', role: 'radiogroup' });
  for (const v of values) {
    const r = el('input', { type: 'radio', name, value: v, 'data-testid': `${name}-${v}` });
    r.checked = v === current;
    r.addEventListener('change', () => r.checked && onPick(v));
    box.append(el('label', {}, r, el('span', { text: label(v) })));
  }
  return box;
}

function renderPrintTab(): void {
  if (state.tab !== 'print') return;
  const body = $('leader-body');
  body.replaceChildren();
  body.append(el('h3', { text: t('leader.print.heading') }));
  const title = el('input', { type: 'text', 'data-testid': 'print-title', 'aria-label': t('leader.print.title') });
  title.value = print.title ?? defaultTitle();
  title.addEventListener('input', () => (print.title = title.value));
  body.append(
    el('label', { class: 'field-label', text: t('leader.print.title') }),
    title,
    el('div', { class: 'field-label', text: t('leader.print.paper') }),
    radio('print-paper', ['a4', 'a3'] as Paper[], print.paper, (v) => v.toUpperCase(), (v) => (print.paper = v)),
    el('div', { class: 'field-label', text: t('leader.print.orientation') }),
    radio('print-orientation', ['landscape', 'portrait'] as Orientation[], print.orientation, (v) => t(`leader.print.${v}` as TKey), (v) => (print.orientation = v)),
    el('div', { class: 'field-label', text: t('leader.print.format') }),
    radio('print-format', ['pdf', 'png'] as Array<'pdf' | 'png'>, print.format, (v) => v.toUpperCase(), (v) => (print.format = v)),
  );
  const go = button(state.printBusy ? t('leader.print.busy') : t('leader.print.go'), 'print-go', () => void doPrint(), 'small primary-small wide');
  go.disabled = state.printBusy;
  body.append(go);
  body.append(el('p', { class: 'muted leader-hint', text: t('leader.print.hint') }));

  // The grid noticeboard.
  body.append(el('h3', { text: t('leader.notice.heading') }));
  const grid = el('select', { 'data-testid': 'notice-grid', 'aria-label': t('leader.notice.grid') });
  const key = (g: { properties: { name: string; village?: string | null } }) => `${g.properties.village ?? ''} ${g.properties.name}`;
  const grids = [...(state.gridList?.features ?? [])].sort((a, b) => key(a).localeCompare(key(b), 'zh-CN', { numeric: true }));
  if (!grids.length) {
    grid.append(el('option', { value: '', text: t('popup.loading') }));
    void ensureGridList();
  }
  for (const g of grids) grid.append(el('option', { value: String(g.properties.id), text: g.properties.village ? `${g.properties.village} ${g.properties.name}` : g.properties.name }));
  if (print.grid !== null) grid.value = String(print.grid);
  else if (grids.length) print.grid = grids[0].properties.id;
  grid.addEventListener('change', () => (print.grid = Number(grid.value) || null));
  const notice = button(state.printBusy ? t('leader.print.busy') : t('leader.notice.go'), 'notice-go', () => void doNoticeboard(), 'small primary-small wide');
  notice.disabled = state.printBusy || !grids.length;
  body.append(el('label', { class: 'field-label', text: t('leader.notice.grid') }), grid, notice);
  if (state.printResult) body.append(el('p', { class: `visit-result result-${state.printResult.kind}`, 'data-testid': 'print-result', role: 'status', text: state.printResult.text }));
}

let gridListLoading: Promise<void> | null = null;
function ensureGridList(): Promise<void> {
  if (state.gridList) return Promise.resolve();
  gridListLoading ??= fetchChoropleth('grid', 'households')
    .then((c) => {
      state.gridList = c;
      renderPrintTab();
    })
    .catch((e: unknown) => {
      gridListLoading = null;
      toast(t('leader.choro.error') + errText(e), 'warn');
    });
  return gridListLoading;
}

/** What the print's legend shows: the layers on the map now. */
function printLegend(): LegendItem[] {
  const L = state.layers;
  const items: LegendItem[] = [];
  if (L.hazards) {
    items.push({ type: 'heading', label: t('leader.layer.hazards') });
    const present = new Set(state.hazards?.features.map((f) => f.properties.kind));
    for (const k of HAZARD_KINDS) if (L.kinds.has(k) && present.has(k)) items.push({ type: 'circle', color: KIND_COLORS[k], label: tk('hazard', k) });
    items.push({ type: 'circle', color: '#9e9e9e', stroke: SEVERITY_COLORS.high, radius: 0.42, label: tk('severity', 'high') });
    items.push({ type: 'circle', color: '#9e9e9e', radius: 0.32, label: tk('severity', 'medium') });
    items.push({ type: 'circle', color: '#9e9e9e', radius: 0.24, label: tk('severity', 'low') });
  }
  if (L.zones) items.push({ type: 'fill', color: 'rgba(30,111,217,0.25)', stroke: KIND_COLORS.flood, label: t('leader.legend.zone') });
  if (L.shelters) {
    items.push({ type: 'circle', color: SHELTER_OK, label: t('leader.legend.shelter') });
    if ((state.exposure ?? state.allExposure)?.shelters.some((s) => s.over_capacity)) items.push({ type: 'circle', color: SHELTER_OK, stroke: SHELTER_OVER, radius: 0.42, label: t('leader.legend.shelterOver') });
  }
  if (state.exposure?.personal && state.exposure.households.length) {
    items.push({ type: 'circle', color: EXPOSED_COLOR, radius: 0.22, label: t('leader.legend.exposed') });
    items.push({ type: 'circle', color: '#6a1b9a', radius: 0.22, label: t('leader.legend.exposedKey') });
  }
  if (state.route) items.push({ type: 'line', color: ROUTE_COLOR, label: t('leader.legend.route') });
  if (L.heat) items.push({ type: 'ramp', colors: HEAT_RAMP.slice(1), label: t('leader.legend.heat') });
  if (L.choro && state.choro) {
    const unit = choroUnit();
    items.push({ type: 'heading', label: `${t(`leader.choro.metric.${state.choroMetric}` as TKey)} · ${t(`leader.choro.level.${state.choroLevel}` as TKey)}${unit ? ` (${unit})` : ''}` });
    for (const it of choroLegendItems()) items.push({ type: 'fill', color: it.color, label: it.label });
  }
  if (L.base) {
    items.push({ type: 'line', color: COLORS.township, dashed: true, label: t('legend.township') });
    items.push({ type: 'line', color: COLORS.village, label: t('legend.village') });
  }
  if (L.roads) {
    items.push({ type: 'line', color: COLORS.roadPrimary, label: t('legend.road.main') });
    items.push({ type: 'line', color: COLORS.water, label: t('legend.river') });
  }
  return items;
}

function printText(title: string, subtitle?: string) {
  const now = new Date();
  const date = new Intl.DateTimeFormat(lang(), { year: 'numeric', month: '2-digit', day: '2-digit' }).format(now);
  return {
    title,
    subtitle,
    legendTitle: t('panel.legend'),
    north: t('leader.print.north'),
    date: tf('leader.print.date', { date }),
    attribution: t('leader.print.attribution'),
    scaleUnit: (m: number) => (m >= 1000 ? tf('leader.unit.km', { n: m / 1000 }) : tf('leader.unit.m', { n: m })),
  };
}

function fileStamp(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}`;
}

async function output(canvas: HTMLCanvasElement, name: string, title: string): Promise<void> {
  const file = `${name}-${print.paper}-${print.orientation}-${fileStamp()}.${print.format}`;
  const blob = print.format === 'pdf' ? await pdfBlob(canvas, print.paper, print.orientation, title) : await canvasBlob(canvas);
  download(blob, file);
  state.printResult = { kind: 'ok', text: tf('leader.print.done', { name: file }) };
  document.body.dataset.printDone = String(Number(document.body.dataset.printDone ?? 0) + 1);
}

async function runPrint(job: () => Promise<void>): Promise<void> {
  if (state.printBusy) return;
  state.printBusy = true;
  state.printResult = null;
  renderPrintTab();
  try {
    await job();
  } catch (e) {
    console.error(e);
    state.printResult = { kind: 'error', text: t('leader.print.error') + errText(e) };
  } finally {
    state.printBusy = false;
    renderPrintTab();
  }
}

/** What the map shows, less the part under the panel (a desktop's panel floats over the map). */
function visibleBounds(map: MapLibreMap): LngLatBoundsLike {
  const rect = map.getContainer().getBoundingClientRect();
  let left = 0;
  const panel = document.getElementById('leader-panel');
  if (panel && document.body.classList.contains('panel-open') && !isNarrow()) {
    const pr = panel.getBoundingClientRect();
    if (pr.right < rect.left + rect.width * 0.6) left = Math.max(0, pr.right - rect.left);
  }
  const sw = map.unproject([left, rect.height]);
  const ne = map.unproject([rect.width, 0]);
  return [sw.lng, sw.lat, ne.lng, ne.lat];
}

function doPrint(): Promise<void> {
  return runPrint(async () => {
    const map = state.map!;
    const title = (print.title ?? '').trim() || defaultTitle();
    const sub = state.selected.length ? `${state.selectionLabel ?? tf('leader.exposure.selected', { n: state.selected.length })}` : undefined;
    const canvas = await composePage({
      paper: print.paper,
      orientation: print.orientation,
      style: map.getStyle(),
      bounds: visibleBounds(map),
      legend: printLegend(),
      text: printText(title, sub),
    });
    await output(canvas, 'cuntu-map', title);
  });
}

function doNoticeboard(): Promise<void> {
  return runPrint(async () => {
    await ensureGridList();
    const id = print.grid;
    const f = state.gridList?.features.find((g) => g.properties.id === id);
    if (!f || id === null) throw new Error(t('leader.notice.noGrid'));
    const nb = await fetchNoticeboard(id);
    const map = state.map!;
    const geometry = nb.geometry ?? f.geometry;
    const b = boundsOf([geometry]);
    if (!b) throw new Error(t('leader.notice.noGrid'));
    const title = tf('leader.notice.title', { village: nb.grid.village ?? '', grid: nb.grid.name });
    const phone = (p?: string | null) => (p ? ` ${p}` : '');
    const lines = [
      { label: t('leader.notice.leader'), value: nb.leader ? `${nb.leader.name}${phone(nb.leader.phone)}` : t('leader.notice.none'), strong: true },
      { label: t('leader.notice.workers'), value: nb.workers.length ? nb.workers.map((w) => `${w.name}${phone(w.phone)}`).join('\n') : t('leader.notice.none'), strong: nb.workers.length > 0 },
      { label: t('leader.notice.dutyLabel'), value: t('leader.notice.duty') },
      { label: t('leader.notice.households'), value: String(nb.grid.households ?? f.properties.label ?? f.properties.value ?? '–') },
    ];
    // The grid on a plain base: boundaries, roads, rivers, and its outline drawn strong.
    const style = map.getStyle();
    style.layers = style.layers.filter((l) => !l.id.startsWith('leader-'));
    for (const l of style.layers) {
      if (['grid-fill', 'households', 'hazards-fill', 'hazards-outline', 'hazards-point', 'facilities', 'facility-label'].includes(l.id)) l.layout = { ...(l.layout ?? {}), visibility: 'none' } as typeof l.layout;
      else if (l.layout && 'visibility' in l.layout) (l.layout as { visibility?: string }).visibility = 'visible';
    }
    const pad = Math.max(b[2] - b[0], b[3] - b[1]) * 0.12;
    const canvas = await composePage({
      paper: print.paper,
      orientation: print.orientation,
      style,
      bounds: [b[0] - pad, b[1] - pad, b[2] + pad, b[3] + pad],
      legend: [
        { type: 'fill', color: 'rgba(255,214,0,0.25)', stroke: '#c62828', label: tf('leader.notice.legendGrid', { grid: nb.grid.name }) },
        { type: 'line', color: COLORS.gridLine, label: t('layer.grids') },
        { type: 'line', color: COLORS.village, label: t('legend.village') },
        { type: 'line', color: COLORS.roadPrimary, label: t('legend.road.main') },
        { type: 'line', color: COLORS.water, label: t('legend.river') },
      ],
      text: printText(title, nb.grid.village ? `${state.township} ${nb.grid.village}` : state.township),
      side: { heading: t('leader.notice.side'), lines },
      extra: (m) => {
        m.addSource('notice-grid', { type: 'geojson', data: { type: 'Feature', geometry, properties: {} } });
        m.addLayer({ id: 'notice-grid-fill', type: 'fill', source: 'notice-grid', paint: { 'fill-color': '#ffd600', 'fill-opacity': 0.25 } }, m.getLayer('area-label') ? 'area-label' : undefined);
        m.addLayer({ id: 'notice-grid-line', type: 'line', source: 'notice-grid', paint: { 'line-color': '#c62828', 'line-width': 4 } }, m.getLayer('area-label') ? 'area-label' : undefined);
      },
    });
    await output(canvas, `cuntu-noticeboard-${nb.grid.name}`, title);
  });
}

// ---------------------------------------------------------------------------
// Clicks on the map
// ---------------------------------------------------------------------------

function hazardPopup(p: HazardProps, lngLat: [number, number]): void {
  const map = state.map;
  if (!map) return;
  popup?.remove();
  const body = el(
    'div',
    { class: 'leader-popup', 'data-testid': 'hazard-popup' },
    el('b', { text: hazardName(p) }),
    el('div', { text: `${t('field.severity')}：${tk('severity', p.severity)}${p.buffer_m ? ' · ' + tf('leader.popup.buffer', { m: fmt(p.buffer_m) }) : ''}` }),
    p.households !== undefined && p.households !== null ? el('div', { text: tf('leader.popup.exposed', { h: count(p.households), p: count(p.persons) }) }) : null,
  );
  popup = new Popup({ closeButton: true, maxWidth: '280px', focusAfterOpen: false }).setLngLat(lngLat).setDOMContent(body).addTo(map);
}

function onMapClick(map: MapLibreMap, e: { point: { x: number; y: number }; lngLat: { lng: number; lat: number }; originalEvent: MouseEvent }): void {
  const r = 8;
  const box: [[number, number], [number, number]] = [[e.point.x - r, e.point.y - r], [e.point.x + r, e.point.y + r]];
  const layers = ['leader-exposed', 'leader-shelter', 'leader-hazard-point', 'leader-hazard-fill', 'leader-hazard-outline', 'leader-zone-fill'].filter(
    (l) => map.getLayer(l) && map.getLayoutProperty(l, 'visibility') !== 'none',
  );
  const hits: MapGeoJSONFeature[] = layers.length ? map.queryRenderedFeatures(box, { layers }) : [];
  const rank = (f: MapGeoJSONFeature) => layers.indexOf(f.layer.id);
  hits.sort((a, b) => rank(a) - rank(b));
  const f = hits[0];
  if (!f) return;
  const id = Number(f.properties?.id);
  if (f.layer.id === 'leader-exposed') {
    void showRoute(id);
    return;
  }
  if (f.layer.id === 'leader-shelter') {
    const s = (state.exposure ?? state.allExposure)?.shelters.find((x) => x.id === id);
    if (!s) return;
    popup?.remove();
    popup = new Popup({ maxWidth: '260px', focusAfterOpen: false })
      .setLngLat([s.lon, s.lat])
      .setDOMContent(
        el(
          'div',
          { class: 'leader-popup', 'data-testid': 'shelter-popup' },
          el('b', { text: shelterName(s.id, s.name) }),
          el('div', { text: `${t('leader.col.capacity')}：${s.capacity ?? '–'}` }),
          el('div', { text: tf('leader.exposure.assigned', { h: count(s.assigned_households), p: count(s.assigned_persons) }) }),
          s.over_capacity ? el('div', { class: 'flag-chip', text: t('leader.exposure.over') }) : null,
        ),
      )
      .addTo(map);
    return;
  }
  // A hazard or its zone: select it (Shift/Ctrl/⌘ adds it to the selection or takes it out).
  const add = e.originalEvent.shiftKey || e.originalEvent.ctrlKey || e.originalEvent.metaKey;
  let ids = [id];
  if (add) ids = state.selected.includes(id) ? state.selected.filter((x) => x !== id) : [...state.selected, id];
  const p = hazardById(id)?.properties;
  if (p) hazardPopup(p, [e.lngLat.lng, e.lngLat.lat]);
  void select(ids, ids.length === 1 && p ? hazardName(p) : null, false);
}

// ---------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------

export async function startLeader(): Promise<void> {
  const toggleLabel = document.querySelector<HTMLElement>('#panel-toggle [data-i18n]');
  if (toggleLabel) {
    toggleLabel.dataset.i18n = 'leader.open';
    toggleLabel.textContent = t('leader.open');
  }
  buildPanel();
  renderHead();
  setTab('layers');
  setPanelOpen(!isNarrow());
  $('panel-toggle').addEventListener('click', () => setPanelOpen(!document.body.classList.contains('panel-open')));

  window.__cuntuLeader = {
    selected: () => [...state.selected],
    exposure: () => state.exposure,
    choropleth: () => state.choro,
    dashboard: () => state.dashboard,
    hazards: () => state.hazards,
    zones: () => state.zones,
    select: (ids) => select(ids, null, true),
    selectKind: (k) => selectKind(k),
    chartBars: (testid) => barCentres(document.querySelector<HTMLCanvasElement>(`canvas[data-testid="${testid}"]`)),
  };

  const me = await fetchMe();
  if (!me) {
    location.assign('/login?next=/leader');
    return;
  }
  const role = me.roles?.find((r) => r.role === 'leader' || r.role === 'township_admin');
  if (!role) {
    $('leader-body').replaceChildren(el('p', { class: 'form-error', 'data-testid': 'leader-forbidden', text: t('leader.forbidden') }));
    setPanelOpen(true);
    return;
  }
  state.township = role.area_name ?? '';
  renderHead();

  const tileLayers = await fetchTileLayers().catch(() => null);
  const sources: Partial<Record<SourceId, string>> = {};
  const known = new Set<string>(SOURCE_IDS);
  for (const l of tileLayers ?? []) if (known.has(l.id)) sources[l.id as SourceId] = new URL(l.url || `/tiles/${l.id}`, location.href).href;
  if (!tileLayers?.length) for (const id of known) sources[id as SourceId] = new URL(`tiles/${id}`, location.href).href;

  const hazardsLoaded = loadHazards();
  void loadDashboard();
  void loadAllExposure();

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
    // The print reads the canvas; keep what was drawn.
    canvasContextAttributes: { preserveDrawingBuffer: true },
  });
  state.map = map;
  window.__cuntuMap = map;
  map.touchZoomRotate.disableRotation();
  map.addControl(new NavigationControl({ showCompass: false }), 'top-right');
  map.addControl(new ScaleControl({ unit: 'metric', maxWidth: 110 }), 'bottom-left');
  map.addControl(new AttributionControl({ compact: isNarrow() }), 'bottom-right');

  map.on('load', async () => {
    addLeaderLayers(map);
    applyVisibility();
    await hazardsLoaded;
    setData('leader-hazards', state.hazards ?? EMPTY_FC);
    setData('leader-zones', state.zones ?? EMPTY_FC);
    renderSheltersOnMap();
    renderHead();
    renderBody();
    // The township's extent: its hazards and zones, else the default view.
    const start = boundsOf([...(state.zones?.features ?? []), ...(state.hazards?.features ?? [])].map((f) => f.geometry));
    if (start) map.fitBounds([[start[0], start[1]], [start[2], start[3]]], { padding: mapPadding(), animate: false, maxZoom: 15 });
    const onIdle = () => {
      if (updateAreaLabels(map)) return;
      map.off('idle', onIdle);
      document.body.dataset.mapReady = '1';
      document.body.dataset.leaderReady = '1';
      map.on('idle', () => updateAreaLabels(map));
    };
    map.on('idle', onIdle);
  });
  map.on('sourcedata', (e) => {
    if (e.sourceId === 'areas' && e.dataType === 'source' && (e.tile || e.isSourceLoaded)) updateAreaLabels(map);
  });
  map.on('error', (e) => console.error(e.error));
  map.on('click', (e) => onMapClick(map, e));
  const hover = ['leader-exposed', 'leader-shelter', 'leader-hazard-point', 'leader-hazard-fill', 'leader-zone-fill'];
  map.on('mousemove', (e) => {
    const layers = hover.filter((l) => map.getLayer(l) && map.getLayoutProperty(l, 'visibility') !== 'none');
    map.getCanvas().style.cursor = layers.length && map.queryRenderedFeatures(e.point, { layers }).length ? 'pointer' : '';
  });
  window.matchMedia('(max-width: 720px)').addEventListener('change', () => map.resize());
  // The evacuations' tally is live: grid workers mark households from their phones.
  window.setInterval(() => {
    if (state.tab === 'exposure' && state.evacuations?.length && !document.hidden) loadEvacuations();
  }, 30_000);

  onLangChange(() => {
    renderHead();
    renderBody();
    renderSheltersOnMap();
    renderChoroOnMap();
    popup?.remove();
  });
}

