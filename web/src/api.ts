// The server's JSON API, same origin, relative URLs. Every call goes through `apiFetch`, which
// sends the page language as Accept-Language (the server localises its error messages by it) and
// the session cookie (HttpOnly: the page never sees the token).
import type { Feature, FeatureCollection, LineString, MultiPolygon, Point, Polygon, Position } from 'geojson';
import { lang } from './i18n';

export interface Summary {
  bbox: [number, number, number, number];
  counts?: Partial<Record<'townships' | 'villages' | 'grids' | 'households' | 'facilities' | 'hazards' | 'roads' | 'waterways', number>>;
}

export interface TileLayerInfo {
  id: string;
  url: string;
  title?: Record<string, string>;
}

export interface ChainItem {
  id: number;
  kind: string;
  name: string;
  code?: string;
}

export interface AreaDetail {
  id: number;
  kind: string;
  code?: string;
  name: string;
  parent_id?: number | null;
  households?: number | null;
  area_km2?: number | null;
  chain?: ChainItem[];
}

export interface RoleAssignment {
  role: string;
  area_id: number;
  area_name?: string;
  area_kind?: string;
  grants?: string[];
}

export interface User {
  id: number;
  username: string;
  display_name?: string;
  roles?: RoleAssignment[];
}

/** Personal data of one household; a field the role may not see is absent or null. */
export interface HouseholdDetail {
  id: number;
  house_number?: string | null;
  address?: string | null;
  grid_id?: number | null;
  grid_name?: string | null;
  head_name?: string | null;
  members?: number | null;
  phone?: string | null;
  id_card?: string | null;
  tags?: string[] | null;
  party_central?: boolean | null;
}

/** An HTTP error from the API, carrying the server's (localised) message when it sent one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    message: string,
    /** true when `message` came from the server's JSON error body */
    readonly fromServer: boolean,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

interface CallInit {
  method?: string;
  body?: unknown;
  /** 'no-store' for anything that depends on the session */
  cache?: RequestCache;
}

function acceptLanguage(): string {
  return lang() === 'en' ? 'en' : 'zh-CN,zh;q=0.9';
}

/** fetch with the page language and the session cookie; the body, if any, is sent as JSON. */
export function apiFetch(url: string, init: CallInit = {}): Promise<Response> {
  const headers: Record<string, string> = {
    accept: 'application/json',
    'accept-language': acceptLanguage(),
  };
  let body: string | undefined;
  if (init.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(init.body);
  }
  return fetch(url, { method: init.method ?? 'GET', headers, body, credentials: 'same-origin', cache: init.cache ?? 'default' });
}

/** Turn a non-2xx response into an ApiError, using `{"error":{"status","code","message"}}` when present. */
async function errorOf(res: Response, url: string): Promise<ApiError> {
  let code: string | undefined;
  let message: string | undefined;
  try {
    const body = (await res.json()) as { error?: { code?: unknown; message?: unknown } };
    if (body && typeof body.error === 'object' && body.error) {
      if (typeof body.error.code === 'string') code = body.error.code;
      if (typeof body.error.message === 'string' && body.error.message.trim()) message = body.error.message;
    }
  } catch {
    /* not JSON */
  }
  return new ApiError(res.status, code, message ?? `${res.status} ${res.statusText} ${url}`, message !== undefined);
}

async function call<T>(url: string, init: CallInit = {}): Promise<T> {
  const res = await apiFetch(url, init);
  if (!res.ok) throw await errorOf(res, url);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

export const fetchSummary = () => call<Summary>('api/summary');

export async function fetchTileLayers(): Promise<TileLayerInfo[]> {
  const body = await call<{ layers: TileLayerInfo[] }>('tiles');
  return body.layers ?? [];
}

const areaCache = new Map<number, Promise<AreaDetail>>();

export function fetchArea(id: number): Promise<AreaDetail> {
  let p = areaCache.get(id);
  if (!p) {
    p = call<AreaDetail>(`api/areas/${encodeURIComponent(String(id))}`);
    p.catch(() => areaCache.delete(id));
    areaCache.set(id, p);
  }
  return p;
}

// ---- accounts ---------------------------------------------------------------

export async function login(username: string, password: string): Promise<User> {
  const body = await call<{ user: User }>('api/login', { method: 'POST', body: { username, password }, cache: 'no-store' });
  return body.user;
}

export async function logout(): Promise<void> {
  await call<void>('api/logout', { method: 'POST', cache: 'no-store' });
}

/** The logged-in user, or null when there is no (valid) session. */
export async function fetchMe(): Promise<User | null> {
  try {
    const body = await call<{ user: User | null }>('api/me', { cache: 'no-store' });
    return body?.user ?? null;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return null;
    throw e;
  }
}

export async function changePassword(currentPassword: string, newPassword: string): Promise<void> {
  await call<void>('api/me/password', {
    method: 'POST',
    body: { current_password: currentPassword, new_password: newPassword },
    cache: 'no-store',
  });
}

// Kept for the page's life: a language switch redraws the popup without asking (and logging) again.
const householdCache = new Map<number, Promise<HouseholdDetail>>();

export function fetchHousehold(id: number): Promise<HouseholdDetail> {
  let p = householdCache.get(id);
  if (!p) {
    p = call<HouseholdDetail>(`api/households/${encodeURIComponent(String(id))}`, { cache: 'no-store' });
    p.catch(() => householdCache.delete(id));
    householdCache.set(id, p);
  }
  return p;
}

// ---- grid editing (the /draw page) -----------------------------------------

export interface Village {
  id: number;
  code: string;
  name: string;
  township_id?: number;
}

export interface StaffMember {
  user_id: number;
  username: string;
  display_name?: string | null;
  duty?: 'leader' | 'worker';
}

export interface GridProps {
  id: number;
  code?: string;
  name: string;
  version: number;
  households: number;
  key_population?: number;
  parts?: number;
  staff?: StaffMember[];
}

export type GridFeature = Feature<MultiPolygon | Polygon, GridProps>;

export interface Gaps {
  area_m2?: number;
  households?: number;
  geometry?: MultiPolygon | Polygon | null;
}

export interface VillageGrids {
  village: Village & { geometry: MultiPolygon | Polygon };
  rule: { min_households: number; max_households: number };
  grids: FeatureCollection<MultiPolygon | Polygon, GridProps>;
  gaps?: Gaps | null;
}

export interface EditMove {
  from_id: number | null;
  from_name: string | null;
  to_id: number | null;
  to_name: string | null;
  households: number;
  key_population?: number;
}

/** What an edit did (or, for a dry run, would do). Fields the server does not send are absent. */
export interface EditResponse {
  report: {
    grids?: Array<{ id: number; code?: string; name: string; version?: number; households: number }>;
    removed?: number[];
    moves?: EditMove[];
    moved_households?: number;
    moved_key_population?: number;
    dry_run?: boolean;
    notes?: string[];
  };
  summary?: string;
  /** the moves as localised sentences */
  moves?: string[];
  warnings?: string[];
  gaps?: { area_m2?: number; households?: number; geometry?: MultiPolygon | Polygon | null } | null;
}

export interface HistoryVersion {
  version: number;
  name: string;
  geometry: MultiPolygon | Polygon | null;
  valid_from: string;
  valid_to: string | null;
  changed_by: string | { username?: string; display_name?: string } | null;
  operation: string;
}

export interface StaffAnswer {
  staff: StaffMember[];
  candidates: StaffMember[];
}

/** One grid edit, as the validate endpoint and the real call both take it. */
export type GridOp =
  | { op: 'split'; id: number; line: LineString; version: number }
  | { op: 'merge'; keep: { id: number; version: number }; absorb: { id: number; version: number } }
  | { op: 'create'; geometry: Polygon | MultiPolygon; trim: boolean; name?: string }
  | { op: 'update'; id: number; version: number; name?: string; geometry?: Polygon | MultiPolygon; trim?: boolean }
  | { op: 'delete'; id: number; version: number }
  | { op: 'move'; moves: Array<{ from: Position; to: Position }>; versions: Record<string, number> }
  | { op: 'restore'; id: number; version: number; to_version: number }
  | { op: 'accept'; features: DraftFeature[]; versions: Record<string, number>; keep_existing: boolean };

/** One grid of a proposal (nothing saved yet); `draft` numbers it from 1. */
export interface DraftProps {
  draft: number;
  households: number;
  key_population?: number;
  polsby_popper?: number;
  crosses_barrier?: boolean;
  parts?: number;
  within_rule: boolean;
  name?: string;
}

export type DraftFeature = Feature<MultiPolygon | Polygon, DraftProps>;

export interface ProposeRequest {
  min_households?: number;
  max_households?: number;
  target?: number;
  seed?: number;
  keep_existing?: boolean;
}

/** POST …/grids/propose: a division of the village the server computed but did not save. */
export interface Proposal {
  type: 'FeatureCollection';
  features: DraftFeature[];
  rule: { min_households: number; max_households: number };
  summary: {
    grids: number;
    households: number;
    within_rule: number;
    mean_polsby_popper: number | null;
    worst_polsby_popper: number | null;
    crossing_barriers: number;
    not_contiguous: number;
    elapsed_ms: number;
  };
  infeasible: string | null;
}

export interface GridRule {
  min_households: number;
  max_households: number;
}

export async function fetchVillages(): Promise<Village[]> {
  const body = await call<{ villages: Village[] }>('api/villages', { cache: 'no-store' });
  return body.villages ?? [];
}

export const fetchVillageGrids = (id: number) => call<VillageGrids>(`api/villages/${id}/grids`, { cache: 'no-store' });

/** The dry run of `op`: what saving it would do, or the error it would meet. */
export const validateGridOp = (villageId: number, op: GridOp) =>
  call<EditResponse>(`api/villages/${villageId}/grids/validate`, { method: 'POST', body: op, cache: 'no-store' });

/** Save `op` for real, through its own endpoint. */
export function saveGridOp(villageId: number, op: GridOp): Promise<EditResponse> {
  const post = (url: string, body: unknown) => call<EditResponse>(url, { method: 'POST', body, cache: 'no-store' });
  switch (op.op) {
    case 'split':
      return post(`api/areas/${op.id}/split`, { line: op.line, version: op.version });
    case 'merge':
      return post('api/areas/merge', { keep: op.keep, absorb: op.absorb });
    case 'create':
      return post(`api/villages/${villageId}/grids`, { geometry: op.geometry, trim: op.trim, name: op.name });
    case 'update': {
      const { op: _op, id, ...body } = op;
      return call<EditResponse>(`api/areas/${id}`, { method: 'PATCH', body, cache: 'no-store' });
    }
    case 'delete':
      return call<EditResponse>(`api/areas/${op.id}?version=${op.version}`, { method: 'DELETE', cache: 'no-store' });
    case 'move':
      return post(`api/villages/${villageId}/grids/move-vertices`, { moves: op.moves, versions: op.versions });
    case 'restore':
      return post(`api/areas/${op.id}/restore`, { version: op.version, to_version: op.to_version });
    case 'accept':
      return post(`api/villages/${villageId}/grids/accept`, { features: op.features, versions: op.versions, keep_existing: op.keep_existing });
  }
}

export const fetchHistory = (id: number) => call<{ id: number; versions: HistoryVersion[] }>(`api/areas/${id}/history`, { cache: 'no-store' });

export const fetchStaff = (id: number) => call<StaffAnswer>(`api/areas/${id}/staff`, { cache: 'no-store' });

export const saveStaff = (id: number, leader: number | null, workers: number[]) =>
  call<StaffAnswer>(`api/areas/${id}/staff`, { method: 'PUT', body: { leader, workers }, cache: 'no-store' });


export const proposeGrids = (villageId: number, req: ProposeRequest) =>
  call<Proposal>(`api/villages/${villageId}/grids/propose`, { method: 'POST', body: req, cache: 'no-store' });

export const saveGridRule = (townshipId: number, rule: GridRule) =>
  call<GridRule>(`api/townships/${townshipId}/grid-rule`, { method: 'PUT', body: rule, cache: 'no-store' });

// ---- the grid worker's page (/worker) ---------------------------------------

export type VisitState = 'visited' | 'due' | 'overdue';

/** One household of the worker's grids, as the overview lists it. */
export interface WorkerHouseholdProps {
  id: number;
  house_number?: string | null;
  head_name?: string | null;
  address?: string | null;
  members?: number | null;
  tags?: string[];
  tag_labels?: string[];
  key_population: boolean;
  grid_id: number;
  last_visit_at: string | null;
  cadence_days: number;
  due_at: string;
  /** negative = overdue by that many days */
  days_until_due: number;
  state: VisitState;
}

export interface WorkerOverview {
  grids: Array<{ id: number; code?: string; name: string; village_name?: string; geometry: MultiPolygon | Polygon }>;
  households: FeatureCollection<Point, WorkerHouseholdProps>;
  coverage: { quarter: string; total: number; visited: number; key_total: number; key_visited: number };
  cadence: Array<{ tag: string | null; label: string; days: number }>;
}

export interface SearchHit {
  id: number;
  house_number?: string | null;
  head_name?: string | null;
  address?: string | null;
  tags?: string[];
  tag_labels?: string[];
  grid_id?: number;
  grid_name?: string;
  lon: number;
  lat: number;
}

export interface Visit {
  id: number;
  visited_at: string;
  by?: string | { username?: string; display_name?: string } | null;
  found?: string | null;
  follow_up?: boolean;
  far_m?: number | null;
  flagged?: boolean;
  has_photo?: boolean;
}

/** The body of POST /api/visits; `client_id` makes a replay harmless (the server answers duplicate: true). */
export interface VisitRequest {
  client_id: string;
  household_id: number;
  visited_at: string;
  location?: { lon: number; lat: number; crs: 'wgs84' | 'gcj02' };
  found: string;
  follow_up: boolean;
  photo?: string;
}

export interface RouteAnswer {
  stops: Array<{ order: number; household_id: number; house_number?: string | null; head_name?: string | null; lon: number; lat: number; leg_m: number }>;
  line: LineString | null;
  distance_m: number;
  walking_minutes: number;
  unreachable?: number[];
}

export interface RouteRequest {
  from: [number, number];
  crs?: 'wgs84' | 'gcj02';
  households: number[];
}

// The SW answers this one from its cache when offline, so the page stays readable (web/public/sw.js).
export const fetchWorkerOverview = () => call<WorkerOverview>('api/worker/overview', { cache: 'no-store' });

export async function searchHouseholds(q: string, limit = 20): Promise<SearchHit[]> {
  const body = await call<{ households: SearchHit[] }>(`api/households/search?q=${encodeURIComponent(q)}&limit=${limit}`, { cache: 'no-store' });
  return body.households ?? [];
}

export async function fetchVisits(householdId: number): Promise<Visit[]> {
  const body = await call<{ visits: Visit[] }>(`api/households/${householdId}/visits`, { cache: 'no-store' });
  return body.visits ?? [];
}

/** Throws ApiError for an HTTP error, TypeError when the request never reached the server. */
export const postVisit = (v: VisitRequest) =>
  call<{ visit: Visit; duplicate: boolean }>('api/visits', { method: 'POST', body: v, cache: 'no-store' });

export const planRoute = (r: RouteRequest) => call<RouteAnswer>('api/route', { method: 'POST', body: r, cache: 'no-store' });

/** The same route as a GPX file (a track and the numbered waypoints). */
export async function routeGpx(r: RouteRequest): Promise<Blob> {
  const url = 'api/route?format=gpx';
  const res = await apiFetch(url, { method: 'POST', body: r, cache: 'no-store' });
  if (!res.ok) throw await errorOf(res, url);
  return res.blob();
}
