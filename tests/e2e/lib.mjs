// Shared helpers of the browser tests (map.test.mjs, auth.test.mjs). Not a test file itself.
//
// Needs a running cuntu server at CUNTU_URL (serving web/dist at `/`, the API and the tiles, with
// the demo loaded: its users are in DEMO_USERS) and Debian's chromium at /usr/bin/chromium (or
// CHROMIUM=/path/to/chrome).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const BASE = (process.env.CUNTU_URL || 'http://127.0.0.1:18080').replace(/\/+$/, '');
export const ORIGIN = new URL(BASE).origin;
const EXECUTABLE = process.env.CHROMIUM || '/usr/bin/chromium';
const HERE = path.dirname(fileURLToPath(import.meta.url));
export const SHOTS = path.join(HERE, 'screenshots');
export const READY_TIMEOUT = 90_000;
export const TEST_TIMEOUT = 180_000;

const BACKGROUND = [0xf3, 0xf0, 0xe8]; // web/src/style.ts BACKGROUND

/** The users `cuntu demo load` creates (all in the first township, 冶河镇). */
export const DEMO_USERS = {
  admin: { password: 'cuntu-admin', role: 'township_admin', roleZh: '镇管理员', roleEn: 'Township administrator' },
  leader: { password: 'cuntu-leader', role: 'leader', roleZh: '镇领导', roleEn: 'Township leader' },
  cadre: { password: 'cuntu-cadre', role: 'village_cadre', roleZh: '村干部', roleEn: 'Village cadre' },
  worker: { password: 'cuntu-worker', role: 'grid_worker', roleZh: '网格员', roleEn: 'Grid worker' },
  dept: { password: 'cuntu-dept', role: 'department', roleZh: '部门', roleEn: 'Department' },
};

export async function launchBrowser() {
  fs.mkdirSync(SHOTS, { recursive: true });
  return chromium.launch({
    executablePath: EXECUTABLE,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // WebGL through SwiftShader, so MapLibre renders without a GPU.
      '--use-gl=angle',
      '--use-angle=swiftshader',
      '--enable-unsafe-swiftshader',
      '--ignore-gpu-blocklist',
    ],
  });
}

/** Log a browser context in through the API (the session cookie lands in the context's jar). */
export async function apiLogin(context, username) {
  const res = await context.request.post(`${BASE}/api/login`, {
    data: { username, password: DEMO_USERS[username].password },
    headers: { 'accept-language': 'zh-CN' },
  });
  assert.equal(res.status(), 200, `login of ${username}: HTTP ${res.status()} ${await res.text()}`);
  return (await res.json()).user;
}

/**
 * A fresh context and page that records every request, every response and every console error.
 * `allow(url, status)` names HTTP errors the test expects (such as 401 from /api/me when nobody is
 * logged in): they, and Chromium's console line about them, are not counted as errors.
 * `user` logs the context in through the API first.
 */
export async function newPage(browser, { viewport = { width: 1280, height: 800 }, mobile = false, user = null, allow = () => false } = {}) {
  const context = await browser.newContext({
    viewport,
    deviceScaleFactor: 1,
    isMobile: mobile,
    hasTouch: mobile,
    locale: 'zh-CN',
  });
  const me = user ? await apiLogin(context, user) : null;
  const page = await context.newPage();
  const requests = [];
  const responses = [];
  const errors = [];
  const state = { failEarly: null };
  const error = (msg) => {
    errors.push(msg);
    state.failEarly?.(msg);
  };
  page.on('request', (r) => requests.push(r.url()));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    const status = /status of (\d{3})/.exec(text)?.[1];
    const url = m.location()?.url ?? '';
    if (status && allow(url, Number(status))) return;
    error(`console: ${text} ${JSON.stringify(m.location())}`);
  });
  page.on('pageerror', (e) => error(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => {
    // Tile requests cancelled by MapLibre while zooming, and requests cut off by a page
    // navigation, are not errors.
    const f = r.failure()?.errorText ?? '';
    if (!/ERR_ABORTED|cancel/i.test(f)) error(`requestfailed: ${r.url()} ${f}`);
  });
  page.on('response', (r) => {
    responses.push({ url: r.url(), status: r.status() });
    if (r.status() < 400) return;
    if (!allow(r.url(), r.status())) error(`HTTP ${r.status()} ${r.url()}`);
  });
  return { context, page, me, requests, responses, errors, state };
}

/** Wait for the map page to be drawn; the first error before that fails at once. */
export async function waitForMap(session) {
  const failed = new Promise((_, reject) => {
    session.state.failEarly = (msg) => reject(new Error(`before the map was ready: ${msg}`));
  });
  failed.catch(() => {});
  try {
    await Promise.race([
      session.page.waitForSelector('body[data-map-ready="1"]', { state: 'attached', timeout: READY_TIMEOUT }),
      failed,
    ]);
  } finally {
    session.state.failEarly = null;
  }
}

/** newPage, then load `/` and wait until the map is drawn. */
export async function openMap(browser, opts = {}) {
  const session = await newPage(browser, opts);
  try {
    await session.page.goto(`${BASE}/`, { waitUntil: 'domcontentloaded' });
    await waitForMap(session);
  } catch (e) {
    await session.context.close();
    throw e;
  }
  return session;
}

/** Resolve after the map has rendered everything it is loading. */
export async function idle(page) {
  await page.evaluate(
    () =>
      new Promise((resolve) => {
        const map = window.__cuntuMap;
        map.once('idle', () => resolve());
        map.triggerRepaint();
      }),
  );
}

/** Let label fade-in finish before a screenshot. */
export const settle = (page) => page.waitForTimeout(500);

/**
 * Every area in the loaded area tiles: { id: { id, kind, name, parent, households, b: bounds } },
 * the bounds gathered over all tile pieces. At the start view this is the whole tree.
 */
export async function areaTree(page) {
  return page.evaluate(() => {
    const map = window.__cuntuMap;
    const out = {};
    for (const f of map.querySourceFeatures('areas', { sourceLayer: 'areas' })) {
      const p = f.properties;
      const a = (out[p.id] ??= {
        id: p.id,
        kind: p.kind,
        name: p.name,
        parent: p.parent_id ?? null,
        households: p.households,
        b: [Infinity, Infinity, -Infinity, -Infinity],
      });
      const visit = (c) => {
        if (typeof c[0] === 'number') {
          a.b = [Math.min(a.b[0], c[0]), Math.min(a.b[1], c[1]), Math.max(a.b[2], c[0]), Math.max(a.b[3], c[1])];
        } else c.forEach(visit);
      };
      visit(f.geometry.coordinates);
    }
    return out;
  });
}

/** Ids of `rootId` and of every area below it in `tree`. */
export function descendants(tree, rootId) {
  const under = (id) => {
    for (let a = tree[id], n = 0; a && n < 20; a = tree[a.parent], n++) {
      if (a.id === rootId) return true;
    }
    return false;
  };
  return new Set(Object.values(tree).filter((a) => under(a.id)).map((a) => a.id));
}

/** Fit the view to bounds [w, s, e, n] and wait for the map to settle; returns the zoom. */
export async function fitTo(page, b, { padding = 80, maxZoom = 16.5 } = {}) {
  const zoom = await page.evaluate(
    ({ b, padding, maxZoom }) => {
      const map = window.__cuntuMap;
      map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { animate: false, padding, maxZoom });
      return map.getZoom();
    },
    { b, padding, maxZoom },
  );
  await idle(page);
  return zoom;
}

/**
 * Zoom into a village centre: among the grids (under `within`, if given) with at least 30
 * households, the one with the smallest extent (the densest). Waits for the map to settle.
 * `tree` (from areaTree at the start view) is needed once the view no longer shows `within`.
 */
export async function zoomToVillageCentre(page, { within = null, tree = null } = {}) {
  tree ??= await areaTree(page);
  const inside = within === null ? null : descendants(tree, within);
  const grids = Object.values(tree).filter((a) => a.kind === 'grid' && (!inside || inside.has(a.id)));
  assert.ok(grids.length, `no grid${within === null ? '' : ` under area ${within}`} in the area tiles of the start view`);
  const size = (g) => (g.b[2] - g.b[0]) * (g.b[3] - g.b[1]);
  const full = grids.filter((g) => Number(g.households) >= 30);
  const pick = (full.length ? full : grids).sort((a, b) => size(a) - size(b))[0];
  const zoom = await fitTo(page, pick.b);
  return { id: pick.id, name: pick.name, households: pick.households, zoom, bounds: pick.b };
}

/** The rendered household features: [{ id, grid_id, house_number }]. */
export async function renderedHouseholds(page) {
  return page.evaluate(() =>
    window.__cuntuMap.queryRenderedFeatures({ layers: ['households'] }).map((f) => ({
      id: f.properties.id,
      grid_id: f.properties.grid_id,
      house_number: f.properties.house_number,
    })),
  );
}

/**
 * A household point (page coordinates) to click: near the view's centre, with nothing a click
 * prefers (facilities, hazard points) close by. Null if none is rendered.
 */
export async function findHouseholdPoint(page) {
  return page.evaluate(() => {
    const map = window.__cuntuMap;
    const rect = map.getCanvas().getBoundingClientRect();
    const above = ['facilities', 'hazards-point'].filter((l) => map.getLayer(l));
    const cx = rect.width / 2;
    const cy = rect.height / 2;
    const candidates = [];
    for (const f of map.queryRenderedFeatures({ layers: ['households'] })) {
      const [lng, lat] = f.geometry.coordinates;
      const p = map.project([lng, lat]);
      if (p.x < 20 || p.y < 20 || p.x > rect.width - 20 || p.y > rect.height - 20) continue;
      const el = document.elementFromPoint(rect.left + p.x, rect.top + p.y);
      if (el !== map.getCanvas()) continue; // under the panel or a control
      if (above.length && map.queryRenderedFeatures([[p.x - 10, p.y - 10], [p.x + 10, p.y + 10]], { layers: above }).length) continue;
      // Alone within 6 px, so the click cannot pick a neighbour.
      const near = map.queryRenderedFeatures([[p.x - 6, p.y - 6], [p.x + 6, p.y + 6]], { layers: ['households'] });
      if (near.some((n) => n.properties.id !== f.properties.id)) continue;
      candidates.push({ x: rect.left + p.x, y: rect.top + p.y, d: Math.hypot(p.x - cx, p.y - cy), props: { ...f.properties } });
    }
    candidates.sort((a, b) => a.d - b.d);
    return candidates[0] ?? null;
  });
}

/**
 * Count what the WebGL canvas shows: distinct colours (quantised to 4 bits a channel) and the share of
 * pixels that differ from the plain background. A blank map has one colour and no such pixels.
 */
export async function canvasStats(page) {
  return page.evaluate(async (bg) => {
    const map = window.__cuntuMap;
    const url = await new Promise((resolve) => {
      map.once('render', () => resolve(map.getCanvas().toDataURL('image/png')));
      map.triggerRepaint();
    });
    const img = new Image();
    img.src = url;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width;
    c.height = img.height;
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const { data } = ctx.getImageData(0, 0, c.width, c.height);
    const colours = new Set();
    let nonBg = 0;
    let n = 0;
    for (let i = 0; i < data.length; i += 4 * 3) {
      n++;
      colours.add(((data[i] >> 4) << 8) | ((data[i + 1] >> 4) << 4) | (data[i + 2] >> 4));
      const d = Math.abs(data[i] - bg[0]) + Math.abs(data[i + 1] - bg[1]) + Math.abs(data[i + 2] - bg[2]);
      if (d > 24) nonBg++;
    }
    return { width: c.width, height: c.height, colours: colours.size, nonBackground: nonBg / n };
  }, BACKGROUND);
}

export function assertSameOrigin(requests) {
  const foreign = requests.filter((u) => /^(https?|wss?):/i.test(u) && new URL(u).origin !== ORIGIN);
  assert.deepEqual(foreign, [], `requests left the page's origin ${ORIGIN}`);
}

export function assertNotBlank(stats, label) {
  assert.ok(stats.width > 100 && stats.height > 100, `${label}: canvas too small ${stats.width}x${stats.height}`);
  assert.ok(stats.colours >= 12, `${label}: map looks blank (only ${stats.colours} distinct colours)`);
  assert.ok(stats.nonBackground > 0.05, `${label}: map looks blank (${(stats.nonBackground * 100).toFixed(1)}% non-background pixels)`);
}
