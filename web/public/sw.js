// The worker page's offline copy (registered by web/src/worker.ts only; scope `/` because the
// MapLibre web worker fetches the tiles and a worker is matched by its own script URL, /assets/…).
//
// Kept deliberately small: the page /worker, the bundled assets, the tile answers already seen and
// the last /api/worker/overview answer. Everything else (other API answers, other pages' navigations,
// POSTs) is left to the network, so nothing personal beyond the worker's own overview is stored.
// Network first for everything but the hashed assets: online, the worker always sees fresh data.
const CACHE = 'cuntu-worker-v1';

self.addEventListener('install', () => self.skipWaiting());

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) if (name.startsWith('cuntu-worker-') && name !== CACHE) await caches.delete(name);
      await self.clients.claim();
    })(),
  );
});

async function networkFirst(request, key) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(key ?? request, response.clone()).catch(() => {});
    return response;
  } catch (e) {
    const hit = await cache.match(key ?? request, { ignoreVary: true, ignoreSearch: false });
    if (hit) return hit;
    throw e;
  }
}

async function cacheFirst(request) {
  const cache = await caches.open(CACHE);
  const hit = await cache.match(request, { ignoreVary: true });
  if (hit) return hit;
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone()).catch(() => {});
  return response;
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  const path = url.pathname;
  if (request.mode === 'navigate') {
    // One key for /worker and /worker?…: the page is the same index.html.
    if (/^\/worker\/?$/.test(path)) event.respondWith(networkFirst(request, '/worker'));
    return;
  }
  if (path.startsWith('/assets/')) event.respondWith(cacheFirst(request));
  else if (path === '/tiles' || path.startsWith('/tiles/') || path === '/api/worker/overview' || path === '/favicon.svg') {
    event.respondWith(networkFirst(request));
  }
});
