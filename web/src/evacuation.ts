// The grid worker's evacuation duty (转移任务, issue 7) on /worker: for every evacuation with
// households in the worker's grid, a banner section listing them (house number, head, needs,
// assigned shelter and distance) with four big buttons each (moved / refused / away / needs help),
// an optional note, and a ring on the map around every household still to move.
//
// Offline, a mark is queued in localStorage (a few bytes each, per user) and sent when the
// connection returns. PUT is idempotent and a later mark of the same household replaces the queued
// one, so a replay cannot count twice. The last list seen is kept too, so the duty stays readable
// without a connection.
import type { GeoJSONSource, Map as MapLibreMap } from 'maplibre-gl';
import type { FeatureCollection } from 'geojson';
import { apiFetch } from './api';
import { lang, onLangChange, t, tf, type TKey } from './i18n';

export type EvacStatus = 'pending' | 'moved' | 'refused' | 'away' | 'needs_help';
const MARKS: EvacStatus[] = ['moved', 'refused', 'away', 'needs_help'];
const ALL: EvacStatus[] = ['pending', ...MARKS];

interface Tally {
  total: number;
  by_status: Record<EvacStatus, number>;
}
interface Evacuation {
  id: number;
  name: string;
  hazard_ids: number[];
  created_at: string;
}
interface Evacuee {
  id: number;
  lon: number | null;
  lat: number | null;
  house_number: string | null;
  head_name: string | null;
  members: number | null;
  needs: string[];
  grid: string | null;
  shelter: { id: number | null; name: string | null; distance_m: number | null };
  status: EvacStatus;
  note: string | null;
}
interface Detail {
  evacuation: Evacuation;
  tally: Tally;
  households: Evacuee[];
}
interface QueuedMark {
  evacuation: number;
  household: number;
  status: EvacStatus;
  note: string | null;
  queued_at: string;
}

const PENDING_RING = '#c62828';

const st: {
  user: () => string | null;
  map: () => MapLibreMap | null;
  focus: (lon: number, lat: number) => void;
  list: Detail[] | null;
  stale: boolean;
  busy: Set<string>;
  /** per "evac:household": the last answer (error text from the server, or 'queued') */
  result: Map<string, { kind: 'ok' | 'error' | 'queued'; text: () => string }>;
  notes: Map<string, string>;
  /** evacuations the worker opened or folded */
  open: Map<number, boolean>;
} = {
  user: () => null,
  map: () => null,
  focus: () => undefined,
  list: null,
  stale: false,
  busy: new Set(),
  result: new Map(),
  notes: new Map(),
  open: new Map(),
};

const key = (e: number, h: number) => `${e}:${h}`;

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

// ---------------------------------------------------------------------------
// Storage: the queue of marks and the last list seen, per user
// ---------------------------------------------------------------------------

function load<T>(name: string, fallback: T): T {
  const u = st.user();
  if (!u) return fallback;
  try {
    const raw = localStorage.getItem(`cuntu.evac.${name}.${u}`);
    return raw ? (JSON.parse(raw) as T) : fallback;
  } catch {
    return fallback;
  }
}

function save(name: string, value: unknown): void {
  const u = st.user();
  if (!u) return;
  try {
    localStorage.setItem(`cuntu.evac.${name}.${u}`, JSON.stringify(value));
  } catch {
    /* storage full or disabled: the queue lives as long as the page */
  }
}

let memoryQueue: QueuedMark[] | null = null;
function queue(): QueuedMark[] {
  return memoryQueue ?? load<QueuedMark[]>('queue', []);
}
function setQueue(q: QueuedMark[]): void {
  memoryQueue = q;
  save('queue', q);
  document.body.dataset.evacQueue = String(q.length);
}

// ---------------------------------------------------------------------------
// API
// ---------------------------------------------------------------------------

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

async function call<T>(url: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const res = await apiFetch(url, { ...init, cache: 'no-store' });
  if (!res.ok) {
    let msg = `${res.status} ${res.statusText}`;
    try {
      const b = (await res.json()) as { error?: { message?: string } };
      if (b?.error?.message) msg = b.error.message;
    } catch {
      /* not JSON */
    }
    throw new HttpError(res.status, msg);
  }
  return (await res.json()) as T;
}

const isNetwork = (e: unknown) => e instanceof TypeError || (e instanceof HttpError && [0, 502, 503, 504].includes(e.status));

function putMark(m: QueuedMark): Promise<unknown> {
  return call(`/api/evacuations/${m.evacuation}/households/${m.household}`, {
    method: 'PUT',
    body: m.note ? { status: m.status, note: m.note } : { status: m.status },
  });
}

/** Apply the queued marks over a list from the server (they are newer than it). */
function overlay(list: Detail[]): Detail[] {
  for (const q of queue()) {
    const d = list.find((x) => x.evacuation.id === q.evacuation);
    const h = d?.households.find((x) => x.id === q.household);
    if (d && h) setStatus(d, h, q.status, q.note);
  }
  return list;
}

function setStatus(d: Detail, h: Evacuee, status: EvacStatus, note: string | null): void {
  if (h.status !== status) {
    d.tally.by_status[h.status] = Math.max(0, (d.tally.by_status[h.status] ?? 0) - 1);
    d.tally.by_status[status] = (d.tally.by_status[status] ?? 0) + 1;
  }
  h.status = status;
  if (note !== null) h.note = note;
}

let refreshing: Promise<void> | null = null;

/** Fetch the evacuations with households in the worker's grid, then their households. */
export function refreshEvacuations(): Promise<void> {
  refreshing ??= (async () => {
    try {
      await flushMarks();
      const rows = await call<Array<{ evacuation: Evacuation; tally: Tally }>>('/api/leader/evacuations');
      const mine = rows.filter((r) => r.tally.total > 0).sort((a, b) => b.evacuation.created_at.localeCompare(a.evacuation.created_at));
      const list = await Promise.all(mine.map((r) => call<Detail>(`/api/evacuations/${r.evacuation.id}`)));
      save('cache', list);
      st.list = overlay(list);
      st.stale = false;
    } catch (e) {
      if (!isNetwork(e) && !(e instanceof HttpError && e.status === 401)) console.warn('evacuations:', e);
      st.list ??= overlay(load<Detail[]>('cache', []));
      st.stale = true;
    }
    // Not while a note is being typed (the list would be rebuilt under the keyboard): the next
    // poll, or the mark itself, draws it.
    const typing = document.activeElement instanceof HTMLInputElement && box?.contains(document.activeElement);
    if (typing) renderMap();
    else render();
    document.body.dataset.evacReady = '1';
  })().finally(() => (refreshing = null));
  return refreshing;
}

let flushing: Promise<void> | null = null;

/** Send the queued marks in order; stop at a network failure or an expired session. */
function flushMarks(): Promise<void> {
  flushing ??= (async () => {
    let sent = 0;
    for (const m of queue()) {
      try {
        await putMark(m);
        sent++;
        st.result.set(key(m.evacuation, m.household), { kind: 'ok', text: () => t('evac.sent') });
      } catch (e) {
        if (isNetwork(e) || (e instanceof HttpError && (e.status === 401 || e.status >= 500))) break;
        const why = e instanceof Error ? e.message : String(e);
        st.result.set(key(m.evacuation, m.household), { kind: 'error', text: () => t('evac.refused') + why });
      }
      setQueue(queue().filter((q) => !(q.evacuation === m.evacuation && q.household === m.household && q.queued_at === m.queued_at)));
    }
    if (sent) render();
  })().finally(() => (flushing = null));
  return flushing;
}

async function mark(d: Detail, h: Evacuee, status: EvacStatus): Promise<void> {
  const k = key(d.evacuation.id, h.id);
  if (st.busy.has(k)) return;
  const noteText = (st.notes.get(k) ?? '').trim();
  const m: QueuedMark = { evacuation: d.evacuation.id, household: h.id, status, note: noteText || null, queued_at: new Date().toISOString() };
  const before = { status: h.status, note: h.note };
  // Shown at once; undone if the server says no.
  setStatus(d, h, status, m.note);
  st.busy.add(k);
  st.result.delete(k);
  render();
  try {
    if (!navigator.onLine) throw new TypeError('offline');
    await putMark(m);
    st.result.set(k, { kind: 'ok', text: () => tf('evac.marked', { status: t(`evac.status.${status}` as TKey) }) });
    st.notes.delete(k);
  } catch (e) {
    if (isNetwork(e)) {
      // Keep only the latest mark of a household.
      setQueue([...queue().filter((q) => !(q.evacuation === m.evacuation && q.household === m.household)), m]);
      st.result.set(k, { kind: 'queued', text: () => t('evac.queued') });
      st.notes.delete(k);
    } else {
      setStatus(d, h, before.status, null);
      h.note = before.note;
      // The server's message, in the language of the request.
      const why = e instanceof Error ? e.message : String(e);
      st.result.set(k, { kind: 'error', text: () => t('evac.error') + why });
    }
  } finally {
    st.busy.delete(k);
    render();
  }
}

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

let box: HTMLElement | null = null;

function fmtDistance(m: number | null): string {
  if (m === null || m === undefined) return '';
  return m < 1000 ? tf('worker.m', { n: new Intl.NumberFormat(lang()).format(Math.round(m)) }) : tf('worker.km', { n: (m / 1000).toFixed(1) });
}

function render(): void {
  renderMap();
  if (!box) return;
  box.replaceChildren();
  const list = (st.list ?? []).filter((d) => d.households.length);
  box.hidden = !list.length;
  document.body.classList.toggle('has-evacuation', list.length > 0);
  if (!list.length) return;
  const queued = new Set(queue().map((q) => key(q.evacuation, q.household)));
  box.append(
    el('h3', { class: 'evac-title', text: t('evac.title') }),
    el('p', { class: 'evac-hint', text: navigator.onLine ? t('evac.hint') : t('evac.offline') }),
  );
  if (st.stale && navigator.onLine) box.append(el('p', { class: 'evac-hint', text: t('evac.stale') }));
  for (const d of list) {
    const tally = el(
      'div',
      { class: 'evac-tally', 'data-testid': 'evac-tally' },
      ...ALL.map((s) => el('span', { class: `evac-chip evac-${s}`, 'data-status': s, 'data-n': String(d.tally.by_status[s] ?? 0), text: `${t(`evac.status.${s}` as TKey)} ${d.tally.by_status[s] ?? 0}` })),
    );
    // By house number, not by status: a row must not jump away from under the finger that marked it.
    const rows = [...d.households].sort(
      (a, b) => String(a.house_number ?? '').localeCompare(String(b.house_number ?? ''), undefined, { numeric: true }) || a.id - b.id,
    );
    const busy = d.tally.by_status.pending > 0 || d.tally.by_status.needs_help > 0;
    const details = el(
      'details',
      // Open while something is left to do there, unless the worker folded it.
      {
        class: 'evac-one',
        'data-testid': 'evacuation',
        'data-evacuation': String(d.evacuation.id),
        open: (st.open.get(d.evacuation.id) ?? busy) ? '' : undefined,
      },
      el('summary', {}, el('strong', { text: d.evacuation.name }), ' ', el('span', { class: 'muted', text: tf('evac.count', { n: d.households.length }) })),
      tally,
    );
    const ul = el('ul', { class: 'evac-list' });
    for (const h of rows) {
      const k = key(d.evacuation.id, h.id);
      const who = el('button', { type: 'button', class: 'evac-who', text: `${h.house_number ?? '#' + h.id} · ${h.head_name ?? ''}` });
      who.addEventListener('click', () => {
        if (h.lon !== null && h.lat !== null) st.focus(h.lon, h.lat);
      });
      const statusChip = el('span', { class: `evac-chip evac-${h.status}`, 'data-testid': 'evac-status', text: t(`evac.status.${h.status}` as TKey) });
      // Many shelters of the demo (from OSM) have no name: say what it is and which one.
      const shelter =
        h.shelter?.id !== null && h.shelter?.id !== undefined
          ? tf('evac.shelter', { name: h.shelter.name || `${t('facility.shelter')} ${h.shelter.id}`, d: fmtDistance(h.shelter.distance_m) })
          : t('evac.noShelter');
      const buttons = el('div', { class: 'evac-buttons' });
      for (const s of MARKS) {
        const b = el('button', {
          type: 'button',
          class: `evac-btn evac-${s}` + (h.status === s ? ' is-current' : ''),
          'data-testid': `evac-mark-${s}`,
          'aria-pressed': String(h.status === s),
          text: t(`evac.mark.${s}` as TKey),
        });
        b.disabled = st.busy.has(k);
        b.addEventListener('click', () => void mark(d, h, s));
        buttons.append(b);
      }
      const note = el('input', {
        type: 'text',
        class: 'evac-note',
        maxlength: '500',
        'data-testid': 'evac-note',
        placeholder: t('evac.note'),
        'aria-label': t('evac.note'),
      });
      note.value = st.notes.get(k) ?? '';
      note.addEventListener('input', () => st.notes.set(k, note.value));
      const res = st.result.get(k);
      ul.append(
        el(
          'li',
          { class: `evac-hh evac-hh-${h.status}`, 'data-testid': 'evac-household', 'data-household': String(h.id), 'data-status': h.status, 'data-queued': queued.has(k) ? '1' : undefined },
          el('div', { class: 'evac-head' }, who, statusChip, queued.has(k) ? el('span', { class: 'evac-chip evac-queued', text: t('evac.queuedShort') }) : null),
          h.needs.length ? el('div', { class: 'evac-needs' }, ...h.needs.map((n) => el('span', { class: 'tag', text: n }))) : null,
          el('div', { class: 'evac-shelter muted', text: shelter }),
          h.note ? el('div', { class: 'evac-saved-note muted', text: tf('evac.savedNote', { note: h.note }) }) : null,
          buttons,
          note,
          res ? el('p', { class: res.kind === 'error' ? 'form-error' : 'evac-ok', 'data-testid': 'evac-result', 'data-kind': res.kind, role: res.kind === 'error' ? 'alert' : 'status', text: res.text() }) : null,
        ),
      );
    }
    details.append(ul);
    // (A toggle event also follows the `open` given at creation: only a change is remembered.)
    details.addEventListener('toggle', () => {
      if (details.open === busy) st.open.delete(d.evacuation.id);
      else st.open.set(d.evacuation.id, details.open);
    });
    box.append(details);
  }
}

// ---------------------------------------------------------------------------
// Map: a red ring around every household still to move
// ---------------------------------------------------------------------------

function addLayer(map: MapLibreMap): void {
  if (map.getSource('evac-households')) return;
  map.addSource('evac-households', { type: 'geojson', data: { type: 'FeatureCollection', features: [] } });
  map.addLayer(
    {
      id: 'evac-pending',
      type: 'circle',
      source: 'evac-households',
      filter: ['==', ['get', 'status'], 'pending'],
      paint: {
        'circle-radius': ['interpolate', ['linear'], ['zoom'], 14, 9, 18, 16],
        'circle-color': 'rgba(198,40,40,0.18)',
        'circle-stroke-color': PENDING_RING,
        'circle-stroke-width': 3,
      },
    },
    map.getLayer('worker-hh') ? 'worker-hh' : undefined,
  );
  renderMap();
}

function renderMap(): void {
  const map = st.map();
  const src = map?.getSource('evac-households') as GeoJSONSource | undefined;
  if (!src) return;
  const fc: FeatureCollection = { type: 'FeatureCollection', features: [] };
  for (const d of st.list ?? [])
    for (const h of d.households)
      if (h.lon !== null && h.lat !== null)
        fc.features.push({ type: 'Feature', geometry: { type: 'Point', coordinates: [h.lon, h.lat] }, properties: { id: h.id, evacuation: d.evacuation.id, status: h.status } });
  src.setData(fc);
}

// ---------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------

/** Mount the duty into `container` (a section of the worker's panel) and keep it current. */
export function startEvacuation(
  container: HTMLElement,
  opts: { user: () => string | null; map: () => MapLibreMap | null; focus: (lon: number, lat: number) => void },
): void {
  box = container;
  box.hidden = true;
  st.user = opts.user;
  st.map = opts.map;
  st.focus = opts.focus;
  document.body.dataset.evacQueue = String(queue().length);
  const map = opts.map();
  if (map) {
    if (map.loaded()) addLayer(map);
    else map.on('load', () => addLayer(map));
  }
  window.addEventListener('online', () => void refreshEvacuations());
  window.addEventListener('offline', render);
  onLangChange(() => {
    render();
    // The needs are worded by the server in the request's language.
    void refreshEvacuations();
  });
  // The leader may start an evacuation at any moment; the tally of other workers changes too.
  window.setInterval(() => {
    if (navigator.onLine) void refreshEvacuations();
  }, 30_000);
  void refreshEvacuations();
  (window as unknown as { __cuntuEvac?: unknown }).__cuntuEvac = {
    list: () => st.list,
    queue,
    refresh: refreshEvacuations,
  };
}
