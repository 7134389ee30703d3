// The import page (`/import`, issue 9) for township admins and village cadres, phone first:
// choose a file and a layer (and the coordinates when the file has none), see the dry run — the
// file's columns with one selector per stored field, the first rows as they would be stored,
// every problem and every row to be skipped with its row number — then import as a background
// job with a progress bar, and the report with a link that opens the map at what was imported.
import './import.css';
import { apiFetch, ApiError, fetchMe } from './api';
import { lang, onLangChange } from './i18n';
import { mt, mtf, targetLabel } from './import-i18n';

declare global {
  interface Window {
    __cuntuImport?: { state: () => PageState };
  }
}

interface Problem {
  row: number;
  field: string | null;
  zh: string;
  en: string;
}

interface DryRun {
  id: string;
  file: string;
  driver: string;
  layer: string;
  crs: string | null;
  needs_crs: boolean;
  notes: { zh: string; en: string }[];
  mode: 'insert' | 'join';
  join_field: 'house_number' | 'address' | null;
  fields: string[];
  targets: { field: string; required: boolean }[];
  mapping: Record<string, string>;
  key: string | null;
  rows: number;
  storable: number;
  preview: { row: number; household_id?: number; values: Record<string, unknown> }[];
  problems: Problem[];
  skipped: Problem[];
  bbox: [number, number, number, number] | null;
  areas?: AreasReport | null;
}

// Layer areas: what each container (village, hamlet, township) gets, and who changes grid.
interface AreasReport {
  created: number;
  reshaped: number;
  moved_households: number;
  containers: {
    id: number;
    name: string;
    areas: { row: number; id: number; code: string; name: string; reshaped: boolean }[];
    moves: { from_name: string | null; to_name: string | null; households: number }[] | null;
    notes: { zh: string; en: string }[] | null;
    gaps: { area_m2: number; households: number } | null;
  }[];
}

interface Report {
  file: string;
  layer: string;
  mode: string;
  crs: string;
  rows_read: number;
  stored: number;
  inserted: number;
  updated: number;
  skipped: Problem[];
  seconds: number;
  rows_per_second: number;
  bbox: [number, number, number, number] | null;
  areas?: AreasReport | null;
}

type JobStatus =
  | { state: 'uploaded' }
  | { state: 'running'; done: number; total: number; rows_per_second: number }
  | { state: 'done'; report: Report }
  | { state: 'failed'; zh: string; en: string };

interface PageState {
  dry: DryRun | null;
  job: JobStatus | null;
  error: string | null;
  busy: boolean;
}

const state: PageState = { dry: null, job: null, error: null, busy: false };

const el = <K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
};

let root: HTMLElement;
let form: HTMLFormElement;

function problemText(p: Problem): string {
  const where = p.row > 0 ? mtf('row', { n: p.row }) : mt('file0');
  const field = p.field ? ` [${targetLabel(p.field)}]` : '';
  return `${where}${field}: ${lang() === 'en' ? p.en : p.zh}`;
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// ---- the form: file, layer, coordinates -------------------------------------------------------

const CRS_CHOICES = ['', 'EPSG:4326', 'EPSG:4490', 'gcj02', 'bd09', 'other'] as const;
const CRS_LABEL: Record<(typeof CRS_CHOICES)[number], Parameters<typeof mt>[0]> = {
  '': 'crs.file',
  'EPSG:4326': 'crs.4326',
  'EPSG:4490': 'crs.4490',
  gcj02: 'crs.gcj02',
  bd09: 'crs.bd09',
  other: 'crs.other',
};

function chosenCrs(): string {
  const v = (form.elements.namedItem('crs') as HTMLSelectElement).value;
  if (v === 'other') {
    const code = (form.elements.namedItem('epsg') as HTMLInputElement).value.trim();
    return code ? `EPSG:${code.replace(/^epsg:/i, '')}` : '';
  }
  return v;
}

function chosenLayer(): string {
  return (form.elements.namedItem('layer') as HTMLSelectElement).value;
}

const KINDS = ['grid', 'lane', 'village', 'hamlet'] as const;

// The area kind and trim, for layer areas only.
function areaOptions(): { kind?: string; trim?: boolean } {
  if (chosenLayer() !== 'areas') return {};
  return {
    kind: (form.elements.namedItem('kind') as HTMLSelectElement).value,
    trim: (form.elements.namedItem('trim') as HTMLInputElement).checked,
  };
}

function buildForm(): HTMLFormElement {
  const f = el('form', { class: 'imp-form', id: 'import-form', novalidate: '' });
  const file = el('input', { type: 'file', name: 'file', id: 'import-file', accept: '.xlsx,.xls,.ods,.csv,.geojson,.json,.gpkg,.zip,.kml,.kmz,.gpx,.dxf,.pbf,.osm' });
  const layer = el('select', { name: 'layer', id: 'import-layer' });
  const kind = el('select', { name: 'kind', id: 'import-kind' });
  const trim = el('input', { type: 'checkbox', name: 'trim', id: 'import-trim' });
  const trimLabel = el('label', { for: 'import-trim', class: 'imp-trim' });
  trimLabel.prepend(trim, el('span', { 'data-k': 'trim' }));
  const crs = el('select', { name: 'crs', id: 'import-crs' });
  const epsg = el('input', { name: 'epsg', id: 'import-epsg', inputmode: 'numeric', placeholder: '4547' });
  const submit = el('button', { type: 'submit', class: 'primary', id: 'import-upload' });
  f.append(
    el('label', { for: 'import-file', 'data-k': 'file' }),
    file,
    el('label', { for: 'import-layer', 'data-k': 'layer' }),
    layer,
    el('label', { for: 'import-kind', 'data-k': 'kind', class: 'imp-kind' }),
    kind,
    trimLabel,
    el('label', { for: 'import-crs', 'data-k': 'crs' }),
    crs,
    el('label', { for: 'import-epsg', 'data-k': 'crs.code', class: 'imp-epsg' }),
    epsg,
    submit,
  );
  crs.addEventListener('change', () => renderForm());
  f.addEventListener('submit', (e) => {
    e.preventDefault();
    void upload();
  });
  kind.addEventListener('change', () => {
    if (state.dry) void recheck(true);
  });
  layer.addEventListener('change', () => {
    renderForm();
    // Another layer has other fields: a dry run on the same upload proposes them afresh.
    if (state.dry) void recheck(true);
  });
  return f;
}

function renderForm(): void {
  form.querySelectorAll<HTMLElement>('[data-k]').forEach((n) => (n.textContent = mt(n.dataset.k as Parameters<typeof mt>[0])));
  const layer = form.elements.namedItem('layer') as HTMLSelectElement;
  const keepLayer = layer.value || 'households';
  layer.replaceChildren(...['households', 'facilities', 'hazards', 'roads', 'areas'].map((l) => el('option', { value: l }, mt(`layer.${l}` as 'layer.households'))));
  layer.value = keepLayer;
  const kind = form.elements.namedItem('kind') as HTMLSelectElement;
  const keepKind = kind.value || 'grid';
  kind.replaceChildren(...KINDS.map((k) => el('option', { value: k }, mt(`kind.${k}`))));
  kind.value = keepKind;
  const areas = layer.value === 'areas';
  form.querySelectorAll<HTMLElement>('.imp-kind, #import-kind, .imp-trim').forEach((n) => (n.hidden = !areas));
  const crs = form.elements.namedItem('crs') as HTMLSelectElement;
  const keepCrs = crs.value;
  crs.replaceChildren(...CRS_CHOICES.map((c) => el('option', { value: c }, mt(CRS_LABEL[c]))));
  crs.value = keepCrs;
  const other = crs.value === 'other';
  form.querySelectorAll<HTMLElement>('.imp-epsg, #import-epsg').forEach((n) => (n.hidden = !other));
  crs.classList.toggle('imp-attention', !!state.dry?.needs_crs);
  const submit = form.querySelector<HTMLButtonElement>('#import-upload')!;
  submit.textContent = state.busy && !state.dry ? mt('uploading') : mt('upload');
  submit.disabled = state.busy;
}

// ---- calls ---------------------------------------------------------------------------------

async function errorOf(res: Response): Promise<ApiError> {
  let message = `${res.status} ${res.statusText}`;
  let code: string | undefined;
  try {
    const body = (await res.json()) as { error?: { message?: string; code?: string } };
    if (body.error?.message) message = body.error.message;
    code = body.error?.code;
  } catch {
    /* not JSON */
  }
  return new ApiError(res.status, code, message, true);
}

async function upload(): Promise<void> {
  const input = form.elements.namedItem('file') as HTMLInputElement;
  const file = input.files?.[0];
  if (!file) {
    state.error = mt('needFile');
    render();
    return;
  }
  const data = new FormData();
  data.append('layer', chosenLayer());
  const area = areaOptions();
  if (area.kind) data.append('kind', area.kind);
  if (area.trim) data.append('trim', 'true');
  const crs = chosenCrs();
  if (crs) data.append('crs', crs);
  data.append('file', file, file.name);
  state.busy = true;
  state.error = null;
  state.dry = null;
  state.job = null;
  render();
  try {
    const res = await fetch('/api/imports', {
      method: 'POST',
      body: data,
      credentials: 'same-origin',
      headers: { accept: 'application/json', 'accept-language': lang() === 'en' ? 'en' : 'zh-CN' },
    });
    if (!res.ok) throw await errorOf(res);
    state.dry = (await res.json()) as DryRun;
  } catch (e) {
    state.error = messageOf(e);
  } finally {
    state.busy = false;
    render();
  }
}

function currentMapping(): Record<string, string> {
  const out: Record<string, string> = {};
  root.querySelectorAll<HTMLSelectElement>('select[data-target]').forEach((s) => {
    if (s.value) out[s.dataset.target!] = s.value;
  });
  return out;
}

function options(fresh: boolean): Record<string, unknown> {
  const key = root.querySelector<HTMLSelectElement>('#import-key')?.value || null;
  return { layer: chosenLayer(), ...areaOptions(), crs: chosenCrs() || null, mapping: fresh ? undefined : currentMapping(), key };
}

async function recheck(fresh = false): Promise<void> {
  if (!state.dry) return;
  // Read the selectors before the busy render rebuilds them.
  const body = options(fresh);
  state.busy = true;
  state.error = null;
  render();
  try {
    const res = await apiFetch(`/api/imports/${state.dry.id}/dry-run`, { method: 'POST', body, cache: 'no-store' });
    if (!res.ok) throw await errorOf(res);
    state.dry = (await res.json()) as DryRun;
  } catch (e) {
    state.error = messageOf(e);
  } finally {
    state.busy = false;
    render();
  }
}

async function commit(): Promise<void> {
  if (!state.dry) return;
  const id = state.dry.id;
  const body = options(false);
  state.busy = true;
  state.error = null;
  render();
  try {
    const res = await apiFetch(`/api/imports/${id}/commit`, { method: 'POST', body, cache: 'no-store' });
    if (!res.ok) throw await errorOf(res);
    const started = (await res.json()) as { total: number };
    state.job = { state: 'running', done: 0, total: started.total, rows_per_second: 0 };
    render();
    root.querySelector('#import-job')?.scrollIntoView({ block: 'start' });
    await poll(id);
  } catch (e) {
    state.error = messageOf(e);
  } finally {
    state.busy = false;
    render();
  }
}

async function poll(id: string): Promise<void> {
  for (;;) {
    await new Promise((r) => setTimeout(r, 400));
    const res = await apiFetch(`/api/imports/${id}`, { cache: 'no-store' });
    if (!res.ok) throw await errorOf(res);
    state.job = (await res.json()) as JobStatus;
    render();
    if (state.job.state !== 'running') return;
  }
}

// ---- rendering -----------------------------------------------------------------------------

function section(title: string, cls = ''): HTMLElement {
  const s = el('section', { class: `imp-section ${cls}`.trim() });
  s.append(el('h2', {}, title));
  return s;
}

const SHOWN = 200;

function problemList(list: Problem[], cls: string, id: string): HTMLElement {
  const ul = el('ul', { class: `imp-problems ${cls}`, id });
  // A phone cannot show 20,000 lines: the first ones, then how many more (the API has them all).
  for (const p of list.slice(0, SHOWN)) {
    const li = el('li', { 'data-row': String(p.row) }, problemText(p));
    ul.append(li);
  }
  if (list.length > SHOWN) ul.append(el('li', { class: 'imp-more' }, mtf('more', { n: list.length - SHOWN })));
  return ul;
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) return v.join('、');
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(6);
  return String(v);
}

function renderDry(d: DryRun): HTMLElement {
  const wrap = el('div', { id: 'import-dry' });
  const head = section(mt('dry.title'));
  head.append(el('p', { class: 'imp-file' }, mtf('dry.file', { file: d.file, rows: d.rows, ok: d.storable })));
  if (d.needs_crs) head.append(el('p', { class: 'imp-warn', id: 'import-needs-crs' }, mt('dry.needsCrs')));
  else if (d.mode === 'join') head.append(el('p', { class: 'imp-note' }, mtf('dry.join', { field: mt(`field.${d.join_field ?? 'house_number'}`) })));
  else if (d.crs) head.append(el('p', { class: 'imp-note' }, mtf('dry.crs', { crs: d.crs })));
  for (const n of d.notes ?? []) head.append(el('p', { class: 'imp-note source-note' }, lang() === 'en' ? n.en : n.zh));
  wrap.append(head);

  const map = section(mt('mapping'));
  map.append(el('p', { class: 'imp-note' }, mt('mapping.hint')));
  const grid = el('div', { class: 'imp-mapping', id: 'import-mapping' });
  const sourceOptions = (selected: string | undefined) => {
    const opts = [el('option', { value: '' }, mt('mapping.none'))];
    for (const f of d.fields) {
      const o = el('option', { value: f }, f);
      if (f === selected) o.selected = true;
      opts.push(o);
    }
    return opts;
  };
  for (const t of d.targets) {
    const id = `map-${t.field}`;
    const label = el('label', { for: id }, targetLabel(t.field) + (t.required ? ' *' : ''));
    const select = el('select', { id, 'data-target': t.field });
    select.append(...sourceOptions(d.mapping[t.field]));
    select.addEventListener('change', () => void recheck());
    grid.append(label, select);
  }
  const keyLabel = el('label', { for: 'import-key' }, mt('mapping.key'));
  const key = el('select', { id: 'import-key' });
  key.append(...sourceOptions(d.key ?? undefined));
  key.addEventListener('change', () => void recheck());
  // Hazards and roads keep no import key: a second import adds them again.
  if (d.layer === 'households' || d.layer === 'facilities') grid.append(keyLabel, key);
  map.append(grid);
  const again = el('button', { type: 'button', id: 'import-recheck' }, mt('recheck'));
  again.disabled = state.busy;
  again.addEventListener('click', () => void recheck());
  map.append(again);
  wrap.append(map);

  if (d.preview.length) {
    const prev = section(mt('preview'));
    const columns: Record<string, string[]> = {
      join: ['house_number', 'address', 'head_name', 'members', 'phone', 'tags'],
      households: ['head_name', 'house_number', 'members', 'phone', 'tags', 'lon', 'lat'],
      facilities: ['kind', 'name', 'capacity', 'lon', 'lat'],
      hazards: ['kind', 'severity', 'name', 'geometry_type', 'lon', 'lat'],
      roads: ['class', 'name', 'parts', 'lon', 'lat'],
      areas: ['code', 'name', 'parts', 'lon', 'lat'],
    };
    const shown = columns[d.mode === 'join' ? 'join' : d.layer] ?? columns.facilities;
    const table = el('table', { class: 'imp-preview', id: 'import-preview' });
    const tr = el('tr');
    tr.append(el('th', {}, mt('preview.row')));
    if (d.mode === 'join') tr.append(el('th', {}, mt('preview.household')));
    for (const c of shown) tr.append(el('th', {}, targetLabel(c)));
    table.append(el('thead'), el('tbody'));
    table.tHead!.append(tr);
    for (const r of d.preview) {
      const row = el('tr');
      row.append(el('td', {}, String(r.row)));
      if (d.mode === 'join') row.append(el('td', {}, String(r.household_id ?? '')));
      for (const c of shown) row.append(el('td', {}, cell(r.values[c])));
      table.tBodies[0].append(row);
    }
    const scroll = el('div', { class: 'imp-scroll' });
    scroll.append(table);
    prev.append(scroll);
    wrap.append(prev);
  }

  if (d.areas) wrap.append(renderAreas(d.areas, 'import-areas'));
  const probs = section(mtf('problems', { n: d.problems.length }), d.problems.length ? 'imp-bad' : 'imp-good');
  if (d.problems.length) {
    probs.append(el('p', { class: 'imp-note' }, mt('problems.hint')));
    probs.append(problemList(d.problems, '', 'import-problems'));
  } else probs.append(el('p', { id: 'import-problems', class: 'imp-ok' }, mt('problems.none')));
  wrap.append(probs);
  if (d.skipped.length) {
    const sk = section(mtf('skipped', { n: d.skipped.length }));
    sk.append(problemList(d.skipped, 'imp-skipped', 'import-skipped'));
    wrap.append(sk);
  }
  if (!state.job) {
    const go = el('button', { type: 'button', class: 'primary imp-commit', id: 'import-commit' }, state.busy ? mt('committing') : mtf('commit', { n: d.storable }));
    go.disabled = state.busy || d.problems.length > 0 || d.storable === 0 || d.needs_crs;
    go.addEventListener('click', () => void commit());
    wrap.append(go);
  }
  return wrap;
}

// Per container: each area created or reshaped (with its row), the households that change
// grid, what the editor did to the shapes, and the part no grid covers.
function renderAreas(a: AreasReport, id: string): HTMLElement {
  const s = section(mtf('areas.title', { created: a.created, reshaped: a.reshaped, moved: a.moved_households }), 'imp-areas');
  s.id = id;
  for (const c of a.containers) {
    s.append(el('h3', {}, c.name));
    const ul = el('ul', { class: 'imp-area-list' });
    for (const x of c.areas) {
      ul.append(el('li', { 'data-row': String(x.row) }, `${mtf('row', { n: x.row })}: ${mt(x.reshaped ? 'areas.reshaped' : 'areas.created')} ${x.code} ${x.name}`));
    }
    const none = mt('areas.nogrid');
    for (const m of c.moves ?? []) {
      ul.append(el('li', { class: 'imp-move' }, mtf('areas.moves', { n: m.households, from: m.from_name ?? none, to: m.to_name ?? none })));
    }
    for (const n of c.notes ?? []) ul.append(el('li', { class: 'imp-note' }, lang() === 'en' ? n.en : n.zh));
    if (c.gaps && c.gaps.households > 0) {
      ul.append(el('li', { class: 'imp-warn' }, mtf('areas.gap', { m2: Math.round(c.gaps.area_m2), n: c.gaps.households })));
    }
    s.append(ul);
  }
  return s;
}

function mapLink(b: [number, number, number, number] | null): string {
  if (!b) return '/';
  // A single point still needs a box the map can fit: about 100 m around it.
  const pad = 0.001;
  const box = [b[0] - pad, b[1] - pad, b[2] + pad, b[3] + pad].map((v) => v.toFixed(6));
  return `/?bbox=${box.join(',')}`;
}

function renderJob(job: JobStatus): HTMLElement {
  const s = section(job.state === 'done' ? mt('report.title') : mt('committing'), 'imp-job');
  s.id = 'import-job';
  if (job.state === 'running') {
    const bar = el('progress', { id: 'import-progress', max: String(Math.max(job.total, 1)), value: String(job.done) });
    s.append(bar, el('p', { class: 'imp-note', id: 'import-rate' }, mtf('progress', { done: job.done, total: job.total, rate: Math.round(job.rows_per_second) })));
  } else if (job.state === 'failed') {
    s.append(el('p', { class: 'imp-warn', id: 'import-failed' }, mt('report.failed') + (lang() === 'en' ? job.en : job.zh)));
  } else if (job.state === 'done') {
    const r = job.report;
    const dl = el('dl', { class: 'imp-report', id: 'import-report' });
    const add = (k: string, v: string, id: string) => dl.append(el('dt', {}, k), el('dd', { id }, v));
    add(mt('report.read'), String(r.rows_read), 'report-read');
    add(mt('report.stored'), mtf('report.storedCounts', { n: r.stored, inserted: r.inserted, updated: r.updated }), 'report-stored');
    add(mt('report.skipped'), String(r.skipped.length), 'report-skipped');
    add(mt('report.crs'), r.crs, 'report-crs');
    s.append(dl);
    if (r.skipped.length) s.append(problemList(r.skipped, 'imp-skipped', 'report-skipped-rows'));
    if (r.areas) s.append(renderAreas(r.areas, 'report-areas'));
    const links = el('p', { class: 'imp-links' });
    const a = el('a', { href: mapLink(r.bbox), id: 'import-show-map', class: 'imp-button primary' }, mt('report.map'));
    const again = el('a', { href: '/import', class: 'imp-button' }, mt('again'));
    links.append(a, again);
    s.append(links);
  }
  return s;
}

// ---- export -------------------------------------------------------------------------------

const EXPORT_LAYERS = ['households', 'areas', 'facilities', 'hazards', 'roads'] as const;
const EXPORT_FORMATS = ['xlsx', 'gpkg', 'shp', 'kml', 'geojson', 'csv'] as const;
const EXPORT_CRS = ['4326', '4490'] as const;

/** A layer as a file: the link is the download (GET /api/exports/{layer}), built from the choices. */
function buildExport(): HTMLElement {
  const s = el('section', { class: 'imp-section imp-export', id: 'export' });
  const layer = el('select', { id: 'export-layer' });
  const format = el('select', { id: 'export-format' });
  const crs = el('select', { id: 'export-crs' });
  const link = el('a', { id: 'export-download', class: 'imp-button primary', download: '' });
  s.append(
    el('h2', { 'data-k': 'export.title' }),
    el('p', { 'data-k': 'export.intro', class: 'imp-intro' }),
    el('label', { for: 'export-layer', 'data-k': 'export.layer' }),
    layer,
    el('label', { for: 'export-format', 'data-k': 'export.format' }),
    format,
    el('label', { for: 'export-crs', 'data-k': 'export.crs' }),
    crs,
    link,
  );
  const update = () => {
    link.href = `/api/exports/${layer.value}?format=${format.value}&crs=${crs.value}`;
  };
  [layer, format, crs].forEach((n) => n.addEventListener('change', update));
  return s;
}

function renderExport(): void {
  const s = root.querySelector<HTMLElement>('#export');
  if (!s) return;
  s.querySelectorAll<HTMLElement>('[data-k]').forEach((n) => (n.textContent = mt(n.dataset.k as Parameters<typeof mt>[0])));
  const fill = (id: string, values: readonly string[], label: (v: string) => string) => {
    const select = s.querySelector<HTMLSelectElement>(id)!;
    const keep = select.value || values[0];
    select.replaceChildren(...values.map((v) => el('option', { value: v }, label(v))));
    select.value = keep;
  };
  fill('#export-layer', EXPORT_LAYERS, (l) => mt(l === 'areas' ? 'export.layer.areas' : (`layer.${l}` as 'layer.households')));
  fill('#export-format', EXPORT_FORMATS, (f) => mt(`format.${f}` as 'format.xlsx'));
  fill('#export-crs', EXPORT_CRS, (c) => mt(`crs.${c}` as 'crs.4326'));
  const link = s.querySelector<HTMLAnchorElement>('#export-download')!;
  link.textContent = mt('export.download');
  s.querySelector('#export-layer')!.dispatchEvent(new Event('change'));
}

function render(): void {
  renderForm();
  const out = root.querySelector<HTMLElement>('#import-out')!;
  out.replaceChildren();
  if (state.error) out.append(el('p', { class: 'imp-warn', id: 'import-error', role: 'alert' }, state.error));
  if (state.job && state.job.state !== 'uploaded') out.append(renderJob(state.job));
  if (state.dry && !(state.job && state.job.state === 'done')) out.append(renderDry(state.dry));
  root.querySelector<HTMLElement>('h1')!.textContent = mt('title');
  root.querySelector<HTMLElement>('.imp-intro')!.textContent = mt('intro');
  renderExport();
}

export async function startImport(): Promise<void> {
  const me = await fetchMe();
  if (!me) {
    location.assign('/login?next=/import');
    return;
  }
  root = el('main', { id: 'import-view', class: 'import-view' });
  root.append(el('h1'), el('p', { class: 'imp-intro' }));
  const roles = new Set((me.roles ?? []).map((r) => r.role));
  if (!roles.has('township_admin') && !roles.has('village_cadre')) {
    // Everyone signed in may still take the layers out, as far as their area reaches.
    root.append(el('p', { class: 'imp-note', id: 'import-error' }, mt('noRole')), buildExport());
    document.body.append(root);
    const header = () => {
      root.querySelector<HTMLElement>('h1')!.textContent = mt('title');
      root.querySelector<HTMLElement>('.imp-intro')!.textContent = mt('intro');
      renderExport();
    };
    onLangChange(header);
    header();
    return;
  }
  form = buildForm();
  root.append(form, el('div', { id: 'import-out' }), buildExport());
  document.body.append(root);
  window.__cuntuImport = { state: () => state };
  onLangChange(() => render());
  render();
}
