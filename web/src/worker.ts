// The grid worker's page (`/worker`), made for a phone in a village lane: "my grid" on the map with
// each household coloured by its visit state, the quarter's coverage ("户户到"), search, a card per
// household to record a visit, and a walking route through the households still due.
//
// A phone out in the fields often has no signal: a visit recorded offline waits in a queue
// (visitqueue.ts) and goes out when the connection returns, under the client_id it was made with,
// so it is counted once. The service worker (public/sw.js) keeps the page, the tiles already seen
// and the last overview, so the worker's grid stays readable without a connection.
import {
  AttributionControl,
  Map as MapLibreMap,
  Marker,
  NavigationControl,
  ScaleControl,
  setWorkerUrl,
  type GeoJSONSource,
} from 'maplibre-gl';
import workerUrl from 'maplibre-gl/dist/maplibre-gl-worker.mjs?url';
import type { Feature, FeatureCollection, MultiPolygon, Point, Polygon, Position } from 'geojson';
import { accountReady } from './account';
import {
  ApiError,
  fetchHousehold,
  fetchMe,
  fetchTileLayers,
  fetchVisits,
  fetchWorkerOverview,
  planRoute,
  postVisit,
  routeGpx,
  searchHouseholds,
  type HouseholdDetail,
  type RouteAnswer,
  type RouteRequest,
  type SearchHit,
  type Visit,
  type VisitRequest,
  type VisitState,
  type WorkerHouseholdProps,
  type WorkerOverview,
} from './api';
import { lang, onLangChange, t, tf, tk, type TKey } from './i18n';
import { labelPoint } from './labels';
import { buildStyle, SOURCE_IDS, type SourceId } from './style';
import { dequeue, enqueue, flush, isNetworkError, newClientId, queued, type QueuedVisit } from './visitqueue';
import { startEvacuation } from './evacuation';

declare global {
  interface Window {
    __cuntuMap?: MapLibreMap;
    /** test hook: what the page has loaded and holds */
    __cuntuWorker?: {
      overview: () => WorkerOverview | null;
      selected: () => number | null;
      checked: () => number[];
      queue: () => QueuedVisit[];
      route: () => RouteAnswer | null;
      flush: () => Promise<void>;
    };
  }
}

setWorkerUrl(new URL(workerUrl, location.href).href);

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

type View = 'list' | 'card' | 'route';
type HhFeature = Feature<Point, WorkerHouseholdProps>;

export const STATE_COLORS: Record<VisitState, string> = {
  visited: '#2e7d32',
  due: '#f0a000',
  overdue: '#d32f2f',
};
const KEY_RING = '#6a1b9a';
const SELECT_COLOR = '#0d47a1';
const ROUTE_COLOR = '#1565c0';
/** Where the page remembers whose queue and cache it holds, for a start without a connection. */
const LAST_USER_KEY = 'cuntu.worker.user';

const state: {
  map: MapLibreMap | null;
  user: string | null;
  overview: WorkerOverview | null;
  /** the overview came from the service worker's copy, not the server */
  stale: boolean;
  loads: number;
  view: View;
  selected: number | null;
  checked: Set<number>;
  queue: QueuedVisit[];
  route: RouteAnswer | null;
  routeRequest: RouteRequest | null;
  routeNote: string | null;
  routeBusy: boolean;
  routeError: string | null;
  markers: Marker[];
  hits: SearchHit[] | null;
  /** the card's household details and visits, by household id (kept for a language switch) */
  details: Map<number, HouseholdDetail | 'error' | 'offline'>;
  visits: Map<number, Visit[] | 'error' | 'offline'>;
  /** the last answer to a recorded visit, shown under the form */
  lastResult: { household: number; kind: 'ok' | 'flagged' | 'queued' | 'error'; text: string } | null;
} = {
  map: null,
  user: null,
  overview: null,
  stale: false,
  loads: 0,
  view: 'list',
  selected: null,
  checked: new Set(),
  queue: [],
  route: null,
  routeRequest: null,
  routeNote: null,
  routeBusy: false,
  routeError: null,
  markers: [],
  hits: null,
  details: new Map(),
  visits: new Map(),
  lastResult: null,
};

// ---------------------------------------------------------------------------
// Small helpers
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

function isNarrow(): boolean {
  return window.matchMedia('(max-width: 720px)').matches;
}

function formatNumber(n: number): string {
  return new Intl.NumberFormat(lang()).format(n);
}

function formatDistance(m: number): string {
  return m < 1000 ? tf('worker.m', { n: formatNumber(Math.round(m)) }) : tf('worker.km', { n: (m / 1000).toFixed(1) });
}

function formatTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(lang(), { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' }).format(d);
}

/** The value of an <input type=datetime-local> for a moment, in the phone's time zone. */
function localInputValue(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

function households(): HhFeature[] {
  return (state.overview?.households.features ?? []) as HhFeature[];
}

function household(id: number): HhFeature | undefined {
  return households().find((f) => f.properties.id === id);
}

function polysOf(g: Polygon | MultiPolygon | null | undefined): Position[][][] {
  if (!g) return [];
  return g.type === 'Polygon' ? [g.coordinates] : g.coordinates;
}

function gridBounds(): [number, number, number, number] | null {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  const add = ([x, y]: Position) => {
    x0 = Math.min(x0, x);
    y0 = Math.min(y0, y);
    x1 = Math.max(x1, x);
    y1 = Math.max(y1, y);
  };
  for (const g of state.overview?.grids ?? []) for (const p of polysOf(g.geometry)) for (const r of p) r.forEach(add);
  if (!Number.isFinite(x0)) for (const f of households()) add(f.geometry.coordinates);
  return Number.isFinite(x0) ? [x0, y0, x1, y1] : null;
}

/** A point inside the (first) grid, for a route when the phone cannot say where it is. */
function gridCentre(): [number, number] | null {
  const g = state.overview?.grids[0];
  const p = g ? labelPoint(polysOf(g.geometry)) : null;
  if (p) return [p[0], p[1]];
  const b = gridBounds();
  return b ? [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2] : null;
}

function displayName(by: Visit['by']): string {
  if (!by) return '';
  if (typeof by === 'string') return by;
  return by.display_name || by.username || '';
}

// ---------------------------------------------------------------------------
// Where the phone is
// ---------------------------------------------------------------------------

class LocateError extends Error {
  constructor(readonly key: TKey) {
    super(t(key));
  }
}

/** The phone's position. Browsers give WGS84 (the W3C API's datum), which the request says.
 *  A visit asks for a fresh fix (it is the worker's proof of being at the house); a route may start
 *  from one a minute old. */
function locate(maximumAge: number): Promise<GeolocationPosition> {
  if (!window.isSecureContext || !('geolocation' in navigator)) return Promise.reject(new LocateError(window.isSecureContext ? 'worker.geo.none' : 'worker.geo.insecure'));
  return new Promise((resolve, reject) =>
    navigator.geolocation.getCurrentPosition(
      resolve,
      (e) => reject(new LocateError(e.code === e.PERMISSION_DENIED ? 'worker.geo.denied' : e.code === e.TIMEOUT ? 'worker.geo.timeout' : 'worker.geo.unavailable')),
      { enableHighAccuracy: true, timeout: 12_000, maximumAge },
    ),
  );
}

let meMarker: Marker | null = null;

function showMe(lon: number, lat: number): void {
  const map = state.map;
  if (!map) return;
  meMarker ??= new Marker({ element: el('div', { class: 'me-dot', 'data-testid': 'me-marker' }) });
  meMarker.setLngLat([lon, lat]).addTo(map);
}

// ---------------------------------------------------------------------------
// Photo
// ---------------------------------------------------------------------------

const PHOTO_MAX_PX = 1600;
// The server takes up to 3 MB of data URL; stay under it with room for the header.
const PHOTO_MAX_CHARS = 2_900_000;

async function loadImage(file: File): Promise<CanvasImageSource & { width: number; height: number }> {
  if ('createImageBitmap' in window) {
    try {
      return await createImageBitmap(file, { imageOrientation: 'from-image' });
    } catch {
      /* some formats only decode through <img> */
    }
  }
  const url = URL.createObjectURL(file);
  try {
    const img = new Image();
    img.src = url;
    await img.decode();
    return img;
  } finally {
    URL.revokeObjectURL(url);
  }
}

/** A phone camera's 12-megapixel photo, down to ≤ 1600 px on its long side as a JPEG data URL. */
async function downscale(file: File): Promise<string> {
  const img = await loadImage(file);
  let scale = Math.min(1, PHOTO_MAX_PX / Math.max(img.width, img.height));
  for (let attempt = 0; attempt < 4; attempt++) {
    const c = document.createElement('canvas');
    c.width = Math.max(1, Math.round(img.width * scale));
    c.height = Math.max(1, Math.round(img.height * scale));
    const ctx = c.getContext('2d');
    if (!ctx) throw new Error('canvas');
    ctx.drawImage(img, 0, 0, c.width, c.height);
    for (const q of [0.82, 0.7, 0.55]) {
      const url = c.toDataURL('image/jpeg', q);
      if (url.length <= PHOTO_MAX_CHARS) return url;
    }
    scale *= 0.7;
  }
  throw new Error(t('worker.photo.tooBig'));
}

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

/** body[data-worker-ready] once the overview is on the map (the map comes after the first one). */
function markReady(): void {
  const ready = () => {
    document.body.dataset.workerReady = '1';
    document.body.dataset.overviewLoads = String(state.loads);
  };
  const map = state.map;
  if (!map) return;
  if (map.loaded()) {
    map.once('idle', ready);
    map.triggerRepaint();
  } else map.once('load', () => map.once('idle', ready));
}

async function loadOverview(): Promise<void> {
  delete document.body.dataset.workerReady;
  try {
    const res = await fetchWorkerOverview();
    state.overview = res;
    state.stale = !navigator.onLine;
    $('error').hidden = true;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      location.assign('/login?next=/worker');
      return;
    }
    if (!state.overview) showError(isNetworkError(e) ? 'worker.offlineNoCopy' : 'worker.loadError', e);
    return;
  }
  // Checked households that left the grid are dropped from the selection.
  for (const id of [...state.checked]) if (!household(id)) state.checked.delete(id);
  renderMapData();
  renderAll();
  state.loads++;
  markReady();
}

async function refreshQueue(): Promise<void> {
  state.queue = state.user ? await queued(state.user) : [];
  document.body.dataset.queue = String(state.queue.length);
  renderStatus();
  if (state.view === 'list') renderList();
}

/** Send what is queued; reload the overview (coverage, states) when something went out. */
async function flushQueue(): Promise<void> {
  if (!state.user) return;
  await refreshQueue();
  if (!state.queue.some((q) => !q.error)) return;
  const r = await flush(state.user);
  await refreshQueue();
  if (r.sent.length) {
    toast(tf('worker.queue.sent', { n: r.sent.length }));
    for (const s of r.sent) {
      const hid = s.queued.body.household_id;
      state.visits.delete(hid);
      if (state.lastResult?.household === hid && state.lastResult.kind === 'queued') state.lastResult = visitResult(hid, s.visit, s.duplicate, true);
    }
    await loadOverview();
    if (state.view === 'card' && state.selected !== null && r.sent.some((s) => s.queued.body.household_id === state.selected)) {
      void loadVisits(state.selected);
    }
  }
  if (r.stopped === 'unauthorized') toast(t('worker.queue.login'), 'warn');
  if (r.failed) toast(tf('worker.queue.failed', { n: r.failed }), 'warn');
}

function loadDetail(id: number): void {
  if (state.details.has(id) && state.details.get(id) !== 'offline') return;
  fetchHousehold(id)
    .then((d) => state.details.set(id, d))
    .catch((e: unknown) => {
      if (e instanceof ApiError && e.status === 401) location.assign('/login?next=/worker');
      state.details.set(id, isNetworkError(e) ? 'offline' : 'error');
    })
    .finally(() => {
      if (state.view === 'card' && state.selected === id) renderCard();
    });
}

async function loadVisits(id: number): Promise<void> {
  try {
    state.visits.set(id, await fetchVisits(id));
  } catch (e) {
    state.visits.set(id, isNetworkError(e) ? 'offline' : 'error');
  }
  if (state.view === 'card' && state.selected === id) renderVisits();
}

// ---------------------------------------------------------------------------
// Map
// ---------------------------------------------------------------------------

const EMPTY_FC: FeatureCollection = { type: 'FeatureCollection', features: [] };

function addWorkerLayers(map: MapLibreMap): void {
  map.addSource('worker-grids', { type: 'geojson', data: EMPTY_FC });
  map.addSource('worker-households', { type: 'geojson', data: EMPTY_FC });
  map.addSource('worker-route', { type: 'geojson', data: EMPTY_FC });
  map.addLayer({ id: 'worker-grid-fill', type: 'fill', source: 'worker-grids', paint: { 'fill-color': '#fff8e1', 'fill-opacity': 0.35 } });
  map.addLayer({ id: 'worker-grid-line', type: 'line', source: 'worker-grids', paint: { 'line-color': '#8c3b12', 'line-width': 3, 'line-dasharray': [3, 1.5] } });
  map.addLayer({
    id: 'worker-route-line',
    type: 'line',
    source: 'worker-route',
    layout: { 'line-join': 'round', 'line-cap': 'round' },
    paint: { 'line-color': ROUTE_COLOR, 'line-width': 5, 'line-opacity': 0.8 },
  });
  map.addLayer({
    id: 'worker-hh-selected',
    type: 'circle',
    source: 'worker-households',
    filter: ['==', ['get', 'id'], -1],
    paint: { 'circle-radius': ['interpolate', ['linear'], ['zoom'], 14, 11, 18, 17], 'circle-color': 'rgba(0,0,0,0)', 'circle-stroke-color': SELECT_COLOR, 'circle-stroke-width': 3 },
  });
  map.addLayer({
    id: 'worker-hh',
    type: 'circle',
    source: 'worker-households',
    paint: {
      'circle-radius': ['interpolate', ['linear'], ['zoom'], 14, 5, 18, 10],
      'circle-color': ['match', ['get', 'state'], 'visited', STATE_COLORS.visited, 'due', STATE_COLORS.due, STATE_COLORS.overdue],
      // Key populations get a thick ring: they are visited more often and must stand out.
      'circle-stroke-color': ['case', ['get', 'key_population'], KEY_RING, '#ffffff'],
      'circle-stroke-width': ['case', ['get', 'key_population'], 3, 1.5],
    },
  });
}

function renderMapData(): void {
  const map = state.map;
  const ov = state.overview;
  if (!map || !ov || !map.getSource('worker-grids')) return;
  (map.getSource('worker-grids') as GeoJSONSource).setData({
    type: 'FeatureCollection',
    features: ov.grids.map((g) => ({ type: 'Feature', id: g.id, geometry: g.geometry, properties: { id: g.id, name: g.name } })),
  });
  (map.getSource('worker-households') as GeoJSONSource).setData(ov.households);
  renderSelection();
}

function renderSelection(): void {
  const map = state.map;
  if (!map || !map.getLayer('worker-hh-selected')) return;
  map.setFilter('worker-hh-selected', ['==', ['get', 'id'], state.selected ?? -1]);
}

function mapPadding(): { top: number; bottom: number; left: number; right: number } {
  if (isNarrow()) return { top: 24, bottom: 24, left: 20, right: 20 };
  return { top: 40, bottom: 40, left: 380, right: 60 };
}

function renderRoute(): void {
  const map = state.map;
  for (const m of state.markers) m.remove();
  state.markers = [];
  if (!map || !map.getSource('worker-route')) return;
  const r = state.route;
  (map.getSource('worker-route') as GeoJSONSource).setData(
    r?.line ? { type: 'FeatureCollection', features: [{ type: 'Feature', geometry: r.line, properties: {} }] } : EMPTY_FC,
  );
  if (!r) return;
  // DOM markers: the numbers stay legible with the browser's fonts, and tests can count them.
  for (const s of r.stops) {
    const b = el('button', { class: 'stop-marker', type: 'button', 'data-testid': 'stop-marker', 'data-order': String(s.order), text: String(s.order) });
    b.addEventListener('click', (e) => {
      e.stopPropagation();
      openCard(s.household_id);
    });
    state.markers.push(new Marker({ element: b }).setLngLat([s.lon, s.lat]).addTo(map));
  }
}

function fitRoute(): void {
  const map = state.map;
  const r = state.route;
  if (!map || !r) return;
  const pts: Position[] = [...(r.line?.coordinates ?? []), ...r.stops.map((s) => [s.lon, s.lat])];
  if (state.routeRequest) pts.push(state.routeRequest.from);
  if (!pts.length) return;
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  map.fitBounds([[Math.min(...xs), Math.min(...ys)], [Math.max(...xs), Math.max(...ys)]], { padding: mapPadding(), maxZoom: 17.5, duration: 300 });
}

function focusOn(lon: number, lat: number): void {
  const map = state.map;
  if (!map) return;
  map.easeTo({ center: [lon, lat], zoom: Math.max(map.getZoom(), 17), duration: 300 });
}

// ---------------------------------------------------------------------------
// Panel
// ---------------------------------------------------------------------------

function buildPanel(): void {
  const search = el('input', {
    id: 'w-search',
    type: 'search',
    class: 'worker-search',
    autocomplete: 'off',
    enterkeyhint: 'search',
    'data-testid': 'worker-search',
    'data-i18n-aria': 'worker.search',
    'aria-label': t('worker.search'),
    placeholder: t('worker.search.placeholder'),
  });
  const panel = el(
    'aside',
    { id: 'worker-panel', class: 'panel worker-panel', 'aria-labelledby': 'worker-heading' },
    // Stays in view while the sheet scrolls: the queue and the quarter's figures are what a
    // worker checks after every visit.
    el(
      'div',
      { class: 'worker-top' },
      el(
        'div',
        { class: 'panel-head' },
        el('h2', { id: 'worker-heading', 'data-i18n': 'worker.title', text: t('worker.title') }),
        el('span', { id: 'w-grid-name', class: 'muted', 'data-testid': 'worker-grid' }),
        el('button', { id: 'worker-panel-close', class: 'panel-close', type: 'button', 'data-i18n-aria': 'panel.close', 'aria-label': t('panel.close'), text: '×' }),
      ),
      el('div', { id: 'w-status', class: 'worker-status' }),
      el('div', { id: 'w-progress', class: 'worker-progress', 'data-testid': 'worker-progress' }),
    ),
    // The evacuation duty (evacuation.ts), above everything else while there is one.
    el('section', { id: 'w-evac', class: 'worker-evac', 'data-testid': 'evac-section' }),
    el('div', { class: 'worker-search-wrap' }, search, el('ul', { id: 'w-results', class: 'worker-results', 'data-testid': 'search-results', role: 'listbox' })),
    el('div', { id: 'w-body', class: 'worker-body' }),
  );
  $('stage').append(panel);
  $('worker-panel-close').addEventListener('click', () => setPanelOpen(false));
  initSearch(search);
}

function setPanelOpen(open: boolean): void {
  document.body.classList.toggle('panel-open', open);
  $('panel-toggle').setAttribute('aria-expanded', String(open));
  state.map?.resize();
}

function setView(v: View): void {
  state.view = v;
  document.body.dataset.workerView = v;
  document.body.classList.remove('worker-view-list', 'worker-view-card', 'worker-view-route');
  document.body.classList.add(`worker-view-${v}`);
  setPanelOpen(true);
  renderBody();
  $('w-body').scrollTop = 0;
  $('worker-panel').scrollTop = 0;
}

function renderAll(): void {
  const ov = state.overview;
  $('w-grid-name').textContent = ov ? ov.grids.map((g) => (g.village_name ? `${g.village_name} · ${g.name}` : g.name)).join('、') : '';
  renderStatus();
  renderProgress();
  renderBody();
}

function renderBody(): void {
  if (state.view === 'card') renderCard();
  else if (state.view === 'route') renderRoutePanel();
  else renderList();
}

function renderStatus(): void {
  const box = $('w-status');
  box.replaceChildren();
  const offline = !navigator.onLine;
  document.body.classList.toggle('is-offline', offline);
  if (offline || state.stale) {
    box.append(el('p', { class: 'offline-banner', 'data-testid': 'offline-banner', text: t(offline ? 'worker.offline' : 'worker.staleCopy') }));
  }
  const waiting = state.queue.filter((q) => !q.error).length;
  const failed = state.queue.filter((q) => q.error);
  const row = el(
    'div',
    { class: 'queue-row' + (waiting ? ' has-queue' : '') },
    el('span', { 'data-testid': 'queue-count', 'data-count': String(waiting), text: waiting ? tf('worker.queue.count', { n: waiting }) : t('worker.queue.empty') }),
  );
  if (waiting && !offline) {
    const b = el('button', { type: 'button', class: 'small', 'data-testid': 'queue-send', text: t('worker.queue.send') });
    b.addEventListener('click', () => void flushQueue());
    row.append(b);
  }
  box.append(row);
  for (const q of failed) {
    const hh = household(q.body.household_id)?.properties;
    const drop = el('button', { type: 'button', class: 'small', 'data-testid': 'queue-discard', text: t('worker.queue.discard') });
    drop.addEventListener('click', () => {
      if (!window.confirm(t('worker.queue.discardConfirm'))) return;
      void dequeue(q.client_id).then(refreshQueue);
    });
    box.append(
      el(
        'div',
        { class: 'queue-failed', 'data-testid': 'queue-failed' },
        el('span', { text: tf('worker.queue.refused', { who: hh?.head_name ?? `#${q.body.household_id}`, why: q.error ?? '' }) }),
        drop,
      ),
    );
  }
}

function bar(label: string, done: number, total: number, testid: string, kind: string): HTMLElement {
  const pct = total > 0 ? Math.round((done / total) * 100) : 0;
  const fill = el('span', { class: 'bar-fill' });
  fill.style.width = `${pct}%`;
  return el(
    'div',
    { class: `progress progress-${kind}`, 'data-testid': testid, 'data-done': String(done), 'data-total': String(total) },
    el('div', { class: 'progress-label' }, el('span', { text: label }), el('span', { class: 'progress-figures', text: tf('worker.progress.figures', { done, total, pct }) })),
    el('div', { class: 'bar', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': String(total), 'aria-valuenow': String(done), 'aria-label': label }, fill),
  );
}

function renderProgress(): void {
  const box = $('w-progress');
  box.replaceChildren();
  const c = state.overview?.coverage;
  if (!c) return;
  box.append(
    bar(tf('worker.progress.all', { quarter: c.quarter }), c.visited, c.total, 'coverage-all', 'all'),
    bar(t('worker.progress.key'), c.key_visited, c.key_total, 'coverage-key', 'key'),
  );
}

/** What the list says about when a household is due. */
function dueText(p: WorkerHouseholdProps): string {
  const d = p.days_until_due;
  if (p.state === 'overdue' || d < 0) return tf('worker.due.overdue', { n: Math.max(1, -d) });
  if (p.state === 'visited') return tf('worker.due.visited', { n: d });
  return d === 0 ? t('worker.due.today') : tf('worker.due.in', { n: d });
}

const STATE_RANK: Record<VisitState, number> = { overdue: 0, due: 1, visited: 2 };

/** Overdue first (the longest overdue at the top), then due soonest, then the visited ones. */
function sortedHouseholds(): HhFeature[] {
  return [...households()].sort(
    (a, b) =>
      STATE_RANK[a.properties.state] - STATE_RANK[b.properties.state] ||
      a.properties.days_until_due - b.properties.days_until_due ||
      String(a.properties.house_number ?? '').localeCompare(String(b.properties.house_number ?? ''), undefined, { numeric: true }),
  );
}

function tagChips(p: { tags?: string[] | null; tag_labels?: string[] | null }): HTMLElement[] {
  const tags = p.tags ?? [];
  // Our own label first: the server's was made in the language of the request, which the worker
  // may have switched since.
  return tags.map((tag, i) => {
    const own = tk('tag', tag);
    return el('span', { class: 'tag', 'data-tag': tag, text: own !== tag ? own : (p.tag_labels?.[i] ?? tag) });
  });
}

function renderList(): void {
  if (state.view !== 'list') return;
  const body = $('w-body');
  body.replaceChildren();
  const ov = state.overview;
  if (!ov) {
    body.append(el('p', { class: 'muted', text: t('popup.loading') }));
    return;
  }
  const list = sortedHouseholds();
  const stillDue = list.filter((f) => f.properties.state !== 'visited');
  const queuedFor = new Set(state.queue.map((q) => q.body.household_id));

  // Route tools above the list: pick households, then walk.
  const allDue = el('button', { type: 'button', class: 'small', 'data-testid': 'route-all-due', text: tf('worker.route.allDue', { n: stillDue.length }) });
  allDue.disabled = !stillDue.length;
  allDue.addEventListener('click', () => {
    state.checked = new Set(stillDue.map((f) => f.properties.id));
    renderList();
  });
  const none = el('button', { type: 'button', class: 'small', 'data-testid': 'route-clear-selection', text: t('worker.route.none') });
  none.disabled = !state.checked.size;
  none.addEventListener('click', () => {
    state.checked.clear();
    renderList();
  });
  const go = el('button', { type: 'button', class: 'small primary-small', 'data-testid': 'route-go', text: tf('worker.route.go', { n: state.checked.size }) });
  go.disabled = !state.checked.size || state.routeBusy || !navigator.onLine;
  go.addEventListener('click', () => void requestRoute());
  body.append(el('div', { class: 'route-tools' }, allDue, none, go));
  if (state.routeError) body.append(el('p', { class: 'form-error', 'data-testid': 'route-error', text: state.routeError }));
  if (state.routeBusy) body.append(el('p', { class: 'muted', text: t('worker.route.busy') }));
  if (state.route) {
    const back = el('button', { type: 'button', class: 'small', 'data-testid': 'route-show', text: tf('worker.route.show', { n: state.route.stops.length }) });
    back.addEventListener('click', () => setView('route'));
    body.append(back);
  }

  body.append(el('h3', { text: tf('worker.list.heading', { n: list.length, due: stillDue.length }) }));
  const ul = el('ul', { class: 'hh-list', 'data-testid': 'hh-list' });
  for (const f of list) {
    const p = f.properties;
    const check = el('input', { type: 'checkbox', 'data-testid': 'hh-check', 'data-id': String(p.id), 'aria-label': tf('worker.route.pick', { name: p.head_name ?? '' }) });
    check.checked = state.checked.has(p.id);
    check.addEventListener('change', () => {
      if (check.checked) state.checked.add(p.id);
      else state.checked.delete(p.id);
      go.textContent = tf('worker.route.go', { n: state.checked.size });
      go.disabled = !state.checked.size || state.routeBusy || !navigator.onLine;
      none.disabled = !state.checked.size;
    });
    const open = el(
      'button',
      { type: 'button', class: 'hh-open', 'data-testid': 'hh-row', 'data-id': String(p.id), 'data-state': p.state },
      el('span', { class: `state-dot state-${p.state}` + (p.key_population ? ' key' : '') }),
      el('span', { class: 'hh-name' }, el('b', { text: p.head_name ?? t('worker.noName') }), ' ', el('span', { class: 'muted', text: p.house_number ? tf('worker.houseNo', { n: p.house_number }) : '' })),
      el('span', { class: `hh-due due-${p.state}`, text: dueText(p) }),
      el('span', { class: 'hh-sub' }, ...tagChips(p), queuedFor.has(p.id) ? el('span', { class: 'queued-chip', text: t('worker.queued') }) : null),
    );
    open.addEventListener('click', () => openCard(p.id));
    ul.append(el('li', { class: p.id === state.selected ? 'selected' : undefined }, check, open));
  }
  body.append(ul);
}

// ---------------------------------------------------------------------------
// Household card and the visit form
// ---------------------------------------------------------------------------

function openCard(id: number): void {
  if (state.selected !== id) state.lastResult = null;
  state.selected = id;
  renderSelection();
  loadDetail(id);
  void loadVisits(id);
  setView('card');
  const f = household(id);
  if (f) focusOn(f.geometry.coordinates[0], f.geometry.coordinates[1]);
}

function row(label: TKey, value: Node | string | null | undefined, testid?: string): HTMLElement | null {
  if (value === null || value === undefined || value === '') return null;
  return el('div', { class: 'card-row', 'data-testid': testid }, el('dt', { text: t(label) }), el('dd', {}, value));
}

// The form keeps what the worker typed across re-renders (a language switch, the details arriving).
const form: {
  household: number | null;
  time: string | null;
  location: { lon: number; lat: number; accuracy: number } | null;
  locating: boolean;
  locateError: string | null;
  found: string;
  followUp: boolean;
  photo: string | null;
  photoBusy: boolean;
  photoError: string | null;
  sending: boolean;
} = { household: null, time: null, location: null, locating: false, locateError: null, found: '', followUp: false, photo: null, photoBusy: false, photoError: null, sending: false };

function resetForm(id: number | null): void {
  Object.assign(form, { household: id, time: null, location: null, locating: false, locateError: null, found: '', followUp: false, photo: null, photoBusy: false, photoError: null, sending: false });
}

function renderCard(): void {
  if (state.view !== 'card') return;
  const id = state.selected;
  const body = $('w-body');
  body.replaceChildren();
  if (id === null) return;
  if (form.household !== id) resetForm(id);
  const f = household(id);
  const p = f?.properties;
  const detail = state.details.get(id);
  const d = typeof detail === 'object' ? detail : null;

  const back = el('button', { type: 'button', class: 'small back', 'data-testid': 'card-back', text: t('worker.back') });
  back.addEventListener('click', () => {
    state.selected = null;
    renderSelection();
    setView(state.route ? 'route' : 'list');
  });
  const head = d?.head_name ?? p?.head_name ?? t('worker.noName');
  const card = el(
    'section',
    { class: 'hh-card', 'data-testid': 'hh-card', 'data-id': String(id) },
    el(
      'div',
      { class: 'card-head' },
      back,
      el('h3', { 'data-testid': 'card-head-name', text: head }),
      p ? el('span', { class: `state-chip state-${p.state}`, 'data-testid': 'card-state', text: t(`worker.state.${p.state}` as TKey) }) : null,
    ),
  );
  const dl = el('dl', { class: 'card-fields' });
  const members = d?.members ?? p?.members;
  const tags = d?.tags ?? p?.tags ?? [];
  const chips = tags.length ? el('span', {}, ...tagChips({ tags, tag_labels: d?.tags ? null : p?.tag_labels })) : t('value.none');
  for (const r of [
    row('worker.field.house', [d?.house_number ?? p?.house_number, d?.address ?? p?.address].filter(Boolean).join(' · ')),
    row('field.headName', head),
    row('field.members', members === null || members === undefined ? null : tf('fmt.persons', { n: members })),
    row('field.phone', d?.phone ? el('a', { href: `tel:${d.phone.replace(/[^0-9+]/g, '')}`, text: d.phone }) : null, 'card-phone'),
    row('field.tags', chips, 'card-tags'),
    row('field.partyCentral', typeof d?.party_central === 'boolean' ? t(d.party_central ? 'value.yes' : 'value.no') : null),
    p ? row('worker.field.lastVisit', p.last_visit_at ? formatTime(p.last_visit_at) : t('worker.never')) : null,
    p ? row('worker.field.due', `${dueText(p)} · ${tf('worker.cadence', { n: p.cadence_days })}`) : null,
  ]) {
    if (r) dl.append(r);
  }
  card.append(dl);
  if (detail === 'offline') card.append(el('p', { class: 'muted', text: t('worker.detailOffline') }));
  if (detail === 'error') card.append(el('p', { class: 'form-error', text: t('household.error') }));

  card.append(visitForm(id));
  card.append(el('h4', { text: t('worker.visits.heading') }), el('div', { id: 'w-visits', class: 'visit-list', 'data-testid': 'visit-list' }));
  body.append(card);
  renderVisits();
}

function visitForm(id: number): HTMLElement {
  const time = el('input', { type: 'datetime-local', id: 'visit-time', 'data-testid': 'visit-time' });
  time.value = form.time ?? localInputValue(new Date());
  time.max = localInputValue(new Date(Date.now() + 5 * 60_000));
  time.addEventListener('input', () => (form.time = time.value || null));

  const locBtn = el('button', { type: 'button', class: 'small', 'data-testid': 'visit-locate', text: form.locating ? t('worker.geo.locating') : t('worker.geo.use') });
  locBtn.disabled = form.locating;
  locBtn.addEventListener('click', () => {
    form.locating = true;
    form.locateError = null;
    renderCard();
    locate(0)
      .then((pos) => {
        form.location = { lon: pos.coords.longitude, lat: pos.coords.latitude, accuracy: pos.coords.accuracy };
        showMe(form.location.lon, form.location.lat);
      })
      .catch((e: unknown) => {
        form.location = null;
        form.locateError = e instanceof Error ? e.message : String(e);
      })
      .finally(() => {
        form.locating = false;
        if (state.selected === id) renderCard();
      });
  });
  let locText: HTMLElement;
  if (form.location) {
    const dist = distanceTo(id, form.location);
    locText = el('span', {
      class: 'loc-text',
      'data-testid': 'visit-location',
      text: tf('worker.geo.got', { lat: form.location.lat.toFixed(5), lon: form.location.lon.toFixed(5), acc: Math.round(form.location.accuracy) }) + (dist === null ? '' : ' · ' + tf('worker.geo.fromHouse', { d: formatDistance(dist) })),
    });
  } else if (form.locateError) locText = el('span', { class: 'loc-text warn', 'data-testid': 'visit-location-error', text: form.locateError });
  else locText = el('span', { class: 'loc-text muted', text: t('worker.geo.notYet') });

  const found = el('textarea', { id: 'visit-found', rows: '3', 'data-testid': 'visit-found', placeholder: t('worker.visit.foundHint') });
  found.value = form.found;
  found.addEventListener('input', () => (form.found = found.value));

  const follow = el('input', { type: 'checkbox', id: 'visit-follow', 'data-testid': 'visit-followup' });
  follow.checked = form.followUp;
  follow.addEventListener('change', () => (form.followUp = follow.checked));

  const photo = el('input', { type: 'file', accept: 'image/*', capture: 'environment', id: 'visit-photo', 'data-testid': 'visit-photo' });
  photo.addEventListener('change', () => {
    const file = photo.files?.[0];
    if (!file) return;
    form.photoBusy = true;
    form.photoError = null;
    downscale(file)
      .then((url) => (form.photo = url))
      .catch((e: unknown) => {
        form.photo = null;
        form.photoError = t('worker.photo.error') + (e instanceof Error ? e.message : String(e));
      })
      .finally(() => {
        form.photoBusy = false;
        if (state.selected === id) renderCard();
      });
  });
  const photoBox = el('div', { class: 'photo-row' }, el('label', { for: 'visit-photo', class: 'field-label', text: t('worker.photo.label') }), photo);
  if (form.photoBusy) photoBox.append(el('span', { class: 'muted', text: t('worker.photo.busy') }));
  if (form.photo) {
    const rm = el('button', { type: 'button', class: 'small', 'data-testid': 'visit-photo-remove', text: t('worker.photo.remove') });
    rm.addEventListener('click', () => {
      form.photo = null;
      renderCard();
    });
    photoBox.append(el('span', { class: 'photo-preview' }, el('img', { src: form.photo, alt: t('worker.photo.label'), 'data-testid': 'visit-photo-preview' }), rm));
  }
  if (form.photoError) photoBox.append(el('span', { class: 'form-error', text: form.photoError }));

  const submit = el('button', { type: 'submit', class: 'primary', 'data-testid': 'visit-submit', text: form.sending ? t('worker.visit.sending') : t('worker.visit.submit') });
  submit.disabled = form.sending || form.photoBusy;

  const f = el(
    'form',
    { class: 'visit-form', 'data-testid': 'visit-form', novalidate: '' },
    el('h4', { text: t('worker.visit.heading') }),
    el('label', { for: 'visit-time', class: 'field-label', text: t('worker.visit.time') }),
    time,
    el('div', { class: 'loc-row' }, locBtn, locText),
    el('label', { for: 'visit-found', class: 'field-label', text: t('worker.visit.found') }),
    found,
    el('label', { class: 'check-row' }, follow, el('span', { text: t('worker.visit.followUp') })),
    photoBox,
    submit,
  );
  const res = state.lastResult;
  if (res && res.household === id) f.append(el('p', { class: `visit-result result-${res.kind}`, 'data-testid': 'visit-result', 'data-kind': res.kind, role: 'status', text: res.text }));
  f.addEventListener('submit', (e) => {
    e.preventDefault();
    void submitVisit(id);
  });
  return f;
}

/** Metres from a position to the household (for the worker's own check; the server decides "far"). */
function distanceTo(id: number, at: { lon: number; lat: number }): number | null {
  const f = household(id);
  if (!f) return null;
  const [lon, lat] = f.geometry.coordinates;
  const r = 6_371_000;
  const rad = Math.PI / 180;
  const dLat = (lat - at.lat) * rad;
  const dLon = (lon - at.lon) * rad;
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(lat * rad) * Math.cos(at.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * r * Math.asin(Math.sqrt(a));
}

/** What the form says about the server's answer; `late` for a visit that waited in the queue. */
function visitResult(id: number, v: Visit, duplicate: boolean, late: boolean): NonNullable<typeof state.lastResult> {
  if (v.flagged) return { household: id, kind: 'flagged', text: tf('worker.visit.flagged', { d: v.far_m ? formatDistance(v.far_m) : '' }) };
  return { household: id, kind: 'ok', text: t(duplicate ? 'worker.visit.duplicate' : late ? 'worker.visit.sentLater' : 'worker.visit.saved') };
}

async function submitVisit(id: number): Promise<void> {
  if (form.sending || !state.user) return;
  const when = form.time ? new Date(form.time) : new Date();
  if (Number.isNaN(when.getTime())) {
    state.lastResult = { household: id, kind: 'error', text: t('worker.visit.badTime') };
    renderCard();
    return;
  }
  const body: VisitRequest = {
    client_id: newClientId(),
    household_id: id,
    visited_at: when.toISOString(),
    found: form.found.trim(),
    follow_up: form.followUp,
  };
  if (form.location) body.location = { lon: form.location.lon, lat: form.location.lat, crs: 'wgs84' };
  if (form.photo) body.photo = form.photo;
  const queueIt = async () => {
    await enqueue({ client_id: body.client_id, user: state.user!, body, queued_at: new Date().toISOString() });
    state.lastResult = { household: id, kind: 'queued', text: t('worker.visit.queued') };
    resetForm(id);
    await refreshQueue();
  };

  form.sending = true;
  renderCard();
  try {
    if (!navigator.onLine) {
      await queueIt();
    } else {
      try {
        const r = await postVisit(body);
        state.lastResult = visitResult(id, r.visit, r.duplicate, false);
        resetForm(id);
        state.visits.delete(id);
        void loadVisits(id);
        await loadOverview();
      } catch (e) {
        if (isNetworkError(e)) await queueIt();
        else if (e instanceof ApiError && e.status === 401) {
          // Keep the visit: it goes out after the worker has logged in again.
          await queueIt();
          toast(t('worker.queue.login'), 'warn');
        } else {
          form.sending = false;
          state.lastResult = { household: id, kind: 'error', text: t('worker.visit.error') + (e instanceof Error ? e.message : String(e)) };
        }
      }
    }
  } finally {
    form.sending = false;
    if (state.view === 'card' && state.selected === id) {
      renderCard();
      document.querySelector('[data-testid="visit-result"]')?.scrollIntoView({ block: 'nearest' });
    }
  }
}

function renderVisits(): void {
  const box = document.getElementById('w-visits');
  const id = state.selected;
  if (!box || id === null) return;
  box.replaceChildren();
  const mine = state.queue.filter((q) => q.body.household_id === id);
  const ul = el('ul', {});
  for (const q of mine) {
    ul.append(
      el(
        'li',
        { class: 'visit queued', 'data-testid': 'visit-queued' },
        el('div', { class: 'visit-when' }, el('b', { text: formatTime(q.body.visited_at) }), ' ', el('span', { class: 'queued-chip', text: q.error ? t('worker.queue.refusedShort') : t('worker.queued') })),
        q.body.found ? el('div', { text: q.body.found }) : null,
      ),
    );
  }
  const v = state.visits.get(id);
  if (v === undefined) box.append(el('p', { class: 'muted', text: t('popup.loading') }));
  else if (v === 'offline') box.append(el('p', { class: 'muted', text: t('worker.visits.offline') }));
  else if (v === 'error') box.append(el('p', { class: 'form-error', text: t('worker.visits.error') }));
  else {
    for (const x of v.slice(0, 10)) {
      ul.append(
        el(
          'li',
          { class: 'visit', 'data-testid': 'visit-item', 'data-id': String(x.id) },
          el(
            'div',
            { class: 'visit-when' },
            el('b', { text: formatTime(x.visited_at) }),
            ' ',
            el('span', { class: 'muted', text: displayName(x.by) }),
            x.follow_up ? el('span', { class: 'follow-chip', text: t('worker.visit.followUpShort') }) : null,
            x.flagged ? el('span', { class: 'flag-chip', 'data-testid': 'visit-flag', text: x.far_m ? tf('worker.visit.farShort', { d: formatDistance(x.far_m) }) : t('worker.visit.far') }) : null,
          ),
          x.found ? el('div', { class: 'visit-found', text: x.found }) : null,
          x.has_photo ? el('a', { href: `/api/visits/${x.id}/photo`, target: '_blank', rel: 'noopener', text: t('worker.visit.photo') }) : null,
        ),
      );
    }
    if (!v.length && !mine.length) box.append(el('p', { class: 'muted', 'data-testid': 'visits-none', text: t('worker.visits.none') }));
  }
  box.prepend(ul);
}

// ---------------------------------------------------------------------------
// Search
// ---------------------------------------------------------------------------

/** Without a connection the search looks through the households the overview holds. */
function localSearch(q: string): SearchHit[] {
  const needle = q.toLowerCase();
  return households()
    .filter((f) => {
      const p = f.properties;
      return [p.head_name, p.house_number, p.address, ...(p.tag_labels ?? [])].some((s) => s && String(s).toLowerCase().includes(needle));
    })
    .slice(0, 20)
    .map((f) => ({ ...f.properties, lon: f.geometry.coordinates[0], lat: f.geometry.coordinates[1] }));
}

function initSearch(input: HTMLInputElement): void {
  let timer = 0;
  let token = 0;
  const run = async () => {
    const q = input.value.trim();
    const mine = ++token;
    if (!q) {
      state.hits = null;
      renderHits();
      return;
    }
    let hits: SearchHit[];
    try {
      hits = navigator.onLine ? await searchHouseholds(q) : localSearch(q);
    } catch (e) {
      hits = isNetworkError(e) ? localSearch(q) : [];
      if (!isNetworkError(e) && mine === token) toast(t('worker.search.error') + (e instanceof Error ? e.message : String(e)), 'warn');
    }
    if (mine !== token) return;
    state.hits = hits;
    renderHits();
  };
  // Chinese input methods send composition events: search the composed text, not each keystroke.
  let composing = false;
  input.addEventListener('compositionstart', () => (composing = true));
  input.addEventListener('compositionend', () => {
    composing = false;
    window.clearTimeout(timer);
    timer = window.setTimeout(run, 250);
  });
  input.addEventListener('input', () => {
    if (composing) return;
    window.clearTimeout(timer);
    timer = window.setTimeout(run, 250);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      input.value = '';
      state.hits = null;
      renderHits();
    }
  });
}

function renderHits(): void {
  const ul = $('w-results');
  ul.replaceChildren();
  const hits = state.hits;
  if (!hits) return;
  if (!hits.length) {
    ul.append(el('li', { class: 'muted', 'data-testid': 'search-none', text: t('worker.search.none') }));
    return;
  }
  for (const h of hits) {
    const b = el(
      'button',
      { type: 'button', role: 'option', 'data-testid': 'search-result', 'data-id': String(h.id) },
      el('b', { text: h.head_name ?? t('worker.noName') }),
      ' ',
      el('span', { class: 'muted', text: [h.house_number ? tf('worker.houseNo', { n: h.house_number }) : '', h.address ?? '', h.grid_name ?? ''].filter(Boolean).join(' · ') }),
      ...tagChips(h),
    );
    b.addEventListener('click', () => {
      ($('w-search') as HTMLInputElement).value = '';
      state.hits = null;
      renderHits();
      openCard(h.id);
      if (!household(h.id)) focusOn(h.lon, h.lat);
    });
    ul.append(el('li', {}, b));
  }
}

// ---------------------------------------------------------------------------
// Route
// ---------------------------------------------------------------------------

async function requestRoute(): Promise<void> {
  const ids = sortedHouseholds().map((f) => f.properties.id).filter((id) => state.checked.has(id)).slice(0, 200);
  if (!ids.length) return;
  state.routeBusy = true;
  state.routeError = null;
  renderList();
  let from: [number, number] | null = null;
  let note: string | null = null;
  try {
    const pos = await locate(60_000);
    from = [pos.coords.longitude, pos.coords.latitude];
    showMe(from[0], from[1]);
  } catch (e) {
    from = gridCentre();
    note = tf('worker.route.fromCentre', { why: e instanceof Error ? e.message : String(e) });
  }
  if (!from) {
    state.routeBusy = false;
    state.routeError = t('worker.route.noStart');
    renderList();
    return;
  }
  const req: RouteRequest = { from, crs: 'wgs84', households: ids };
  try {
    state.route = await planRoute(req);
    state.routeRequest = req;
    state.routeNote = note;
    state.routeBusy = false;
    renderRoute();
    setView('route');
    fitRoute();
  } catch (e) {
    state.routeBusy = false;
    state.routeError = t('worker.route.error') + (e instanceof Error ? e.message : String(e));
    renderList();
  }
}

function renderRoutePanel(): void {
  if (state.view !== 'route') return;
  const body = $('w-body');
  body.replaceChildren();
  const r = state.route;
  if (!r) {
    setView('list');
    return;
  }
  const back = el('button', { type: 'button', class: 'small back', 'data-testid': 'route-back', text: t('worker.back') });
  back.addEventListener('click', () => setView('list'));
  const clear = el('button', { type: 'button', class: 'small', 'data-testid': 'route-clear', text: t('worker.route.clear') });
  clear.addEventListener('click', () => {
    state.route = null;
    state.routeRequest = null;
    renderRoute();
    setView('list');
  });
  const gpx = el('button', { type: 'button', class: 'small primary-small', 'data-testid': 'route-gpx', text: t('worker.route.gpx') });
  gpx.addEventListener('click', () => void downloadGpx(gpx));
  body.append(
    el('div', { class: 'card-head' }, back, el('h3', { text: t('worker.route.heading') })),
    el('p', { class: 'route-summary', 'data-testid': 'route-summary', text: tf('worker.route.summary', { n: r.stops.length, d: formatDistance(r.distance_m), min: Math.round(r.walking_minutes) }) }),
  );
  if (state.routeNote) body.append(el('p', { class: 'route-note', 'data-testid': 'route-note', text: state.routeNote }));
  const ol = el('ol', { class: 'stop-list', 'data-testid': 'route-stops' });
  for (const s of r.stops) {
    const p = household(s.household_id)?.properties;
    const b = el(
      'button',
      { type: 'button', class: 'stop-row', 'data-testid': 'route-stop', 'data-order': String(s.order), 'data-id': String(s.household_id) },
      el('span', { class: 'stop-no', text: String(s.order) }),
      el('span', { class: 'stop-name' }, el('b', { text: s.head_name ?? p?.head_name ?? '' }), ' ', el('span', { class: 'muted', text: s.house_number ? tf('worker.houseNo', { n: s.house_number }) : '' })),
      el('span', { class: 'stop-leg', text: tf('worker.route.leg', { d: formatDistance(s.leg_m), min: Math.max(1, Math.round(s.leg_m / 75)) }) }),
    );
    b.addEventListener('click', () => openCard(s.household_id));
    ol.append(el('li', {}, b));
  }
  body.append(ol);
  if (r.unreachable?.length) {
    const names = r.unreachable.map((id) => household(id)?.properties.head_name ?? `#${id}`).join('、');
    body.append(el('p', { class: 'route-note warn', 'data-testid': 'route-unreachable', text: tf('worker.route.unreachable', { n: r.unreachable.length, names }) }));
  }
  body.append(el('div', { class: 'route-tools' }, gpx, clear));
}

async function downloadGpx(button: HTMLButtonElement): Promise<void> {
  const req = state.routeRequest;
  if (!req) return;
  button.disabled = true;
  try {
    const blob = await routeGpx(req);
    const url = URL.createObjectURL(blob);
    const a = el('a', { href: url, download: `cuntu-route-${localInputValue(new Date()).replace(/[:T]/g, '-')}.gpx` });
    document.body.append(a);
    a.click();
    a.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (e) {
    toast(t('worker.route.gpxError') + (e instanceof Error ? e.message : String(e)), 'warn');
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------
// Offline copy
// ---------------------------------------------------------------------------

/** Register the service worker; resolves once it controls the page (at most a few seconds), so
 *  the tiles the map loads next go through it and into its cache. */
async function registerOffline(): Promise<boolean> {
  if (!('serviceWorker' in navigator) || !window.isSecureContext) return false;
  try {
    await navigator.serviceWorker.register('/sw.js', { scope: '/' });
  } catch (e) {
    console.warn('offline copy unavailable', e);
    return false;
  }
  if (navigator.serviceWorker.controller) return true;
  return new Promise<boolean>((resolve) => {
    const done = () => resolve(Boolean(navigator.serviceWorker.controller));
    navigator.serviceWorker.addEventListener('controllerchange', done, { once: true });
    window.setTimeout(done, 3000);
  });
}

/** Put the page's own files into the cache: the first load fetched them before the service
 *  worker existed, so it saw none of them. */
async function cacheShell(): Promise<void> {
  try {
    const cache = await caches.open('cuntu-worker-v1');
    // The overview of this first load went past the service worker too.
    const urls = new Set<string>(['/worker', '/api/worker/overview']);
    for (const e of performance.getEntriesByType('resource')) {
      const u = new URL(e.name);
      if (u.origin === location.origin && (u.pathname.startsWith('/assets/') || u.pathname.startsWith('/tiles'))) urls.add(u.pathname + u.search);
    }
    await Promise.all([...urls].map((u) => cache.match(u).then((hit) => (hit ? undefined : cache.add(u))).catch(() => undefined)));
    document.body.dataset.offlineReady = '1';
  } catch (e) {
    console.warn('offline copy unavailable', e);
  }
}

// ---------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------

export async function startWorker(): Promise<void> {
  const toggleLabel = document.querySelector<HTMLElement>('#panel-toggle [data-i18n]');
  if (toggleLabel) {
    toggleLabel.dataset.i18n = 'worker.open';
    toggleLabel.textContent = t('worker.open');
  }
  buildPanel();
  setView('list');
  $('panel-toggle').addEventListener('click', () => setPanelOpen(!document.body.classList.contains('panel-open')));
  window.__cuntuWorker = {
    overview: () => state.overview,
    selected: () => state.selected,
    checked: () => [...state.checked],
    queue: () => state.queue,
    route: () => state.route,
    flush: flushQueue,
  };

  const offline = registerOffline();
  // Who is here decides whose queue this is. Without a connection, the last user of this phone.
  let offlineStart = false;
  try {
    const me = await fetchMe();
    if (!me) {
      location.assign('/login?next=/worker');
      return;
    }
    state.user = me.username;
    try {
      localStorage.setItem(LAST_USER_KEY, me.username);
    } catch {
      /* storage may be disabled */
    }
  } catch (e) {
    if (!isNetworkError(e)) throw e;
    offlineStart = true;
    try {
      state.user = localStorage.getItem(LAST_USER_KEY);
    } catch {
      state.user = null;
    }
  }

  // The overview first: the map opens on the grid instead of loading tiles somewhere else first.
  const [tileLayers] = await Promise.all([fetchTileLayers().catch(() => null), refreshQueue(), loadOverview(), offline]);
  // The households come from the overview, coloured by visit state; the tile layer would draw them twice.
  const sources: Partial<Record<SourceId, string>> = {};
  const known = new Set<string>(SOURCE_IDS.filter((s) => s !== 'households'));
  for (const l of tileLayers ?? []) if (known.has(l.id)) sources[l.id as SourceId] = new URL(l.url || `/tiles/${l.id}`, location.href).href;
  if (!tileLayers?.length) for (const id of known) sources[id as SourceId] = new URL(`tiles/${id}`, location.href).href;

  const start = gridBounds();
  const map = new MapLibreMap({
    container: 'map',
    style: buildStyle(sources, lang()),
    ...(start ? { bounds: start, fitBoundsOptions: { padding: mapPadding(), maxZoom: 17.5 } } : { center: [9.55, 47.15], zoom: 13 }),
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
  map.addControl(new ScaleControl({ unit: 'metric', maxWidth: 100 }), 'bottom-left');
  map.addControl(new AttributionControl({ compact: true }), 'bottom-right');

  map.on('load', () => {
    addWorkerLayers(map);
    renderMapData();
    map.once('idle', () => {
      document.body.dataset.mapReady = '1';
    });
    markReady();
    if (!offlineStart) void flushQueue();
  });
  startEvacuation($('w-evac'), { user: () => state.user, map: () => state.map, focus: focusOn });
  // Offline, tiles never seen are missing: expected, not an error worth a red console line.
  map.on('error', (e) => {
    if (navigator.onLine) console.error(e.error);
    else console.warn('offline:', e.error?.message);
  });

  // A finger is wider than a 10 px dot: look a little around the tap.
  map.on('click', (e) => {
    const r = 10;
    const hit = map.queryRenderedFeatures([[e.point.x - r, e.point.y - r], [e.point.x + r, e.point.y + r]], { layers: ['worker-hh'] });
    if (!hit.length) return;
    const near = hit
      .map((f) => ({ id: Number(f.properties?.id), p: map.project((f.geometry as Point).coordinates as [number, number]) }))
      .sort((a, b) => Math.hypot(a.p.x - e.point.x, a.p.y - e.point.y) - Math.hypot(b.p.x - e.point.x, b.p.y - e.point.y));
    openCard(near[0].id);
  });
  map.on('mouseenter', 'worker-hh', () => (map.getCanvas().style.cursor = 'pointer'));
  map.on('mouseleave', 'worker-hh', () => (map.getCanvas().style.cursor = ''));

  window.addEventListener('online', () => {
    renderStatus();
    renderBody();
    void flushQueue();
  });
  window.addEventListener('offline', () => {
    renderStatus();
    renderBody();
  });
  // navigator.onLine can say "online" behind a dead link: retry the queue now and then.
  window.setInterval(() => {
    if (navigator.onLine && state.queue.some((q) => !q.error)) void flushQueue();
  }, 60_000);
  window.matchMedia('(max-width: 720px)').addEventListener('change', () => map.resize());

  onLangChange(() => {
    ($('w-search') as HTMLInputElement).placeholder = t('worker.search.placeholder');
    renderAll();
    renderHits();
    if (state.route) renderRoute();
  });

  if (offlineStart) {
    // GET /api/me failed for want of a connection, not of a session: no "log in" link.
    void accountReady.then(() => ($('login-link').hidden = true));
  }
  void offline.then((on) => {
    if (on) void cacheShell();
  });
}
