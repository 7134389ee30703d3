// Browser tests of the grid worker's page (/worker), at a phone's size.
//
//   cd tests/e2e && npm ci && CUNTU_URL=http://127.0.0.1:18080 node --test worker.test.mjs
//
// The demo worker looks after grid 130111103201-01 of 冶河村, which map.test.mjs and auth.test.mjs
// read: this file only adds visits (two per run, to one household not yet visited this quarter),
// which those tests do not look at.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BASE, launchBrowser, newPage, READY_TIMEOUT, settle, SHOTS, TEST_TIMEOUT } from './lib.mjs';

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

const PHONE = { viewport: { width: 390, height: 844 }, mobile: true };
const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, name) });
const $t = (page, id) => page.locator(`[data-testid="${id}"]`);

/** Failures a page meets while the context is offline (and MapLibre's reports of them). */
const OFFLINE_NOISE = /ERR_INTERNET_DISCONNECTED|net::ERR_FAILED|ERR_NETWORK_CHANGED|Failed to fetch|AJAXError|NetworkError/i;

/** A point `m` metres north-east of [lon, lat]. */
function offset([lon, lat], m) {
  const dLat = m / 111_320;
  const dLon = m / (111_320 * Math.cos((lat * Math.PI) / 180));
  return { longitude: lon + dLon / Math.SQRT2, latitude: lat + dLat / Math.SQRT2 };
}

async function openWorker() {
  const session = await newPage(browser, { ...PHONE, user: 'worker' });
  try {
    await session.context.grantPermissions(['geolocation'], { origin: BASE });
    const res = await session.page.goto(`${BASE}/worker`, { waitUntil: 'domcontentloaded' });
    assert.equal(res.status(), 200, 'GET /worker');
    await session.page.waitForSelector('body[data-map-ready="1"][data-worker-ready="1"]', { state: 'attached', timeout: READY_TIMEOUT });
    await settle(session.page);
  } catch (e) {
    await session.context.close();
    throw e;
  }
  return session;
}

const coverage = (page) =>
  page.evaluate(() => {
    const el = document.querySelector('[data-testid="coverage-all"]');
    return { done: Number(el.dataset.done), total: Number(el.dataset.total) };
  });

async function visitsOf(context, id) {
  const res = await context.request.get(`${BASE}/api/households/${id}/visits`);
  assert.equal(res.status(), 200, `GET visits of ${id}: ${await res.text()}`);
  return (await res.json()).visits;
}

/** A camera-sized photo (2400×1800 PNG) drawn by the page, for the downscaling to work on. */
async function bigPhoto(page) {
  const b64 = await page.evaluate(() => {
    const c = document.createElement('canvas');
    c.width = 2400;
    c.height = 1800;
    const ctx = c.getContext('2d');
    const g = ctx.createLinearGradient(0, 0, 2400, 1800);
    g.addColorStop(0, '#8c3b12');
    g.addColorStop(1, '#f2c14e');
    ctx.fillStyle = g;
    ctx.fillRect(0, 0, 2400, 1800);
    ctx.fillStyle = '#fff';
    ctx.font = '200px sans-serif';
    ctx.fillText('cuntu', 700, 1000);
    return c.toDataURL('image/png').split(',')[1];
  });
  return { name: 'door.png', mimeType: 'image/png', buffer: Buffer.from(b64, 'base64') };
}

test('anonymous: /worker goes to the login page, which comes back to /worker', { timeout: TEST_TIMEOUT }, async () => {
  const { context, page, errors } = await newPage(browser, {
    ...PHONE,
    allow: (url, status) => status === 401 && new URL(url).pathname === '/api/me',
  });
  try {
    await page.goto(`${BASE}/worker`, { waitUntil: 'domcontentloaded' });
    await page.waitForURL((u) => u.pathname === '/login', { timeout: READY_TIMEOUT });
    assert.equal(new URL(page.url()).searchParams.get('next'), '/worker');
    await page.locator('#login-form').waitFor({ state: 'visible' });
    assert.deepEqual(errors, [], errors.join('\n'));
  } finally {
    await context.close();
  }
});

test('worker on a phone: grid, progress, search, card, visit online and offline, route', { timeout: TEST_TIMEOUT }, async () => {
  const session = await openWorker();
  const { context, page, errors } = session;
  try {
    // ---- my grid and this quarter's progress --------------------------------
    const overview = await page.evaluate(() => window.__cuntuWorker.overview());
    assert.ok(overview.grids.length >= 1, 'no grid in the overview');
    assert.equal(overview.grids[0].code, '130111103201-01', 'the demo worker has another grid');
    const hhs = overview.households.features;
    assert.ok(hhs.length >= 20, `only ${hhs.length} households in the worker's grid`);
    const before = await coverage(page);
    assert.equal(before.total, overview.coverage.total);
    assert.equal(before.done, overview.coverage.visited);
    await $t(page, 'worker-progress').waitFor({ state: 'visible' });
    const rows = await $t(page, 'hh-row').count();
    assert.equal(rows, hhs.length, 'the list does not show every household');
    // Due and overdue ones first.
    const firstState = await $t(page, 'hh-row').first().getAttribute('data-state');
    assert.notEqual(firstState, 'visited', 'a visited household heads the list');
    const drawn = await page.evaluate(() => window.__cuntuMap.queryRenderedFeatures({ layers: ['worker-hh'] }).length);
    assert.ok(drawn > 0, 'no household drawn on the map');
    await shot(page, 'worker-01-grid.png');

    // ---- find a household not visited this quarter by the start of its head's name -----
    const quarterStart = (() => {
      const now = new Date();
      return new Date(now.getFullYear(), Math.floor(now.getMonth() / 3) * 3, 1).getTime();
    })();
    const target = hhs.find(
      (f) => f.properties.head_name && (!f.properties.last_visit_at || new Date(f.properties.last_visit_at).getTime() < quarterStart - 86_400_000),
    );
    assert.ok(target, 'every household of the grid has been visited this quarter: reload the demo');
    const id = target.properties.id;
    const name = target.properties.head_name;
    const search = $t(page, 'worker-search');
    let found = false;
    for (let n = 1; n <= name.length && !found; n++) {
      const typed = name.slice(0, n);
      await search.fill('');
      const answer = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/households/search' && new URL(r.url()).searchParams.get('q') === typed);
      await search.pressSequentially(typed, { delay: 40 });
      assert.equal((await answer).status(), 200);
      await page.waitForFunction(() => document.querySelector('[data-testid="search-result"], [data-testid="search-none"]'));
      found = (await page.locator(`[data-testid="search-result"][data-id="${id}"]`).count()) > 0;
    }
    assert.ok(found, `searching the start of "${name}" never listed household ${id}`);
    await shot(page, 'worker-02-search.png');

    // ---- its card -----------------------------------------------------------
    await page.locator(`[data-testid="search-result"][data-id="${id}"]`).click();
    const card = page.locator(`[data-testid="hh-card"][data-id="${id}"]`);
    await card.waitFor({ state: 'visible' });
    assert.equal(await $t(page, 'card-head-name').textContent(), name);
    await page.waitForFunction(() => document.querySelector('[data-testid="visits-none"], [data-testid="visit-item"]'));
    const detail = await (await context.request.get(`${BASE}/api/households/${id}`)).json();
    if (detail.phone) assert.equal(await $t(page, 'card-phone').locator('dd').textContent(), detail.phone, 'phone not shown as the server masks it');
    assert.equal(await page.evaluate(() => window.__cuntuWorker.selected()), id);
    const visits0 = (await visitsOf(context, id)).length;
    await shot(page, 'worker-03-card.png');

    // ---- record a visit, standing 20 m from the house ------------------------
    await context.setGeolocation(offset(target.geometry.coordinates, 20));
    await $t(page, 'visit-locate').click();
    await $t(page, 'visit-location').waitFor({ state: 'visible' });
    await $t(page, 'visit-found').fill('走访正常，老人身体健康。');
    await $t(page, 'visit-followup').check();
    await $t(page, 'visit-photo').setInputFiles(await bigPhoto(page));
    await $t(page, 'visit-photo-preview').waitFor({ state: 'visible', timeout: 30_000 });
    const posted = page.waitForRequest((r) => new URL(r.url()).pathname === '/api/visits' && r.method() === 'POST');
    await $t(page, 'visit-submit').click();
    const body = (await posted).postDataJSON();
    assert.equal(body.household_id, id);
    assert.ok(/^[0-9a-f-]{36}$/.test(body.client_id), `client_id ${body.client_id}`);
    assert.equal(body.location.crs, 'wgs84');
    assert.ok(body.photo.startsWith('data:image/jpeg;base64,'), 'the photo is not sent as a JPEG data URL');
    const dims = await page.evaluate(async (src) => {
      const img = new Image();
      img.src = src;
      await img.decode();
      return [img.naturalWidth, img.naturalHeight];
    }, body.photo);
    assert.ok(Math.max(...dims) <= 1600, `photo sent at ${dims.join('×')}`);
    await page.locator('[data-testid="visit-result"][data-kind="ok"]').waitFor({ timeout: 30_000 });
    await page.waitForFunction((n) => Number(document.querySelector('[data-testid="coverage-all"]')?.dataset.done) === n, before.done + 1, { timeout: 30_000 });
    const visits1 = await visitsOf(context, id);
    assert.equal(visits1.length, visits0 + 1);
    assert.ok(visits1.some((v) => v.has_photo && v.follow_up && !v.flagged), 'the visit lacks its photo or follow-up, or was flagged at 20 m');
    await $t(page, 'visit-item').first().waitFor();
    await shot(page, 'worker-04-visited.png');

    // ---- offline: the next visit (300 m away, so flagged) waits in the queue ------
    // The service worker has the page's files before the connection goes.
    await page.waitForSelector('body[data-offline-ready="1"]', { state: 'attached', timeout: 30_000 });
    const errorsBefore = errors.length;
    await context.setOffline(true);
    await $t(page, 'offline-banner').waitFor({ state: 'visible' });
    await context.setGeolocation(offset(target.geometry.coordinates, 300));
    await $t(page, 'visit-locate').click();
    await $t(page, 'visit-location').waitFor({ state: 'visible' });
    await $t(page, 'visit-found').fill('离线记录：门前道路积水，需跟进。');
    await $t(page, 'visit-submit').click();
    await page.locator('[data-testid="visit-result"][data-kind="queued"]').waitFor();
    await page.locator('[data-testid="queue-count"][data-count="1"]').waitFor();
    await $t(page, 'visit-queued').waitFor();
    const queued = await page.evaluate(() => window.__cuntuWorker.queue().map((q) => q.client_id));
    assert.equal(queued.length, 1);
    await shot(page, 'worker-05-queued.png');

    // ---- still offline, the page opens again from the service worker's copy, queue intact ----
    const reload = await page.reload({ waitUntil: 'domcontentloaded' });
    assert.ok(reload?.fromServiceWorker(), 'offline, /worker did not come from the service worker');
    await page.waitForSelector('body[data-map-ready="1"][data-worker-ready="1"]', { state: 'attached', timeout: READY_TIMEOUT });
    await $t(page, 'offline-banner').waitFor({ state: 'visible' });
    await page.locator('[data-testid="queue-count"][data-count="1"]').waitFor();
    assert.equal(await $t(page, 'hh-row').count(), hhs.length, 'the saved overview lacks households');
    const drawnOffline = await page.evaluate(() => window.__cuntuMap.queryRenderedFeatures({ layers: ['worker-hh'] }).length);
    assert.ok(drawnOffline > 0, 'offline, no household drawn');
    await settle(page);
    await shot(page, 'worker-06-offline-reload.png');

    // ---- back online: sent once ----------------------------------------------
    await context.setOffline(false);
    await page.locator('[data-testid="queue-count"][data-count="0"]').waitFor({ timeout: 30_000 });
    await page.locator(`[data-testid="hh-row"][data-id="${id}"]`).click();
    // A second flush and a replay of the same client_id must not add a visit.
    await page.evaluate(() => window.__cuntuWorker.flush());
    const replay = await context.request.post(`${BASE}/api/visits`, {
      data: { client_id: queued[0], household_id: id, visited_at: new Date().toISOString(), found: 'replay', follow_up: false },
    });
    assert.ok(replay.ok(), `replay: HTTP ${replay.status()}`);
    assert.equal((await replay.json()).duplicate, true, 'a replay of the queued client_id was not a duplicate');
    const visits2 = await visitsOf(context, id);
    assert.equal(visits2.length, visits0 + 2, `expected exactly ${visits0 + 2} visits after the queue was sent, got ${visits2.length}`);
    assert.ok(visits2.some((v) => v.flagged), 'the visit 300 m away is not flagged');
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="visit-item"]').length >= n, visits0 + 2, { timeout: 30_000 });
    await $t(page, 'visit-flag').first().waitFor();
    await page.evaluate(() => document.querySelector('[data-testid="visit-flag"]').scrollIntoView({ block: 'center' }));
    await settle(page);
    await shot(page, 'worker-07-sent.png');
    const offlineErrors = errors.slice(errorsBefore).filter((e) => !OFFLINE_NOISE.test(e));
    errors.splice(errorsBefore, errors.length - errorsBefore, ...offlineErrors);

    // ---- a route through five households ------------------------------------------
    await $t(page, 'card-back').click();
    await $t(page, 'hh-list').waitFor();
    const checks = $t(page, 'hh-check');
    for (let i = 0; i < 5; i++) await checks.nth(i).check();
    assert.equal((await page.evaluate(() => window.__cuntuWorker.checked())).length, 5);
    await context.setGeolocation(offset(target.geometry.coordinates, 50));
    const routeAnswer = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/route');
    await $t(page, 'route-go').click();
    const routeRes = await routeAnswer;
    assert.equal(routeRes.status(), 200, `POST /api/route: ${await routeRes.text()}`);
    await $t(page, 'route-stops').waitFor({ timeout: 30_000 });
    const route = await page.evaluate(() => window.__cuntuWorker.route());
    const expected = route.stops.length;
    assert.equal(expected + (route.unreachable?.length ?? 0), 5, 'stops and unreachable do not add up to the five households');
    assert.ok(expected >= 1, 'no stop in the route');
    assert.equal(await $t(page, 'route-stop').count(), expected);
    assert.equal(await $t(page, 'stop-marker').count(), expected);
    const orders = await $t(page, 'stop-marker').evaluateAll((els) => els.map((e) => Number(e.textContent)).sort((a, b) => a - b));
    assert.deepEqual(orders, Array.from({ length: expected }, (_, i) => i + 1), 'stop markers are not numbered 1..n');
    await settle(page);
    await shot(page, 'worker-08-route.png');

    const download = page.waitForEvent('download');
    await $t(page, 'route-gpx').click();
    const file = await (await download).path();
    assert.ok(fs.readFileSync(file, 'utf8').includes('<gpx'), 'the export is not GPX');

    assert.deepEqual(errors, [], errors.join('\n'));
  } finally {
    await context.close();
  }
});
