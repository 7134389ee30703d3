// The township leader's API (issue 7): /api/leader/*, JSON with the session cookie, roles leader and
// township_admin, scoped to their township. Counts below 5 arrive as the string "<5" for a role
// without the personal-data grant: the page shows them as they come.
import type { FeatureCollection, Geometry, LineString, MultiPolygon, Point, Polygon } from 'geojson';
import { ApiError, apiFetch } from './api';

export type HazardKind = 'landslide' | 'flood' | 'dangerous_house' | 'fire' | 'water';
export const HAZARD_KINDS: HazardKind[] = ['landslide', 'flood', 'dangerous_house', 'fire', 'water'];
export type Severity = 'low' | 'medium' | 'high';
export const SEVERITIES: Severity[] = ['high', 'medium', 'low'];

/** A count, or "<5" when it is too small to show to this role. */
export type Count = number | string;

export interface HazardProps {
  id: number;
  kind: HazardKind;
  kind_zh?: string;
  kind_en?: string;
  severity: Severity;
  name?: string | null;
  status?: 'open' | 'closed';
  version?: number;
  buffer_m?: number;
  households?: Count | null;
  persons?: Count | null;
}

export interface ZoneProps {
  id: number;
  kind: HazardKind;
  severity: Severity;
  buffer_m?: number;
}

export interface AreaCounts {
  households: Count;
  persons?: Count;
  tags?: Record<string, Count>;
}

export interface ExposedHousehold {
  id: number;
  lon: number;
  lat: number;
  head_name?: string | null;
  house_number?: string | null;
  tags?: string[];
  hazards?: number[];
  shelter?: { id: number; name?: string | null; distance_m?: number | null } | null;
}

export interface ShelterRow {
  id: number;
  name?: string | null;
  capacity?: number | null;
  lon: number;
  lat: number;
  assigned_households?: Count;
  assigned_persons?: Count;
  over_capacity?: boolean;
}

export interface Exposure {
  hazards: number[];
  personal: boolean;
  total: AreaCounts;
  villages: Array<AreaCounts & { id: number; name: string }>;
  grids: Array<AreaCounts & { id: number; name: string; village?: string | null }>;
  households: ExposedHousehold[];
  shelters: ShelterRow[];
}

export interface ShelterRoute {
  shelter: { id: number; name?: string | null; capacity?: number | null; lon?: number; lat?: number };
  distance_m: number;
  walking_minutes?: number;
  line: LineString | null;
}

export type ChoroLevel = 'village' | 'grid';
export type ChoroMetric = 'households' | 'key_population' | 'coverage' | 'incidents';
/** What the server maps; `incidents` is the open incidents per area (label "3（逾期 1）" with the overdue ones). */
export const CHORO_METRICS: ChoroMetric[] = ['households', 'key_population', 'coverage', 'incidents'];

export interface ChoroProps {
  id: number;
  name: string;
  /** the village of a grid */
  village?: string | null;
  value: number | null;
  label?: string | null;
  /** metric=incidents: open incidents and the overdue among them */
  open_incidents?: number | null;
  overdue_incidents?: number | null;
}

export interface Choropleth extends FeatureCollection<Polygon | MultiPolygon, ChoroProps> {
  breaks?: number[];
  metric?: string;
  unit_zh?: string;
  unit_en?: string;
}

export interface Dashboard {
  township: { id: number; name: string };
  villages: number;
  grids: number;
  households: number;
  persons: number;
  key_population: Record<string, Count>;
  coverage: { visited: number; total: number; key_visited: number; key_total: number };
  hazards: { by_kind: Record<string, number>; by_severity: Record<string, number> };
  exposed_households: Count;
  exposed_persons?: Count;
  shelters: { count: number; capacity: number; over_capacity?: number };
}

export interface Noticeboard {
  grid: { id: number; name: string; village?: string | null; households?: number | null };
  geometry?: Polygon | MultiPolygon | null;
  leader: { name: string; phone?: string | null } | null;
  workers: Array<{ name: string; phone?: string | null }>;
}

async function get<T>(url: string): Promise<T> {
  const res = await apiFetch(url, { cache: 'no-store' });
  if (!res.ok) {
    let message = `${res.status} ${res.statusText} ${url}`;
    let code: string | undefined;
    let fromServer = false;
    try {
      const body = (await res.json()) as { error?: { code?: string; message?: string } };
      if (body?.error?.message) {
        message = body.error.message;
        fromServer = true;
      }
      code = body?.error?.code;
    } catch {
      /* not JSON */
    }
    throw new ApiError(res.status, code, message, fromServer);
  }
  return (await res.json()) as T;
}

const ids = (hazards: number[] | null) => (hazards && hazards.length ? `?hazards=${hazards.join(',')}` : '');

export const fetchHazards = () => get<FeatureCollection<Geometry, HazardProps>>('/api/leader/hazards');
export const fetchZones = () => get<FeatureCollection<Polygon | MultiPolygon, ZoneProps>>('/api/leader/hazard-zones');
/** `null` or empty: every open hazard. */
export const fetchExposure = (hazards: number[] | null) => get<Exposure>(`/api/leader/exposure${ids(hazards)}`);
export const exposureDownloadUrl = (format: 'xlsx' | 'csv', hazards: number[] | null) => `/api/leader/exposure.${format}${ids(hazards)}`;
export const fetchShelterRoute = (household: number) => get<ShelterRoute>(`/api/leader/shelter-route?household=${household}`);
export const fetchChoropleth = (level: ChoroLevel, metric: ChoroMetric) => get<Choropleth>(`/api/leader/choropleth?level=${level}&metric=${metric}`);
export const fetchDashboard = () => get<Dashboard>('/api/leader/dashboard');
export const fetchHeat = () => get<FeatureCollection<Point, { weight?: number }>>('/api/leader/heat');
export const fetchNoticeboard = (grid: number) => get<Noticeboard>(`/api/leader/noticeboard/${grid}`);

// ---- hazard upkeep and evacuations -------------------------------------------

async function send<T>(url: string, method: string, body: unknown): Promise<T> {
  const res = await apiFetch(url, { method, body, cache: 'no-store' });
  if (!res.ok) {
    let message = `${res.status} ${res.statusText} ${url}`;
    let code: string | undefined;
    let fromServer = false;
    try {
      const b = (await res.json()) as { error?: { code?: string; message?: string } };
      if (b?.error?.message) {
        message = b.error.message;
        fromServer = true;
      }
      code = b?.error?.code;
    } catch {
      /* not JSON */
    }
    throw new ApiError(res.status, code, message, fromServer);
  }
  return (await res.json()) as T;
}

export interface Inspection {
  id: number;
  by?: string | null;
  note: string;
  created_at: string;
}

export interface EvacuationRow {
  evacuation: { id: number; name: string; hazard_ids: number[]; created_by?: string | null; created_at: string };
  tally: { total: number; by_status: Record<string, number> };
}

export const EVACUEE_STATES = ['pending', 'moved', 'refused', 'away', 'needs_help'] as const;

/** PATCH a hazard (severity, status open/closed) at the version read; 409 when someone was first. */
export const updateHazard = (id: number, body: { severity?: string; status?: string; version: number }) =>
  send<{ id: number; version: number; status: string }>(`/api/hazards/${id}`, 'PATCH', body);
export const fetchInspections = (id: number) => get<{ id: number; inspections: Inspection[] }>(`/api/hazards/${id}/inspections`);
export const addInspection = (id: number, note: string) => send<{ id: number }>(`/api/hazards/${id}/inspections`, 'POST', { note });
export const fetchEvacuations = () => get<EvacuationRow[]>('/api/leader/evacuations');
export const createEvacuation = (name: string, hazards: number[]) => send<{ id: number; households: number }>('/api/leader/evacuations', 'POST', { name, hazards });
