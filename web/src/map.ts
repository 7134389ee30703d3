// The map page (`/`): MapLibre, the layer panel and the popups. Loaded on demand by main.ts, so
// the login page does not download MapLibre (its CSS is in main.ts, before app.css, which
// overrides some of it).
import {
  AttributionControl,
  Map as MapLibreMap,
  NavigationControl,
  Popup,
  ScaleControl,
  setWorkerUrl,
  type LngLat,
  type MapGeoJSONFeature,
  type PointLike,
} from 'maplibre-gl';
// The worker is bundled as a same-origin asset: nothing is loaded from elsewhere.
import workerUrl from 'maplibre-gl/dist/maplibre-gl-worker.mjs?url';
import { accountReady } from './account';
import { ApiError, fetchArea, fetchHousehold, fetchSummary, fetchTileLayers, type AreaDetail, type HouseholdDetail, type Summary } from './api';
import { updateAreaLabels } from './labels';
import { lang, onLangChange, t, tf, tk, type TKey } from './i18n';
import {
  areaLabelText,
  buildStyle,
  CLICKABLE_LAYERS,
  COLORS,
  facilityLabelText,
  FACILITY_COLORS,
  GRID_MAX,
  GRID_MIN,
  LAYER_GROUPS,
  SOURCE_IDS,
  type SourceId,
} from './style';

declare global {
  interface Window {
    __cuntuMap?: MapLibreMap;
  }
}

setWorkerUrl(new URL(workerUrl, location.href).href);

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

// ---------------------------------------------------------------------------
// Panel (layer switcher, legend, summary) and language switch
// ---------------------------------------------------------------------------

const GROUP_ORDER: Array<{ id: string; label: TKey; swatch: Swatch }> = [
  { id: 'township', label: 'layer.township', swatch: { type: 'line', color: COLORS.township, dashed: true, width: 3 } },
  { id: 'villages', label: 'layer.villages', swatch: { type: 'line', color: COLORS.village, width: 3 } },
  { id: 'grids', label: 'layer.grids', swatch: { type: 'fill', color: COLORS.gridOk, stroke: COLORS.gridLine } },
  { id: 'households', label: 'layer.households', swatch: { type: 'circle', color: COLORS.household } },
  { id: 'roads', label: 'layer.roads', swatch: { type: 'line', color: COLORS.roadPrimary, width: 4 } },
  { id: 'rivers', label: 'layer.rivers', swatch: { type: 'line', color: COLORS.water, width: 3 } },
  { id: 'facilities', label: 'layer.facilities', swatch: { type: 'circle', color: FACILITY_COLORS.service_centre } },
  { id: 'hazards', label: 'layer.hazards', swatch: { type: 'circle', color: COLORS.hazardHigh } },
];

type Swatch =
  | { type: 'line'; color: string; width?: number; dashed?: boolean }
  | { type: 'fill'; color: string; stroke?: string; dashed?: boolean }
  | { type: 'circle'; color: string };

function swatchEl(s: Swatch): HTMLElement {
  const el = document.createElement('span');
  el.className = `swatch swatch-${s.type}`;
  el.setAttribute('aria-hidden', 'true');
  if (s.type === 'line') {
    el.style.borderTopColor = s.color;
    el.style.borderTopWidth = `${s.width ?? 2}px`;
    el.style.borderTopStyle = s.dashed ? 'dashed' : 'solid';
  } else if (s.type === 'fill') {
    el.style.background = s.color;
    el.style.borderColor = s.stroke ?? s.color;
    if (s.dashed) el.style.borderStyle = 'dashed';
  } else {
    el.style.background = s.color;
  }
  return el;
}

function labelEl(key: TKey): HTMLElement {
  const span = document.createElement('span');
  span.dataset.i18n = key;
  span.textContent = t(key);
  return span;
}

const LEGEND: Array<{ key: TKey; swatch: Swatch; half?: boolean }> = [
  { key: 'legend.township', swatch: { type: 'line', color: COLORS.township, dashed: true, width: 3 } },
  { key: 'legend.village', swatch: { type: 'line', color: COLORS.village, width: 3 } },
  { key: 'legend.grid.under', swatch: { type: 'fill', color: COLORS.gridUnder, stroke: COLORS.gridLine } },
  { key: 'legend.grid.ok', swatch: { type: 'fill', color: COLORS.gridOk, stroke: COLORS.gridLine } },
  { key: 'legend.grid.over', swatch: { type: 'fill', color: COLORS.gridOver, stroke: COLORS.gridLine } },
  { key: 'legend.household', swatch: { type: 'circle', color: COLORS.household } },
  { key: 'legend.road.main', swatch: { type: 'line', color: COLORS.roadPrimary, width: 4 } },
  { key: 'legend.road.minor', swatch: { type: 'line', color: '#b5b5b5', width: 3 } },
  { key: 'legend.road.track', swatch: { type: 'line', color: COLORS.roadTrack, width: 2 } },
  { key: 'legend.river', swatch: { type: 'line', color: COLORS.water, width: 3 } },
  ...Object.keys(FACILITY_COLORS).map((k) => ({
    key: `facility.${k}` as TKey,
    swatch: { type: 'circle', color: FACILITY_COLORS[k] } as Swatch,
    half: true,
  })),
  { key: 'legend.hazard.high', swatch: { type: 'circle', color: COLORS.hazardHigh } },
  { key: 'legend.hazard.medium', swatch: { type: 'circle', color: COLORS.hazardMedium } },
  { key: 'legend.hazard.low', swatch: { type: 'circle', color: COLORS.hazardLow } },
];

const visibleGroups = new Set(GROUP_ORDER.map((g) => g.id));

function buildPanel(map: MapLibreMap): void {
  const list = $('layer-list');
  list.replaceChildren();
  for (const g of GROUP_ORDER) {
    const li = document.createElement('li');
    const label = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.checked = visibleGroups.has(g.id);
    box.dataset.layer = g.id;
    box.id = `layer-${g.id}`;
    box.addEventListener('change', () => {
      if (box.checked) visibleGroups.add(g.id);
      else visibleGroups.delete(g.id);
      applyVisibility(map);
    });
    label.append(box, swatchEl(g.swatch), labelEl(g.label));
    li.append(label);
    list.append(li);
  }
  const legend = $('legend');
  legend.replaceChildren();
  for (const item of LEGEND) {
    const li = document.createElement('li');
    if (item.half) li.className = 'half';
    li.append(swatchEl(item.swatch), labelEl(item.key));
    legend.append(li);
  }
}

function applyVisibility(map: MapLibreMap): void {
  for (const [group, ids] of Object.entries(LAYER_GROUPS)) {
    for (const id of ids) {
      if (map.getLayer(id)) map.setLayoutProperty(id, 'visibility', visibleGroups.has(group) ? 'visible' : 'none');
    }
  }
  // Area labels name villages and grids: shown while either is.
  if (map.getLayer('area-label')) {
    const on = visibleGroups.has('villages') || visibleGroups.has('grids') || visibleGroups.has('township');
    map.setLayoutProperty('area-label', 'visibility', on ? 'visible' : 'none');
  }
}

function renderSummary(summary: Summary | null): void {
  const dl = $('summary');
  dl.replaceChildren();
  const counts = summary?.counts;
  if (!counts) return;
  const keys = ['townships', 'villages', 'grids', 'households', 'facilities', 'hazards'] as const;
  for (const k of keys) {
    const v = counts[k];
    if (v === undefined || v === null) continue;
    const wrap = document.createElement('div');
    const dt = document.createElement('dt');
    dt.dataset.i18n = `summary.${k}`;
    dt.textContent = t(`summary.${k}` as TKey);
    const dd = document.createElement('dd');
    dd.textContent = formatNumber(v);
    wrap.append(dt, dd);
    dl.append(wrap);
  }
}

function formatNumber(n: number, digits = 0): string {
  return new Intl.NumberFormat(lang(), { maximumFractionDigits: digits }).format(n);
}

function setPanelOpen(open: boolean): void {
  document.body.classList.toggle('panel-open', open);
  $('panel-toggle').setAttribute('aria-expanded', String(open));
}

function initChrome(): void {
  const isNarrow = window.matchMedia('(max-width: 720px)').matches;
  setPanelOpen(!isNarrow);
  $('panel-toggle').addEventListener('click', () => setPanelOpen(!document.body.classList.contains('panel-open')));
  $('panel-close').addEventListener('click', () => setPanelOpen(false));
}

export function showError(e: unknown): void {
  const box = $('error');
  box.hidden = false;
  box.dataset.message = e instanceof Error ? e.message : String(e);
  box.textContent = t('error.load') + box.dataset.message;
}

// ---------------------------------------------------------------------------
// Popups
// ---------------------------------------------------------------------------

interface Clicked {
  layer: string;
  props: Record<string, unknown>;
  lngLat: LngLat;
}

let popup: Popup | null = null;
let clicked: Clicked | null = null;
let popupToken = 0;

function str(v: unknown): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  return String(v);
}

function num(v: unknown): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

class PopupView {
  root = document.createElement('div');
  private table = document.createElement('dl');
  constructor(title: string, subtitle: string) {
    this.root.className = 'cuntu-popup';
    const h = document.createElement('h3');
    h.textContent = title;
    const sub = document.createElement('div');
    sub.className = 'popup-kind';
    sub.textContent = subtitle;
    this.root.append(h, sub, this.table);
  }
  /** Add a row (before `before`, if given); nothing when the value is undefined. */
  row(key: TKey, value: string | undefined, cls?: string, before?: Element | null): HTMLElement | null {
    if (value === undefined) return null;
    const wrap = document.createElement('div');
    wrap.dataset.field = key.replace('field.', '');
    if (cls) wrap.className = cls;
    const dt = document.createElement('dt');
    dt.textContent = t(key);
    const dd = document.createElement('dd');
    dd.textContent = value;
    wrap.append(dt, dd);
    if (before) this.table.insertBefore(wrap, before);
    else this.table.append(wrap);
    return dd;
  }
  /** A full-width line standing for rows that arrive later (or for a message instead of them). */
  placeholder(field: string, text: string, cls: string): HTMLElement {
    const wrap = document.createElement('div');
    wrap.dataset.field = field;
    const dd = document.createElement('dd');
    dd.className = `note ${cls}`;
    dd.textContent = text;
    wrap.append(dd);
    this.table.append(wrap);
    return wrap;
  }
  /** A row whose value arrives later. */
  pending(key: TKey): HTMLElement {
    const dd = this.row(key, t('popup.loading')) as HTMLElement;
    dd.classList.add('loading');
    return dd;
  }
}

function householdsText(n: number): string {
  return tf('fmt.households', { n: formatNumber(n) });
}

function gridRuleText(n: number): string {
  return n < GRID_MIN ? t('grid.rule.under') : n <= GRID_MAX ? t('grid.rule.ok') : t('grid.rule.over');
}

function chainText(detail: AreaDetail): string | undefined {
  const chain = (detail.chain ?? []).filter((c) => c.id !== detail.id);
  if (!chain.length) return undefined;
  return chain.map((c) => c.name).join(' › ');
}

function fillArea(view: PopupView, token: number, id: number, opts: { households: boolean; chainIncludesSelf: boolean }): void {
  const hh = opts.households ? view.pending('field.households') : null;
  const area = view.pending('field.area');
  const chain = view.pending('field.chain');
  fetchArea(id)
    .then((d) => {
      if (token !== popupToken) return;
      if (hh) {
        const n = num(d.households);
        hh.textContent = n === undefined ? '—' : d.kind === 'grid' ? householdsText(n) + gridRuleText(n) : householdsText(n);
        hh.classList.remove('loading');
      }
      const km2 = num(d.area_km2);
      area.textContent = km2 === undefined ? '—' : tf('fmt.km2', { n: formatNumber(km2, 2) });
      area.classList.remove('loading');
      const full = opts.chainIncludesSelf ? (d.chain ?? []).map((c) => c.name).join(' › ') : chainText(d);
      chain.textContent = full || '—';
      chain.classList.remove('loading');
    })
    .catch(() => {
      if (token !== popupToken) return;
      for (const el of [hh, area, chain]) {
        if (el) {
          el.textContent = '—';
          el.classList.remove('loading');
        }
      }
    });
}

function fillHouseholdGrid(view: PopupView, token: number, gridId: number): void {
  const grid = view.pending('field.grid');
  const chain = view.pending('field.chain');
  fetchArea(gridId)
    .then((d) => {
      if (token !== popupToken) return;
      grid.textContent = d.name || String(gridId);
      grid.classList.remove('loading');
      const c = (d.chain ?? []).filter((x) => x.id !== d.id).map((x) => x.name).join(' › ');
      chain.textContent = c || '—';
      chain.classList.remove('loading');
    })
    .catch(() => {
      if (token !== popupToken) return;
      grid.textContent = String(gridId);
      chain.textContent = '—';
      grid.classList.remove('loading');
      chain.classList.remove('loading');
    });
}

const HOUSEHOLD_ERRORS: Record<number, TKey> = { 403: 'household.forbidden', 404: 'household.notFound' };

/** Rows of personal data, for a logged-in user; fields the role may not see are absent and get no row. */
function householdRows(view: PopupView, d: HouseholdDetail, before: Element): void {
  const present = (v: unknown) => v !== undefined && v !== null;
  view.row('field.headName', str(d.head_name), undefined, before);
  if (present(d.members)) {
    const n = num(d.members);
    view.row('field.members', n === undefined ? String(d.members) : tf('fmt.persons', { n: formatNumber(n) }), undefined, before);
  }
  view.row('field.phone', str(d.phone), 'sensitive', before);
  view.row('field.idCard', str(d.id_card), 'sensitive', before);
  if (Array.isArray(d.tags)) {
    const dd = view.row('field.tags', d.tags.length ? '' : t('value.none'), undefined, before);
    if (dd && d.tags.length) {
      for (const tag of d.tags) {
        const chip = document.createElement('span');
        chip.className = 'tag';
        chip.dataset.tag = tag;
        chip.textContent = tk('tag', tag);
        dd.append(chip);
      }
    }
  }
  if (typeof d.party_central === 'boolean') {
    const dd = view.row('field.partyCentral', d.party_central ? t('value.yes') : t('value.no'), undefined, before);
    if (dd && d.party_central) dd.classList.add('party-central');
  }
  view.row('field.address', str(d.address), undefined, before);
}

function fillHousehold(view: PopupView, token: number, id: number): void {
  // Placed before the grid rows; replaced by the rows, or by a message.
  const slot = view.placeholder('household', t('popup.loading'), 'loading');
  const note = slot.firstElementChild as HTMLElement;
  const say = (key: TKey) => {
    note.textContent = t(key);
    note.className = 'note household-error';
  };
  accountReady
    .then((user) => {
      if (token !== popupToken) return;
      if (!user) {
        slot.remove();
        return;
      }
      return fetchHousehold(id).then((d) => {
        if (token !== popupToken) return;
        householdRows(view, d, slot);
        slot.remove();
      });
    })
    .catch((e: unknown) => {
      if (token !== popupToken) return;
      if (e instanceof ApiError && e.status === 401) {
        // The session ended: log in again, then back to the map.
        location.assign('/login?next=/');
        return;
      }
      say(e instanceof ApiError ? (HOUSEHOLD_ERRORS[e.status] ?? 'household.error') : 'household.error');
    });
}

function popupContent(c: Clicked): HTMLElement {
  const token = ++popupToken;
  const p = c.props;
  const name = str(p.name);
  const id = num(p.id);
  switch (c.layer) {
    case 'grid-fill':
    case 'village-fill': {
      const kind = str(p.kind) ?? 'grid';
      const view = new PopupView(name ?? t('popup.unnamed'), tk('kind', kind));
      view.row('field.code', str(p.code));
      if (id !== undefined) {
        fillArea(view, token, id, { households: true, chainIncludesSelf: false });
      } else {
        const n = num(p.households);
        view.row('field.households', n === undefined ? undefined : householdsText(n));
      }
      return view.root;
    }
    case 'households': {
      const view = new PopupView(str(p.house_number) ?? t('popup.noHouseNumber'), t('kind.household'));
      view.row('field.houseNumber', str(p.house_number) ?? t('popup.noHouseNumber'));
      const hid = num(p.id);
      if (hid !== undefined) fillHousehold(view, token, hid);
      const gid = num(p.grid_id);
      if (gid !== undefined) fillHouseholdGrid(view, token, gid);
      return view.root;
    }
    case 'facilities': {
      const kindLabel = tk('facility', p.kind);
      const view = new PopupView(name ?? kindLabel, kindLabel);
      view.row('field.id', str(p.id));
      return view.root;
    }
    case 'hazards-point':
    case 'hazards-fill': {
      const kindLabel = tk('hazard', p.kind);
      const view = new PopupView(name ?? kindLabel, kindLabel);
      const sev = str(p.severity);
      const dd = view.row('field.severity', sev ? tk('severity', sev) : undefined);
      if (dd && sev) dd.classList.add(`severity-${sev}`);
      view.row('field.id', str(p.id));
      return view.root;
    }
    case 'roads': {
      const cls = tk('road', p.class);
      const view = new PopupView(name ?? cls, t('kind.road'));
      view.row('field.class', cls);
      return view.root;
    }
    case 'waterways': {
      const kind = tk('waterway', p.kind);
      const view = new PopupView(name ?? kind, kind);
      return view.root;
    }
    default: {
      const view = new PopupView(name ?? c.layer, c.layer);
      return view.root;
    }
  }
}

/** Open a new popup for `clicked` (a popup closes itself on any map click, so each click makes a new one). */
function openPopup(map: MapLibreMap): void {
  if (!clicked) return;
  const target = clicked;
  popup?.remove();
  const p = new Popup({ maxWidth: '320px', closeButton: true, focusAfterOpen: false, className: 'cuntu-popup-wrap' });
  p.on('close', () => {
    if (popup === p) {
      popup = null;
      if (clicked === target) clicked = null;
    }
  });
  popup = p;
  clicked = target;
  p.setLngLat(target.lngLat).setDOMContent(popupContent(target)).addTo(map);
}

/** Redraw the open popup's content (after a language switch). */
function refreshPopup(): void {
  if (popup && clicked) popup.setDOMContent(popupContent(clicked));
}

function pickFeature(map: MapLibreMap, point: { x: number; y: number }): MapGeoJSONFeature | undefined {
  const layers = CLICKABLE_LAYERS.filter((l) => map.getLayer(l) && map.getLayoutProperty(l, 'visibility') !== 'none');
  if (!layers.length) return undefined;
  const r = 5;
  const box: [PointLike, PointLike] = [
    [point.x - r, point.y - r],
    [point.x + r, point.y + r],
  ];
  const pointLayers = ['facilities', 'hazards-point', 'households', 'roads', 'waterways'];
  const near = map.queryRenderedFeatures(box, { layers: layers.filter((l) => pointLayers.includes(l)) });
  const at = map.queryRenderedFeatures([point.x, point.y], { layers: layers.filter((l) => !pointLayers.includes(l)) });
  const all = [...near, ...at];
  all.sort((a, b) => CLICKABLE_LAYERS.indexOf(a.layer.id) - CLICKABLE_LAYERS.indexOf(b.layer.id));
  return all[0];
}

// ---------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------

export async function startMap(): Promise<void> {
  initChrome();

  const [summary, tileLayers] = await Promise.all([
    fetchSummary().catch((e) => {
      showError(e);
      return null;
    }),
    fetchTileLayers().catch(() => null),
  ]);
  renderSummary(summary);

  const sources: Partial<Record<SourceId, string>> = {};
  const known = new Set<string>(SOURCE_IDS);
  if (tileLayers && tileLayers.length) {
    for (const l of tileLayers) {
      if (known.has(l.id)) sources[l.id as SourceId] = new URL(l.url || `/tiles/${l.id}`, location.href).href;
    }
  } else {
    for (const id of SOURCE_IDS) sources[id] = new URL(`tiles/${id}`, location.href).href;
  }

  // `?bbox=w,s,e,n` (the import page's "show on map") opens the map there instead.
  const asked = new URLSearchParams(location.search).get('bbox')?.split(',').map(Number);
  const bbox = asked?.length === 4 && asked.every((v) => Number.isFinite(v)) ? asked : summary?.bbox;
  const validBbox =
    Array.isArray(bbox) && bbox.length === 4 && bbox.every((v) => Number.isFinite(v)) && bbox[0] <= bbox[2] && bbox[1] <= bbox[3];
  const wide = !window.matchMedia('(max-width: 720px)').matches;
  const padding = { top: 40, bottom: 40, left: wide ? 300 : 30, right: 60 };

  const map = new MapLibreMap({
    container: 'map',
    style: buildStyle(sources, lang()),
    ...(validBbox
      ? { bounds: bbox as [number, number, number, number], fitBoundsOptions: { padding, maxZoom: 16 } }
      : { center: [114.2, 38.25] as [number, number], zoom: 12 }),
    maxZoom: 19,
    attributionControl: false,
    localIdeographFontFamily: '"Microsoft YaHei", "PingFang SC", "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", sans-serif',
    dragRotate: false,
    pitchWithRotate: false,
  });
  window.__cuntuMap = map;
  map.touchZoomRotate.disableRotation();

  map.addControl(new NavigationControl({ showCompass: false }), 'top-right');
  map.addControl(new ScaleControl({ unit: 'metric', maxWidth: 120 }), 'bottom-left');
  map.addControl(new AttributionControl({ compact: false }), 'bottom-right');

  buildPanel(map);

  map.on('load', () => {
    applyVisibility(map);
    // Ready once the data is drawn and the area labels are placed: the first idle after which
    // the labels did not change.
    const onIdle = () => {
      if (updateAreaLabels(map)) return;
      map.off('idle', onIdle);
      document.body.dataset.mapReady = '1';
      map.on('idle', () => updateAreaLabels(map));
    };
    map.on('idle', onIdle);
  });
  // Place the labels as soon as area tiles arrive, so they are drawn before the map goes idle.
  map.on('sourcedata', (e) => {
    if (e.sourceId === 'areas' && e.dataType === 'source' && (e.tile || e.isSourceLoaded)) {
      updateAreaLabels(map);
    }
  });

  map.on('click', (e) => {
    const f = pickFeature(map, e.point);
    if (!f) {
      popup?.remove();
      return;
    }
    clicked = { layer: f.layer.id, props: { ...(f.properties ?? {}) }, lngLat: e.lngLat };
    openPopup(map);
  });

  const hoverLayers = CLICKABLE_LAYERS.filter((l) => l !== 'village-fill');
  map.on('mousemove', (e) => {
    const layers = hoverLayers.filter((l) => map.getLayer(l));
    const hit = layers.length ? map.queryRenderedFeatures(e.point, { layers }).length > 0 : false;
    map.getCanvas().style.cursor = hit ? 'pointer' : '';
  });

  onLangChange((l) => {
    renderSummary(summary);
    if (map.getLayer('area-label')) map.setLayoutProperty('area-label', 'text-field', areaLabelText(l));
    if (map.getLayer('facility-label')) map.setLayoutProperty('facility-label', 'text-field', facilityLabelText(l));
    refreshPopup();
    if (!$('error').hidden) $('error').textContent = t('error.load') + ($('error').dataset.message ?? '');
  });
}
