// The server's JSON API, same origin, relative URLs.

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

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { headers: { accept: 'application/json' } });
  if (!res.ok) throw new Error(`${res.status} ${res.statusText} ${url}`);
  return (await res.json()) as T;
}

export const fetchSummary = () => getJson<Summary>('api/summary');

export async function fetchTileLayers(): Promise<TileLayerInfo[]> {
  const body = await getJson<{ layers: TileLayerInfo[] }>('tiles');
  return body.layers ?? [];
}

const areaCache = new Map<number, Promise<AreaDetail>>();

export function fetchArea(id: number): Promise<AreaDetail> {
  let p = areaCache.get(id);
  if (!p) {
    p = getJson<AreaDetail>(`api/areas/${encodeURIComponent(String(id))}`);
    p.catch(() => areaCache.delete(id));
    areaCache.set(id, p);
  }
  return p;
}
