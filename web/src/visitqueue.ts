// Visits recorded without a connection wait here until the server has them.
//
// IndexedDB rather than localStorage: a visit may carry a photo of up to 3 MB as a data URL, and
// localStorage holds about 5 MB in all. Each entry keeps the client_id it was made with, so sending
// it twice (a reply lost on the way back, two tabs flushing at once) is still one visit: the server
// answers the replay with `duplicate: true`. Entries belong to the user who recorded them; another
// user on the same phone neither sends nor sees them.
import { ApiError, postVisit, type Visit, type VisitRequest } from './api';

export interface QueuedVisit {
  client_id: string;
  user: string;
  body: VisitRequest;
  queued_at: string;
  /** the server refused it (not a network problem): kept for the worker to read, not retried */
  error?: string;
}

const DB_NAME = 'cuntu-worker';
const STORE = 'visits';

let dbPromise: Promise<IDBDatabase> | null = null;
// Without IndexedDB (private modes of some browsers) the queue lives as long as the page.
const memory = new Map<string, QueuedVisit>();

function db(): Promise<IDBDatabase> {
  dbPromise ??= new Promise<IDBDatabase>((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: 'client_id' });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  return dbPromise;
}

function run<T>(mode: IDBTransactionMode, f: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  return db().then(
    (d) =>
      new Promise<T>((resolve, reject) => {
        const tx = d.transaction(STORE, mode);
        const req = f(tx.objectStore(STORE));
        tx.oncomplete = () => resolve(req.result);
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error);
      }),
  );
}

async function withFallback<T>(idb: () => Promise<T>, mem: () => T): Promise<T> {
  try {
    return await idb();
  } catch (e) {
    console.warn('visit queue: IndexedDB unavailable, keeping the queue in memory', e);
    return mem();
  }
}

export function queued(user: string): Promise<QueuedVisit[]> {
  return withFallback(
    () => run('readonly', (s) => s.getAll() as IDBRequest<QueuedVisit[]>),
    () => [...memory.values()],
  ).then((all) => all.filter((q) => q.user === user).sort((a, b) => a.queued_at.localeCompare(b.queued_at)));
}

export function enqueue(q: QueuedVisit): Promise<void> {
  return withFallback(
    () => run('readwrite', (s) => s.put(q)).then(() => undefined),
    () => void memory.set(q.client_id, q),
  );
}

export function dequeue(clientId: string): Promise<void> {
  memory.delete(clientId);
  return withFallback(
    () => run('readwrite', (s) => s.delete(clientId)).then(() => undefined),
    () => undefined,
  );
}

/** A network failure, as opposed to an answer from the server (fetch rejects with TypeError). */
export function isNetworkError(e: unknown): boolean {
  return e instanceof TypeError || (e instanceof ApiError && (e.status === 0 || e.status === 502 || e.status === 503 || e.status === 504));
}

export interface FlushResult {
  sent: Array<{ queued: QueuedVisit; visit: Visit; duplicate: boolean }>;
  failed: number;
  /** stopped at a network error or an expired session: the rest stays queued */
  stopped: 'offline' | 'unauthorized' | null;
}

let flushing: Promise<FlushResult> | null = null;

/** Send the user's queue in the order it was recorded; one flush at a time. */
export function flush(user: string): Promise<FlushResult> {
  flushing ??= (async () => {
    const out: FlushResult = { sent: [], failed: 0, stopped: null };
    for (const q of await queued(user)) {
      if (q.error) continue;
      try {
        const r = await postVisit(q.body);
        await dequeue(q.client_id);
        out.sent.push({ queued: q, visit: r.visit, duplicate: r.duplicate });
      } catch (e) {
        if (isNetworkError(e)) {
          out.stopped = 'offline';
          break;
        }
        if (e instanceof ApiError && e.status === 401) {
          out.stopped = 'unauthorized';
          break;
        }
        // 5xx other than a gateway error may pass; try again at the next flush.
        if (e instanceof ApiError && e.status >= 500) {
          out.stopped = 'offline';
          break;
        }
        await enqueue({ ...q, error: e instanceof Error ? e.message : String(e) });
        out.failed++;
      }
    }
    return out;
  })().finally(() => {
    flushing = null;
  });
  return flushing;
}

/** crypto.randomUUID where the page is a secure context; otherwise random bits in the same shape. */
export function newClientId(): string {
  if (typeof crypto !== 'undefined' && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = new Uint8Array(16);
  if (typeof crypto !== 'undefined' && crypto.getRandomValues) crypto.getRandomValues(b);
  else for (let i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
