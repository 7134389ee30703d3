// The incidents page (`/incidents`, issue 8: 网格吹哨、部门报到) for every signed-in role, phone
// first: the map of the incidents in the caller's scope (overdue red, the rest by state), a list
// with filters (state, overdue, a department's inbox), the report form for grid workers and
// village cadres (tap the map or use the phone's location; optional photo), one incident with its
// details, timeline and photos and one button per action the API allows this caller, and the
// on-time statistics with CSV/XLSX exports from the server (headings in the page's language).
import {
  AttributionControl,
  Map as MapLibreMap,
  NavigationControl,
  ScaleControl,
  setWorkerUrl,
  type GeoJSONSource,
} from 'maplibre-gl';
import workerUrl from 'maplibre-gl/dist/maplibre-gl-worker.mjs?url';
import type { FeatureCollection, Point } from 'geojson';
import './incidents.css';
import { apiFetch, ApiError, fetchMe, fetchSummary, fetchTileLayers, fetchWorkerOverview, type User } from './api';
import { lang, onLangChange } from './i18n';
import { actionLabel, it, itf, STATE_CODES, stateLabel } from './incidents-i18n';
import { buildStyle, SOURCE_IDS, type SourceId } from './style';

setWorkerUrl(new URL(workerUrl, location.href).href);

declare global {
  interface Window {
    __cuntuMap?: MapLibreMap;
    __cuntuIncidents?: { state: () => PageState; pick: (lon: number, lat: number) => void };
  }
}

// ---- API shapes ---------------------------------------------------------------

interface ActionOffer {
  action: string;
  label: string;
}
interface Incident {
  id: number;
  lon: number;
  lat: number;
  township: { id: number | null; name: string | null };
  village: { id: number | null; name: string | null };
  grid: { id: number | null; name: string | null };
  category: string;
  category_label: string;
  grade: string;
  grade_label: string | null;
  description: string;
  state: string;
  state_label: string | null;
  escalation_level: number;
  due_at: string | null;
  overdue: boolean;
  reporter: string | null;
  reported_at: string;
  source?: string;
  source_label?: string;
  score: number | null;
  version: number;
  departments: number[];
  actions: ActionOffer[];
}
interface TimelineRow {
  action: string;
  /** labels in the request's language, beside the codes */
  action_label?: string;
  from_state: string | null;
  to_state: string;
  to_state_label?: string | null;
  note_label?: string | null;
  by: string | null;
  at: string;
  lon: number | null;
  lat: number | null;
  note: string | null;
  late: boolean;
}
interface PhotoRow {
  id: number;
  stage: string;
  taken_at: string | null;
  far_m: number | null;
  flagged: boolean;
  flag_reason: string | null;
  stage_label?: string;
  /** why it is flagged, in the request's language */
  flag_label?: string | null;
}
interface IncidentDetail extends Incident {
  timeline: TimelineRow[];
  photos: PhotoRow[];
}
interface Category {
  code: string;
  name_zh: string;
  name_en: string;
}
interface Department {
  id: number;
  code: string;
  name: string;
}
interface StatsRow {
  grade: string;
  grade_label?: string;
  department: string | null;
  department_label?: string;
  resolved: number;
  on_time: number;
  in_village: number;
  mean_hours: number | null;
}
interface Stats {
  resolved: number;
  on_time: number;
  on_time_percent: number | null;
  in_village: number;
  in_village_percent: number | null;
  headings?: Record<string, string>;
  rows: StatsRow[];
}
/** The caller's notifications (GET /api/notifications): messages in the request's language. */
interface Notice {
  id: number;
  incident: number | null;
  kind: string;
  message: string;
  created_at: string;
  read: boolean;
}
interface Notices {
  unread: number;
  notifications: Notice[];
}
type List = FeatureCollection<Point, Incident> & { overdue: number };

async function call<T>(url: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const res = await apiFetch(url, { ...init, cache: 'no-store' });
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    let code: string | undefined;
    try {
      const b = (await res.json()) as { error?: { message?: string; code?: string } };
      if (b.error?.message) message = b.error.message;
      code = b.error?.code;
    } catch {
      /* not JSON */
    }
    throw new ApiError(res.status, code, message, true);
  }
  return (await res.json()) as T;
}

// ---- state -----------------------------------------------------------------------

type View = 'list' | 'report' | 'detail' | 'stats' | 'notices';
interface PageState {
  me: User | null;
  view: View;
  list: List | null;
  filter: { state: string; overdue: boolean; inbox: boolean; triage: boolean };
  detail: IncidentDetail | null;
  categories: Category[];
  departments: Department[];
  pick: [number, number] | null;
  stats: Stats | null;
  notices: Notices | null;
  busy: boolean;
}

const state: PageState = {
  me: null,
  view: 'list',
  list: null,
  filter: { state: '', overdue: false, inbox: false, triage: false },
  detail: null,
  categories: [],
  departments: [],
  pick: null,
  stats: null,
  notices: null,
  busy: false,
};
let map: MapLibreMap | null = null;

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

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

const roles = () => new Set((state.me?.roles ?? []).map((r) => r.role));
const canReport = () => roles().has('grid_worker') || roles().has('village_cadre');
const canStats = () => ['village_cadre', 'township_admin', 'leader'].some((r) => roles().has(r));
const isDept = () => roles().has('department');

function fmtTime(s: string | null | undefined): string {
  if (!s) return '';
  const d = new Date(s);
  return d.toLocaleString(lang() === 'en' ? 'en-GB' : 'zh-CN', { month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' });
}

let toastTimer = 0;
function toast(msg: string, error = false): void {
  const box = $('toast');
  box.textContent = msg;
  box.hidden = false;
  box.classList.toggle('toast-error', error);
  window.clearTimeout(toastTimer);
  toastTimer = window.setTimeout(() => (box.hidden = true), error ? 6000 : 3000);
}
const errText = (e: unknown) => (e instanceof Error ? e.message : String(e));

// ---- colours -----------------------------------------------------------------

export const STATE_COLORS: Record<string, string> = {
  reported: '#f9a825',
  accepted: '#1e88e5',
  escalated: '#8e24aa',
  whistled: '#ef6c00',
  dept_accepted: '#5e35b1',
  dept_arrived: '#3949ab',
  resolved: '#43a047',
  verified: '#2e7d32',
  closed: '#757575',
};
const OVERDUE = '#d32f2f';

// ---- data --------------------------------------------------------------------

async function loadList(): Promise<void> {
  const q = new URLSearchParams();
  if (state.filter.state) q.set('state', state.filter.state);
  if (state.filter.overdue) q.set('overdue', '1');
  if (state.filter.inbox) q.set('inbox', '1');
  if (state.filter.triage) q.set('source', 'open311');
  state.list = await call<List>(`/api/incidents${q.size ? `?${q}` : ''}`);
  void loadNotices();
  renderMap();
  if (state.view === 'list') renderBody();
}

async function openDetail(id: number): Promise<void> {
  state.detail = await call<IncidentDetail>(`/api/incidents/${id}`);
  state.view = 'detail';
  render();
  renderMap();
  if (map) map.easeTo({ center: [state.detail.lon, state.detail.lat], zoom: Math.max(map.getZoom(), 15), duration: 0 });
}

// ---- map -----------------------------------------------------------------------

function renderMap(): void {
  if (!map || !map.getSource('incidents')) return;
  const feats = [...(state.list?.features ?? [])];
  // The open incident stays on the map when the filter no longer lists it.
  const d = state.view === 'detail' ? state.detail : null;
  if (d && !feats.some((f) => f.properties.id === d.id)) feats.push({ type: 'Feature', geometry: { type: 'Point', coordinates: [d.lon, d.lat] }, properties: d });
  (map.getSource('incidents') as GeoJSONSource).setData({
    type: 'FeatureCollection',
    features: feats.map((f) => ({
      type: 'Feature',
      id: f.properties.id,
      geometry: f.geometry,
      properties: { id: f.properties.id, state: f.properties.state, overdue: f.properties.overdue, selected: state.view === 'detail' && state.detail?.id === f.properties.id },
    })),
  });
  const pick = state.view === 'report' && state.pick ? [state.pick] : [];
  (map.getSource('inc-pick') as GeoJSONSource).setData({
    type: 'FeatureCollection',
    features: pick.map((c) => ({ type: 'Feature', properties: {}, geometry: { type: 'Point', coordinates: c } })),
  });
}

function addLayers(m: MapLibreMap): void {
  m.addSource('incidents', { type: 'geojson', data: { type: 'FeatureCollection', features: [] } });
  m.addSource('inc-pick', { type: 'geojson', data: { type: 'FeatureCollection', features: [] } });
  const match: unknown[] = ['match', ['get', 'state']];
  for (const [k, v] of Object.entries(STATE_COLORS)) match.push(k, v);
  match.push('#616161');
  m.addLayer({
    id: 'incidents-selected',
    type: 'circle',
    source: 'incidents',
    filter: ['==', ['get', 'selected'], true],
    paint: { 'circle-radius': 17, 'circle-color': 'rgba(0,0,0,0)', 'circle-stroke-color': '#212121', 'circle-stroke-width': 3 },
  });
  m.addLayer({
    id: 'incidents',
    type: 'circle',
    source: 'incidents',
    paint: {
      'circle-radius': ['case', ['get', 'overdue'], 11, 9],
      'circle-color': ['case', ['get', 'overdue'], OVERDUE, match as never],
      'circle-stroke-color': '#fff',
      'circle-stroke-width': 2,
    },
  });
  m.addLayer({
    id: 'inc-pick',
    type: 'circle',
    source: 'inc-pick',
    paint: { 'circle-radius': 10, 'circle-color': '#fff', 'circle-stroke-color': '#c62828', 'circle-stroke-width': 4 },
  });
}

// ---- rendering ---------------------------------------------------------------

function render(): void {
  document.body.dataset.incView = state.view;
  renderTabs();
  renderBody();
}

function renderTabs(): void {
  const tabs = $('inc-tabs');
  tabs.replaceChildren();
  const tab = (v: View, label: string, badge = 0) => {
    const b = el('button', { type: 'button', class: `inc-tab${state.view === v || (v === 'list' && state.view === 'detail') ? ' active' : ''}`, 'data-view': v, text: label });
    if (badge) b.append(el('span', { class: 'inc-tab-badge', id: 'inc-unread', text: String(badge) }));
    b.addEventListener('click', () => {
      state.view = v;
      if (v === 'stats') void loadStats();
      if (v === 'notices') void loadNotices();
      render();
      renderMap();
    });
    tabs.append(b);
  };
  tab('list', it('tab.list'));
  if (canReport()) tab('report', it('tab.report'));
  if (canStats()) tab('stats', it('tab.stats'));
  tab('notices', it('tab.notices'), state.notices?.unread ?? 0);
}

function renderBody(): void {
  const body = $('inc-body');
  body.replaceChildren();
  if (state.view === 'list') body.append(listView());
  else if (state.view === 'report') body.append(reportView());
  else if (state.view === 'detail' && state.detail) body.append(detailView(state.detail));
  else if (state.view === 'stats') body.append(statsView());
  else if (state.view === 'notices') body.append(noticesView());
}

// ---- notifications -------------------------------------------------------------

async function loadNotices(): Promise<void> {
  try {
    state.notices = await call<Notices>('/api/notifications');
  } catch {
    return;
  }
  renderTabs();
  if (state.view === 'notices') renderBody();
}

function noticesView(): HTMLElement {
  const box = el('div', { class: 'inc-notices', id: 'inc-notices' });
  const n = state.notices;
  if (!n) return box;
  if (n.unread) {
    const all = el('button', { type: 'button', class: 'small', id: 'inc-read-all', text: it('notices.readAll') });
    all.addEventListener('click', () => {
      void call('/api/notifications/read', { method: 'POST' })
        .then(loadNotices)
        .catch((e) => toast(errText(e), true));
    });
    box.append(all);
  }
  if (!n.notifications.length) {
    box.append(el('p', { class: 'muted', text: it('notices.none') }));
    return box;
  }
  const ul = el('ul', { class: 'inc-list', id: 'inc-notice-list' });
  for (const x of n.notifications) {
    const kind = ['inbox', 'overdue', 'escalated', 'resolved'].includes(x.kind) ? it(`notice.${x.kind}` as 'notice.inbox') : x.kind;
    const b = el(
      'button',
      { type: 'button', class: `inc-item inc-notice${x.read ? '' : ' is-unread'}${x.kind === 'overdue' || x.kind === 'escalated' ? ' is-overdue' : ''}`, 'data-id': String(x.id), 'data-incident': x.incident === null ? undefined : String(x.incident), 'data-kind': x.kind },
      el('span', { class: 'inc-item-main' }, el('span', { class: 'inc-item-title', text: `${kind} · ${fmtTime(x.created_at)}` }), el('span', { class: 'inc-item-desc', text: x.message })),
    );
    b.addEventListener('click', () => {
      void (async () => {
        try {
          if (!x.read) await call(`/api/notifications/${x.id}/read`, { method: 'POST' });
          if (x.incident !== null) await openDetail(x.incident);
          await loadNotices();
        } catch (e) {
          toast(errText(e), true);
        }
      })();
    });
    ul.append(el('li', {}, b));
  }
  box.append(ul);
  return box;
}

function dot(i: Pick<Incident, 'state' | 'overdue'>): HTMLElement {
  const d = el('span', { class: 'inc-dot' });
  d.style.background = i.overdue ? OVERDUE : STATE_COLORS[i.state] ?? '#616161';
  return d;
}

function listView(): HTMLElement {
  const box = el('div', { class: 'inc-list-view' });
  const filters = el('div', { class: 'inc-filters' });
  const sel = el('select', { id: 'inc-filter-state', 'aria-label': it('filter.state') });
  sel.append(el('option', { value: '', text: it('filter.all') }));
  for (const s of STATE_CODES) sel.append(el('option', { value: s, text: stateLabel(s) }));
  sel.value = state.filter.state;
  sel.addEventListener('change', () => {
    state.filter.state = sel.value;
    void loadList().catch((e) => toast(errText(e), true));
  });
  filters.append(sel);
  const check = (id: string, label: string, key: 'overdue' | 'inbox' | 'triage') => {
    const c = el('input', { type: 'checkbox', id });
    c.checked = state.filter[key];
    c.addEventListener('change', () => {
      state.filter[key] = c.checked;
      void loadList().catch((e) => toast(errText(e), true));
    });
    filters.append(el('label', { class: 'inc-check' }, c, label));
  };
  check('inc-filter-overdue', it('filter.overdue'), 'overdue');
  if (isDept()) check('inc-filter-inbox', it('filter.inbox'), 'inbox');
  // The township's triage queue: the public's reports (Open311).
  if (roles().has('township_admin') || roles().has('leader')) check('inc-filter-triage', it('filter.triage'), 'triage');
  box.append(filters);
  const feats = state.list?.features ?? [];
  box.append(el('div', { class: 'inc-count muted', text: itf('count', { n: feats.length, o: state.list?.overdue ?? 0 }) }));
  if (!feats.length) {
    box.append(el('p', { class: 'muted', text: it('empty') }));
    return box;
  }
  const ul = el('ul', { class: 'inc-list', id: 'inc-list' });
  for (const f of feats) {
    const i = f.properties;
    const b = el(
      'button',
      { type: 'button', class: `inc-item${i.overdue ? ' is-overdue' : ''}`, 'data-id': String(i.id) },
      dot(i),
      el(
        'span',
        { class: 'inc-item-main' },
        el('span', { class: 'inc-item-title', text: `#${i.id} ${i.category_label} · ${i.grade_label ?? i.grade}` }),
        el('span', { class: 'inc-item-desc', text: i.description }),
        el(
          'span',
          { class: 'inc-item-meta' },
          el('span', { class: 'inc-state', text: i.state_label ?? stateLabel(i.state) }),
          i.overdue ? el('span', { class: 'inc-badge-overdue', text: it('overdue') }) : null,
          i.due_at ? ` ${it('due')} ${fmtTime(i.due_at)}` : '',
          i.escalation_level ? ` · ${itf('level', { n: i.escalation_level })}` : '',
          i.source === 'open311' ? ` · ${i.source_label ?? 'Open311'}` : '',
        ),
      ),
    );
    b.addEventListener('click', () => void openDetail(i.id).catch((e) => toast(errText(e), true)));
    ul.append(el('li', {}, b));
  }
  box.append(ul);
  return box;
}

// ---- report ------------------------------------------------------------------

let reportPhoto: File | null = null;

function setPick(lon: number, lat: number): void {
  state.pick = [lon, lat];
  renderMap();
  const at = document.getElementById('inc-pick-at');
  if (at) at.textContent = itf('report.at', { lon: lon.toFixed(5), lat: lat.toFixed(5) });
}

function here(): Promise<GeolocationPosition> {
  return new Promise((resolve, reject) => {
    if (!navigator.geolocation) return reject(new Error('geolocation'));
    navigator.geolocation.getCurrentPosition(resolve, reject, { enableHighAccuracy: true, timeout: 15000, maximumAge: 10000 });
  });
}

function readDataUrl(f: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result));
    r.onerror = () => reject(r.error);
    r.readAsDataURL(f);
  });
}

async function sendPhoto(id: number, stage: string, f: File): Promise<PhotoRow> {
  let location: { lon: number; lat: number } | undefined;
  try {
    const p = await here();
    location = { lon: p.coords.longitude, lat: p.coords.latitude };
  } catch {
    location = state.pick ? { lon: state.pick[0], lat: state.pick[1] } : undefined;
  }
  const taken = f.lastModified ? new Date(f.lastModified) : new Date();
  return call<PhotoRow>(`/api/incidents/${id}/photos`, {
    method: 'POST',
    body: { stage, photo: await readDataUrl(f), taken_at: taken.toISOString(), location },
  });
}

function reportView(): HTMLElement {
  const form = el('form', { class: 'inc-form', id: 'inc-report', novalidate: '' });
  if (!canReport()) {
    form.append(el('p', { class: 'muted', text: it('report.noRole') }));
    return form;
  }
  form.append(el('label', { class: 'field-label', text: it('report.where') }));
  form.append(el('p', { class: 'muted small', text: it('report.tap') }));
  const hereBtn = el('button', { type: 'button', class: 'small', id: 'inc-here', text: it('report.here') });
  hereBtn.addEventListener('click', () => {
    hereBtn.disabled = true;
    toast(it('locating'));
    here()
      .then((p) => {
        setPick(p.coords.longitude, p.coords.latitude);
        map?.easeTo({ center: [p.coords.longitude, p.coords.latitude], zoom: Math.max(map.getZoom(), 16), duration: 0 });
      })
      .catch((e) => toast(it('geo.fail') + errText(e), true))
      .finally(() => (hereBtn.disabled = false));
  });
  form.append(el('div', { class: 'inc-row' }, hereBtn, el('span', { id: 'inc-pick-at', class: 'muted small', text: state.pick ? itf('report.at', { lon: state.pick[0].toFixed(5), lat: state.pick[1].toFixed(5) }) : '' })));
  const cat = el('select', { id: 'inc-category', name: 'category' });
  for (const c of state.categories) cat.append(el('option', { value: c.code, text: lang() === 'en' ? c.name_en : c.name_zh }));
  form.append(el('label', { class: 'field-label', for: 'inc-category', text: it('report.category') }), cat);
  const grades = el('div', { class: 'inc-grades', role: 'radiogroup', 'aria-label': it('report.grade') });
  for (const g of ['normal', 'major', 'urgent'] as const) {
    const r = el('input', { type: 'radio', name: 'grade', value: g, id: `inc-grade-${g}` });
    if (g === 'normal') r.checked = true;
    grades.append(el('label', { class: `inc-grade inc-grade-${g}` }, r, it(`grade.${g}`)));
  }
  form.append(el('div', { class: 'field-label', text: it('report.grade') }), grades);
  const desc = el('textarea', { id: 'inc-description', name: 'description', rows: '3', maxlength: '4000' });
  form.append(el('label', { class: 'field-label', for: 'inc-description', text: it('report.description') }), desc);
  const photo = el('input', { type: 'file', id: 'inc-photo', accept: 'image/jpeg,image/png,image/webp', capture: 'environment' });
  photo.addEventListener('change', () => (reportPhoto = photo.files?.[0] ?? null));
  form.append(el('label', { class: 'field-label', for: 'inc-photo', text: it('report.photo') }), photo);
  const submit = el('button', { type: 'submit', class: 'primary wide', id: 'inc-submit', text: it('report.submit') });
  form.append(submit);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (!state.pick) return toast(it('report.needWhere'), true);
    if (!desc.value.trim()) return toast(it('report.needText'), true);
    const grade = (form.querySelector('input[name="grade"]:checked') as HTMLInputElement | null)?.value ?? 'normal';
    submit.disabled = true;
    void (async () => {
      try {
        const inc = await call<Incident>('/api/incidents', {
          method: 'POST',
          body: { location: { lon: state.pick![0], lat: state.pick![1] }, category: cat.value, grade, description: desc.value.trim() },
        });
        if (reportPhoto) await sendPhoto(inc.id, 'before', reportPhoto).catch((e) => toast(errText(e), true));
        reportPhoto = null;
        state.pick = null;
        toast(it('report.done'));
        await loadList();
        await openDetail(inc.id);
      } catch (e) {
        toast(errText(e), true);
      } finally {
        submit.disabled = false;
      }
    })();
  });
  return form;
}

// ---- one incident --------------------------------------------------------------

function detailView(d: IncidentDetail): HTMLElement {
  const box = el('div', { class: 'inc-detail', 'data-id': String(d.id), 'data-state': d.state });
  const back = el('button', { type: 'button', class: 'small inc-back', text: it('back') });
  back.addEventListener('click', () => {
    state.view = 'list';
    render();
    renderMap();
  });
  box.append(back);
  box.append(el('h3', {}, dot(d), ` #${d.id} ${d.category_label}`));
  const dl = el('dl', { class: 'inc-dl' });
  const row = (k: string, v: Node | string) => dl.append(el('dt', { text: k }), el('dd', {}, v));
  row(it('d.state'), el('span', { id: 'inc-state', class: d.overdue ? 'inc-overdue-text' : '', text: (d.state_label ?? stateLabel(d.state)) + (d.overdue ? ` · ${it('overdue')}` : '') }));
  row(it('d.grade'), d.grade_label ?? d.grade);
  row(it('d.where'), [d.village.name, d.grid.name].filter(Boolean).join(' · '));
  if (d.reporter) row(it('d.reporter'), d.reporter);
  row(it('d.reported'), fmtTime(d.reported_at));
  if (d.due_at && !['resolved', 'verified', 'closed'].includes(d.state)) row(it('d.due'), fmtTime(d.due_at) + (d.escalation_level ? ` · ${itf('level', { n: d.escalation_level })}` : ''));
  if (d.score !== null) row(it('d.score'), '★'.repeat(d.score));
  box.append(dl);
  box.append(el('p', { class: 'inc-desc', text: d.description }));

  box.append(el('h4', { text: it('actions') }));
  box.append(actionsBox(d));

  box.append(el('h4', { text: it('timeline') }));
  const ol = el('ol', { class: 'inc-timeline', id: 'inc-timeline' });
  for (const r of d.timeline) {
    const where =
      r.lon !== null && r.lat !== null
        ? `${it('d.where')} ${r.lon.toFixed(5)}, ${r.lat.toFixed(5)}${r.action === 'report' ? '' : ` (${itf('photo.far', { m: Math.round(metres([r.lon, r.lat], [d.lon, d.lat])) })})`}`
        : '';
    ol.append(
      el(
        'li',
        { class: r.late ? 'is-late' : '', 'data-action': r.action, 'data-to': r.to_state },
        el('div', { class: 'tl-head' }, el('b', { class: 'tl-action', text: r.action_label ?? actionLabel(r.action) }), ' → ', el('span', { text: r.to_state_label ?? stateLabel(r.to_state) }), r.late ? el('span', { class: 'inc-badge-overdue', text: it('late') }) : null),
        el('div', { class: 'tl-meta muted' }, `${r.by ?? it('tl.auto')} · ${fmtTime(r.at)}`, where ? ` · ${where}` : ''),
        r.note ? el('div', { class: 'tl-note', text: r.note_label ?? r.note }) : null,
      ),
    );
  }
  box.append(ol);

  box.append(el('h4', { text: it('photos') }));
  const photos = el('div', { class: 'inc-photos', id: 'inc-photos' });
  for (const p of d.photos) {
    const stageText = p.stage_label ?? it(p.stage === 'after' ? 'photo.after' : 'photo.before');
    const img = el('img', { src: `/api/incidents/${d.id}/photos/${p.id}`, alt: stageText, loading: 'lazy' });
    photos.append(
      el(
        'figure',
        { class: p.flagged ? 'is-flagged' : '', 'data-flag': p.flag_reason ?? '' },
        img,
        el(
          'figcaption',
          {},
          `${stageText} · ${fmtTime(p.taken_at)}`,
          p.far_m !== null && !(p.flag_label && p.flag_reason?.includes('far')) ? ` · ${itf('photo.far', { m: Math.round(p.far_m) })}` : '',
          p.flagged ? el('span', { class: 'inc-badge-overdue inc-photo-flag', title: p.flag_reason ?? '', text: `⚠ ${it('photo.flagged')}${p.flag_label ? `${lang() === 'en' ? ': ' : '：'}${p.flag_label}` : ''}` }) : null,
        ),
      ),
    );
  }
  box.append(photos);
  if (d.actions.length || canReport() || isDept()) {
    const stage = el('select', { id: 'inc-photo-stage', 'aria-label': it('photo.stage') });
    stage.append(el('option', { value: 'before', text: it('photo.before') }), el('option', { value: 'after', text: it('photo.after') }));
    if (['dept_arrived', 'resolved', 'verified', 'closed'].includes(d.state)) stage.value = 'after';
    const file = el('input', { type: 'file', id: 'inc-photo-add', accept: 'image/jpeg,image/png,image/webp', capture: 'environment' });
    file.addEventListener('change', () => {
      const f = file.files?.[0];
      if (!f) return;
      void sendPhoto(d.id, stage.value, f)
        .then(() => {
          toast(it('photo.sent'));
          return openDetail(d.id);
        })
        .catch((e) => toast(errText(e), true));
    });
    box.append(el('div', { class: 'inc-row' }, stage, el('label', { class: 'small button-like' }, it('photo.add'), file)));
  }
  return box;
}

/** Great-circle distance in metres. */
function metres(a: [number, number], b: [number, number]): number {
  const r = Math.PI / 180;
  const dLat = (b[1] - a[1]) * r;
  const dLon = (b[0] - a[0]) * r;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a[1] * r) * Math.cos(b[1] * r) * Math.sin(dLon / 2) ** 2;
  return 2 * 6_371_000 * Math.asin(Math.sqrt(h));
}

function actionsBox(d: IncidentDetail): HTMLElement {
  const box = el('div', { class: 'inc-actions', id: 'inc-actions' });
  const cadreScore = d.state === 'closed' && d.score === null && roles().has('village_cadre');
  if (!d.actions.length && !cadreScore) {
    box.append(el('p', { class: 'muted', text: it('actions.none') }));
    return box;
  }
  const note = el('textarea', { id: 'inc-note', rows: '2', placeholder: it('note'), 'aria-label': it('note') });
  let deps: HTMLElement | null = null;
  if (d.actions.some((a) => a.action === 'whistle')) {
    deps = el('fieldset', { class: 'inc-deps', id: 'inc-deps' }, el('legend', { text: it('whistle.pick') }));
    for (const dep of state.departments) {
      const c = el('input', { type: 'checkbox', value: String(dep.id), 'data-name': dep.name });
      deps.append(el('label', { class: 'inc-check' }, c, dep.name));
    }
    box.append(deps);
  }
  if (d.actions.length) box.append(note);
  const buttons = el('div', { class: 'inc-buttons' });
  for (const a of d.actions) {
    const b = el('button', { type: 'button', class: `inc-action inc-action-${a.action}`, 'data-action': a.action, text: a.label || actionLabel(a.action) });
    b.addEventListener('click', () => void act(d, a, note.value.trim(), deps, b));
    buttons.append(b);
  }
  box.append(buttons);
  if (cadreScore) {
    const sel = el('select', { id: 'inc-score', 'aria-label': it('score.ask') });
    for (let s = 5; s >= 1; s--) sel.append(el('option', { value: String(s), text: '★'.repeat(s) }));
    const send = el('button', { type: 'button', class: 'small', text: it('score.send') });
    send.addEventListener('click', () => {
      void call(`/api/incidents/${d.id}/score`, { method: 'POST', body: { score: Number(sel.value) } })
        .then(() => {
          toast(it('score.done'));
          return openDetail(d.id);
        })
        .catch((e) => toast(errText(e), true));
    });
    box.append(el('div', { class: 'inc-row' }, el('span', { text: it('score.ask') }), sel, send));
  }
  return box;
}

async function act(d: IncidentDetail, a: ActionOffer, note: string, deps: HTMLElement | null, b: HTMLButtonElement): Promise<void> {
  if (state.busy) return;
  const body: Record<string, unknown> = { action: a.action, version: d.version };
  if (note) body.note = note;
  if (a.action === 'whistle') {
    const ids = [...(deps?.querySelectorAll<HTMLInputElement>('input:checked') ?? [])].map((c) => Number(c.value));
    if (!ids.length) return toast(it('whistle.need'), true);
    body.departments = ids;
  }
  state.busy = true;
  b.disabled = true;
  try {
    if (a.action === 'dept_arrive') {
      toast(it('locating'));
      const p = await here().catch((e) => {
        throw new Error(it('geo.fail') + errText(e));
      });
      body.location = { lon: p.coords.longitude, lat: p.coords.latitude };
    }
    await call(`/api/incidents/${d.id}/actions`, { method: 'POST', body });
    toast(itf('action.done', { a: a.label || actionLabel(a.action) }));
    await loadList();
    await openDetail(d.id);
  } catch (e) {
    if (e instanceof ApiError && e.status === 409) {
      toast(it('stale'), true);
      await openDetail(d.id).catch(() => {});
    } else toast(errText(e), true);
  } finally {
    state.busy = false;
    b.disabled = false;
  }
}

// ---- statistics ----------------------------------------------------------------

async function loadStats(): Promise<void> {
  try {
    state.stats = await call<Stats>('/api/incidents/stats');
  } catch (e) {
    toast(errText(e), true);
  }
  if (state.view === 'stats') renderBody();
}

const gradeName = (g: string) => (['normal', 'major', 'urgent'].includes(g) ? it(`grade.${g}` as 'grade.normal') : g);
const pct = (v: number | null) => (v === null ? '—' : `${v}%`);

function statsView(): HTMLElement {
  const box = el('div', { class: 'inc-stats', id: 'inc-stats' });
  box.append(el('h3', { text: it('stats.title') }));
  const s = state.stats;
  if (!s) return box;
  box.append(
    el(
      'div',
      { class: 'inc-figures' },
      el('div', {}, el('b', { text: String(s.resolved) }), el('span', { text: it('stats.resolved') })),
      el('div', {}, el('b', { text: pct(s.on_time_percent) }), el('span', { text: it('stats.onTime') })),
      el('div', {}, el('b', { text: pct(s.in_village_percent) }), el('span', { text: it('stats.inVillage') })),
    ),
  );
  if (!s.rows.length) box.append(el('p', { class: 'muted', text: it('stats.none') }));
  else {
    const table = el('table', { class: 'inc-table' });
    table.append(
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ...[
            s.headings?.grade ?? it('stats.grade'),
            s.headings?.department ?? it('stats.department'),
            s.headings?.resolved ?? it('stats.resolved'),
            s.headings?.on_time ?? it('stats.onTime'),
            s.headings?.in_village ?? it('stats.inVillage'),
            s.headings?.mean_hours ?? it('stats.mean'),
          ].map((h) => el('th', { text: h })),
        ),
      ),
    );
    const tb = el('tbody');
    for (const r of s.rows)
      tb.append(
        el(
          'tr',
          {},
          el('td', { text: r.grade_label ?? gradeName(r.grade) }),
          el('td', { text: r.department_label ?? r.department ?? it('stats.noDept') }),
          el('td', { text: String(r.resolved) }),
          el('td', { text: String(r.on_time) }),
          el('td', { text: String(r.in_village) }),
          el('td', { text: r.mean_hours === null ? '—' : r.mean_hours.toFixed(1) }),
        ),
      );
    table.append(tb);
    box.append(el('div', { class: 'inc-table-wrap' }, table));
  }
  // The exports come from the server, with headings in the page's language.
  const dl = el('button', { type: 'button', class: 'small', id: 'inc-csv', text: it('stats.csv') });
  dl.addEventListener('click', () => void download('csv'));
  const xl = el('button', { type: 'button', class: 'small', id: 'inc-xlsx', text: it('stats.xlsx') });
  xl.addEventListener('click', () => void download('xlsx'));
  box.append(el('div', { class: 'inc-row' }, dl, xl));
  return box;
}

/** Fetches the statistics export (the page's language goes as Accept-Language) and saves it. */
async function download(kind: 'csv' | 'xlsx'): Promise<void> {
  try {
    const res = await apiFetch(`/api/incidents/stats.${kind}`, { cache: 'no-store' });
    if (!res.ok) throw new ApiError(res.status, undefined, `${res.status} ${res.statusText}`, false);
    const cd = res.headers.get('content-disposition') ?? '';
    const m = /filename\*=UTF-8''([^;]+)/.exec(cd);
    const name = m ? decodeURIComponent(m[1]) : `incident-statistics.${kind}`;
    const a = el('a', { href: URL.createObjectURL(await res.blob()), download: name });
    document.body.append(a);
    a.click();
    a.remove();
    window.setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  } catch (e) {
    toast(errText(e), true);
  }
}

// ---- start ---------------------------------------------------------------------

function buildPanel(): void {
  const panel = el(
    'aside',
    { id: 'inc-panel', class: 'panel inc-panel', 'aria-label': it('title') },
    el('div', { class: 'inc-top' }, el('div', { class: 'panel-head' }, el('h2', { id: 'inc-title', text: it('title') })), el('div', { class: 'inc-tabs', id: 'inc-tabs' })),
    el('div', { id: 'inc-body', class: 'inc-body' }),
  );
  $('stage').append(panel);
}

function setPanelOpen(open: boolean): void {
  document.body.classList.toggle('panel-open', open);
  $('panel-toggle').setAttribute('aria-expanded', String(open));
  map?.resize();
}

export async function startIncidents(): Promise<void> {
  const me = await fetchMe();
  if (!me) {
    location.assign('/login?next=/incidents');
    return;
  }
  state.me = me;
  const toggleLabel = document.querySelector<HTMLElement>('#panel-toggle [data-i18n]');
  if (toggleLabel) {
    delete toggleLabel.dataset.i18n;
    toggleLabel.textContent = it('open');
  }
  buildPanel();
  setPanelOpen(true);
  $('panel-toggle').addEventListener('click', () => setPanelOpen(!document.body.classList.contains('panel-open')));
  window.__cuntuIncidents = { state: () => state, pick: setPick };
  // New notifications every minute (only the tab's count and the notices view are redrawn).
  window.setInterval(() => void loadNotices(), 60_000);

  const isWorker = roles().has('grid_worker');
  const [tileLayers, summary, categories, departments, overview] = await Promise.all([
    fetchTileLayers().catch(() => null),
    fetchSummary().catch(() => null),
    call<Category[]>('/api/incident-categories').catch(() => [] as Category[]),
    call<Department[]>('/api/departments').catch(() => [] as Department[]),
    isWorker ? fetchWorkerOverview().catch(() => null) : Promise.resolve(null),
    loadList(),
  ]);
  state.categories = categories;
  state.departments = departments;
  render();

  const sources: Partial<Record<SourceId, string>> = {};
  const known = new Set<string>(SOURCE_IDS);
  for (const l of tileLayers ?? []) if (known.has(l.id)) sources[l.id as SourceId] = new URL(l.url || `/tiles/${l.id}`, location.href).href;
  if (!tileLayers?.length) for (const id of SOURCE_IDS) sources[id] = new URL(`tiles/${id}`, location.href).href;

  // Start on the incidents, else on the worker's grid, else on the township.
  let bounds: [number, number, number, number] | null = null;
  const grow = (x: number, y: number) => {
    bounds = bounds ? [Math.min(bounds[0], x), Math.min(bounds[1], y), Math.max(bounds[2], x), Math.max(bounds[3], y)] : [x, y, x, y];
  };
  for (const f of state.list?.features ?? []) grow(f.geometry.coordinates[0], f.geometry.coordinates[1]);
  if (!bounds && overview?.grids.length) {
    const visit = (c: unknown): void => {
      if (Array.isArray(c) && typeof c[0] === 'number') grow(c[0] as number, c[1] as number);
      else if (Array.isArray(c)) c.forEach(visit);
    };
    for (const g of overview.grids) visit(g.geometry.coordinates);
  }
  const bb = summary?.bbox as number[] | undefined;
  if (!bounds && Array.isArray(bb) && bb.length === 4 && bb.every(Number.isFinite)) bounds = bb as [number, number, number, number];
  if (bounds) {
    const [w, s, e, n] = bounds;
    const pad = 0.002;
    bounds = [w - pad, s - pad, e + pad, n + pad];
  }

  const m = new MapLibreMap({
    container: 'map',
    style: buildStyle(sources, lang()),
    ...(bounds ? { bounds, fitBoundsOptions: { padding: 20, maxZoom: 16.5 } } : { center: [114.2, 38.25] as [number, number], zoom: 12 }),
    maxZoom: 19,
    attributionControl: false,
    localIdeographFontFamily: '"Microsoft YaHei", "PingFang SC", "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", sans-serif',
    dragRotate: false,
    pitchWithRotate: false,
  });
  map = m;
  window.__cuntuMap = m;
  m.touchZoomRotate.disableRotation();
  m.addControl(new NavigationControl({ showCompass: false }), 'top-right');
  m.addControl(new ScaleControl({ unit: 'metric', maxWidth: 100 }), 'bottom-left');
  m.addControl(new AttributionControl({ compact: true }), 'bottom-right');
  m.on('error', (e) => console.error(e.error));
  m.on('load', () => {
    addLayers(m);
    renderMap();
    m.once('idle', () => {
      document.body.dataset.mapReady = '1';
    });
  });
  m.on('click', (e) => {
    if (state.view === 'report') {
      setPick(e.lngLat.lng, e.lngLat.lat);
      return;
    }
    const r = 10;
    const hit = m.queryRenderedFeatures([[e.point.x - r, e.point.y - r], [e.point.x + r, e.point.y + r]], { layers: ['incidents'] });
    if (hit.length) {
      setPanelOpen(true);
      void openDetail(Number(hit[0].properties?.id)).catch((err) => toast(errText(err), true));
    }
  });
  m.on('mouseenter', 'incidents', () => (m.getCanvas().style.cursor = 'pointer'));
  m.on('mouseleave', 'incidents', () => (m.getCanvas().style.cursor = ''));

  onLangChange(() => {
    $('inc-title').textContent = it('title');
    if (toggleLabel) toggleLabel.textContent = it('open');
    void loadList().catch(() => {});
    void loadNotices();
    if (state.view === 'detail' && state.detail) void openDetail(state.detail.id).catch(() => {});
    render();
  });
}
