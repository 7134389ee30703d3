// The server's JSON API, same origin, relative URLs. Every call goes through `apiFetch`, which
// sends the page language as Accept-Language (the server localises its error messages by it) and
// the session cookie (HttpOnly: the page never sees the token).
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
