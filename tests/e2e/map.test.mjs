// Browser end-to-end tests of the cuntu web map.
//
//   cd tests/e2e && npm ci && CUNTU_URL=http://127.0.0.1:18080 node --test
//
// Needs a running cuntu server at CUNTU_URL (serving web/dist at `/`, the API and the tiles)
// and Debian's chromium at /usr/bin/chromium (or CHROMIUM=/path/to/chrome).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const BASE = (process.env.CUNTU_URL || 'http://127.0.0.1:18080').replace(/\/+$/, '');
const ORIGIN = new URL(BASE).origin;
const EXECUTABLE = process.env.CHROMIUM || '/usr/bin/chromium';
const HERE = path.dirname(fileURLToPath(import.meta.url));
const SHOTS = path.join(HERE, 'screenshots');
const READY_TIMEOUT = 90_000;
const TEST_TIMEOUT = 180_000;

const BACKGROUND = [0xf3, 0xf0, 0xe8]; // web/src/style.ts BACKGROUND

let browser;

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({
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
});

after(async () => {
  await browser?.close();
});

/** A fresh context and page that records every request and every console error. */
async function openPage({ viewport = { width: 1280, height: 800 }, mobile = false } = {}) {
  const context = await browser.newContext({
    viewport,
    deviceScaleFactor: 1,
    isMobile: mobile,
    hasTouch: mobile,
    locale: 'zh-CN',
  });
  const page = await context.newPage();
  const requests = [];
  const errors = [];
  // Until the map is ready, the first error fails the test at once rather than at the time-out.
  let failEarly = null;
  const failed = new Promise((_, reject) => {
    failEarly = (msg) => reject(new Error(`before the map was ready: ${msg}`));
  });
  failed.catch(() => {});
  const error = (msg) => {
    errors.push(msg);
    failEarly?.(msg);
  };
  page.on('request', (r) => requests.push(r.url()));
  page.on('console', (m) => {
    if (m.type() === 'error') error(`console: ${m.text()} ${JSON.stringify(m.location())}`);
  });
  page.on('pageerror', (e) => error(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => {
    // Tile requests cancelled by MapLibre while zooming are not errors.
    const f = r.failure()?.errorText ?? '';
    if (!/ERR_ABORTED|cancel/i.test(f)) error(`requestfailed: ${r.url()} ${f}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) error(`HTTP ${r.status()} ${r.url()}`);
  });
  try {
    await page.goto(`${BASE}/`, { waitUntil: 'domcontentloaded' });
    await Promise.race([page.waitForSelector('body[data-map-ready="1"]', { state: 'attached', timeout: READY_TIMEOUT }), failed]);
  } catch (e) {
    await context.close();
    throw e;
  } finally {
    failEarly = null;
  }
  return { context, page, requests, errors };
}

/** Resolve after the map has rendered everything it is loading. */
async function idle(page) {
  await page.evaluate(
    () =>
      new Promise((resolve) => {
        const map = window.__cuntuMap;
        map.once('idle', () => resolve());
        map.triggerRepaint();
      }),
  );
}

/**
 * Zoom into a village centre: among the grids in view with at least 30 households, the one with the
 * smallest extent (the densest). Waits for the map to settle.
 */
async function zoomToVillageCentre(page) {
  const grid = await page.evaluate(() => {
    const map = window.__cuntuMap;
    const feats = map.queryRenderedFeatures({ layers: ['grid-fill'] });
    if (!feats.length) return null;
    // A grid is cut into tile pieces: gather the bounds of all of its rendered pieces.
    const grids = new Map();
    for (const f of feats) {
      const id = f.properties.id;
      const g = grids.get(id) ?? { props: f.properties, b: [Infinity, Infinity, -Infinity, -Infinity] };
      const visit = (c) => {
        if (typeof c[0] === 'number') {
          g.b = [Math.min(g.b[0], c[0]), Math.min(g.b[1], c[1]), Math.max(g.b[2], c[0]), Math.max(g.b[3], c[1])];
        } else c.forEach(visit);
      };
      visit(f.geometry.coordinates);
      grids.set(id, g);
    }
    const size = (g) => (g.b[2] - g.b[0]) * (g.b[3] - g.b[1]);
    const all = [...grids.values()];
    const full = all.filter((g) => Number(g.props.households) >= 30);
    const pick = (full.length ? full : all).sort((a, b) => size(a) - size(b))[0];
    map.fitBounds([[pick.b[0], pick.b[1]], [pick.b[2], pick.b[3]]], { animate: false, padding: 80, maxZoom: 16.5 });
    return { id: pick.props.id, name: pick.props.name, households: pick.props.households, zoom: map.getZoom() };
  });
  assert.ok(grid, 'no grid-fill feature rendered at the start view');
  await idle(page);
  return grid;
}

/** Let label fade-in finish before a screenshot. */
const settle = (page) => page.waitForTimeout(500);

/**
 * Count what the WebGL canvas shows: distinct colours (quantised to 4 bits a channel) and the share of
 * pixels that differ from the plain background. A blank map has one colour and no such pixels.
 */
async function canvasStats(page) {
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

function assertSameOrigin(requests) {
  const foreign = requests.filter((u) => /^(https?|wss?):/i.test(u) && new URL(u).origin !== ORIGIN);
  assert.deepEqual(foreign, [], `requests left the page's origin ${ORIGIN}`);
}

function assertNotBlank(stats, label) {
  assert.ok(stats.width > 100 && stats.height > 100, `${label}: canvas too small ${stats.width}x${stats.height}`);
  assert.ok(stats.colours >= 12, `${label}: map looks blank (only ${stats.colours} distinct colours)`);
  assert.ok(stats.nonBackground > 0.05, `${label}: map looks blank (${(stats.nonBackground * 100).toFixed(1)}% non-background pixels)`);
}

/** A canvas point (CSS pixels, relative to the canvas) inside a grid, with nothing clickable above it. */
async function findGridPoint(page) {
  return page.evaluate(() => {
    const map = window.__cuntuMap;
    const canvas = map.getCanvas();
    const rect = canvas.getBoundingClientRect();
    const above = ['facilities', 'hazards-point', 'households', 'hazards-fill', 'roads', 'waterways'].filter((l) => map.getLayer(l));
    const step = 23;
    const candidates = [];
    for (let y = step; y < rect.height - step; y += step) {
      for (let x = step; x < rect.width - step; x += step) {
        const el = document.elementFromPoint(rect.left + x, rect.top + y);
        if (el !== canvas) continue; // under the panel, a control or the header
        const grids = map.queryRenderedFeatures([x, y], { layers: ['grid-fill'] });
        if (!grids.length || !grids[0].properties.name) continue;
        const busy = map.queryRenderedFeatures([[x - 12, y - 12], [x + 12, y + 12]], { layers: above });
        if (busy.length) continue;
        const cx = rect.width / 2, cy = rect.height / 2;
        candidates.push({ x, y, d: Math.hypot(x - cx, y - cy), left: rect.left, top: rect.top, props: grids[0].properties });
      }
    }
    candidates.sort((a, b) => a.d - b.d);
    return candidates[0] ?? null;
  });
}

test('home page renders villages, grids and households from the same origin', { timeout: TEST_TIMEOUT }, async () => {
  const { context, page, requests, errors } = await openPage();
  try {
    // The start view: the whole area of the data.
    assert.equal(await page.locator('h1.title').textContent(), '村图 · 一村一图');
    const start = await page.evaluate(() => {
      const map = window.__cuntuMap;
      return {
        grids: map.queryRenderedFeatures({ layers: ['grid-fill'] }).length,
        villages: map.queryRenderedFeatures({ layers: ['village-line'] }).length,
        attribution: document.querySelector('.maplibregl-ctrl-attrib')?.textContent ?? '',
        scale: document.querySelector('.maplibregl-ctrl-scale')?.textContent ?? '',
      };
    });
    assert.ok(start.grids > 0, 'no grid-fill features rendered at the start view');
    assert.ok(start.villages > 0, 'no village-line features rendered at the start view');
    assert.match(start.attribution, /OpenStreetMap/, 'attribution "© OpenStreetMap contributors" is not shown');
    assert.match(start.scale, /\d+\s*(m|km)/, 'no metric scale bar');
    const attribBox = await page.locator('.maplibregl-ctrl-attrib').boundingBox();
    assert.ok(attribBox && attribBox.width > 50 && attribBox.height > 5, 'attribution is not visible');
    await settle(page);
    await page.screenshot({ path: path.join(SHOTS, 'home.png') });
    assertNotBlank(await canvasStats(page), 'home');

    // Zoom into a village's busiest grid: households and grid labels must show.
    const grid = await zoomToVillageCentre(page);
    const counts = await page.evaluate(() => {
      const map = window.__cuntuMap;
      const q = (l) => map.queryRenderedFeatures({ layers: [l] }).length;
      return { households: q('households'), grids: q('grid-fill'), labels: q('area-label') };
    });
    assert.ok(counts.households > 0, `no households rendered at zoom ${grid.zoom.toFixed(1)} over grid ${grid.name}`);
    assert.ok(counts.grids > 0, 'no grid-fill rendered after zooming in');
    assert.ok(counts.labels > 0, 'no area labels rendered after zooming in');
    await settle(page);
    await page.screenshot({ path: path.join(SHOTS, 'village.png') });
    assertNotBlank(await canvasStats(page), 'village');

    assertSameOrigin(requests);
    assert.ok(requests.some((u) => u.includes('/tiles/areas/')), 'no area tile was requested');
    assert.deepEqual(errors, [], 'console errors');
  } finally {
    await context.close();
  }
});

test('clicking a grid shows its name and household count; EN switches the labels', { timeout: TEST_TIMEOUT }, async () => {
  const { context, page, requests, errors } = await openPage();
  try {
    await zoomToVillageCentre(page);
    const pt = await findGridPoint(page);
    assert.ok(pt, 'found no point inside a grid to click');
    await page.mouse.click(pt.left + pt.x, pt.top + pt.y);
    const popup = page.locator('.maplibregl-popup');
    await popup.waitFor({ state: 'visible', timeout: 10_000 });
    await page.waitForFunction(() => !document.querySelector('.maplibregl-popup dd.loading'), null, { timeout: 15_000 });

    const text = await popup.textContent();
    assert.ok(text.includes(pt.props.name), `popup "${text}" lacks the grid name ${pt.props.name}`);
    assert.ok(text.includes('网格'), `popup "${text}" lacks the kind 网格`);
    const hh = await popup.locator('[data-field="households"] dd').textContent();
    assert.ok(hh.includes('户'), `household count "${hh}" is not in Chinese`);
    if (pt.props.households !== undefined) {
      assert.ok(hh.includes(String(pt.props.households)), `household count "${hh}" differs from the tile's ${pt.props.households}`);
    } else {
      assert.match(hh, /\d/, `household count "${hh}" has no number`);
    }
    assert.match(await popup.locator('[data-field="chain"] dd').textContent(), /\S+ › \S+/, 'no parent chain in the popup');
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'zh-CN');
    assert.ok((await page.locator('#layer-list').textContent()).includes('户'));
    await page.screenshot({ path: path.join(SHOTS, 'popup.png') });

    // Switch to English: the header, the layer switcher and the open popup change language.
    await page.getByRole('button', { name: 'EN', exact: true }).click();
    await page.waitForFunction(() => !document.querySelector('.maplibregl-popup dd.loading'), null, { timeout: 15_000 });
    assert.equal(await page.locator('h1.title').textContent(), 'Cuntu · One village, one map');
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'en');
    const layersText = await page.locator('#layer-list').textContent();
    for (const word of ['Households', 'Grids', 'Roads', 'Rivers', 'Facilities']) {
      assert.ok(layersText.includes(word), `layer list "${layersText}" lacks ${word}`);
    }
    const popupEn = await page.locator('.maplibregl-popup').textContent();
    assert.ok(popupEn.includes('Households') && popupEn.includes('Grid'), `popup not in English: "${popupEn}"`);
    assert.equal(await page.evaluate(() => localStorage.getItem('cuntu.lang')), 'en');
    await page.screenshot({ path: path.join(SHOTS, 'popup-en.png') });

    // The choice is remembered across a reload.
    await page.reload({ waitUntil: 'domcontentloaded' });
    await page.waitForSelector('body[data-map-ready="1"]', { state: 'attached', timeout: READY_TIMEOUT });
    assert.equal(await page.locator('h1.title').textContent(), 'Cuntu · One village, one map');
    await page.getByRole('button', { name: '中文', exact: true }).click();
    assert.equal(await page.locator('h1.title').textContent(), '村图 · 一村一图');

    assertSameOrigin(requests);
    assert.deepEqual(errors, [], 'console errors');
  } finally {
    await context.close();
  }
});

test('unticking the households layer hides it', { timeout: TEST_TIMEOUT }, async () => {
  const { context, page, requests, errors } = await openPage();
  try {
    await zoomToVillageCentre(page);
    const before = await page.evaluate(() => window.__cuntuMap.queryRenderedFeatures({ layers: ['households'] }).length);
    assert.ok(before > 0, 'no households rendered before toggling');

    const box = page.locator('#layer-list input[data-layer="households"]');
    assert.equal(await box.isChecked(), true);
    await box.uncheck();
    await idle(page);
    const off = await page.evaluate(() => ({
      visibility: window.__cuntuMap.getLayoutProperty('households', 'visibility'),
      rendered: window.__cuntuMap.queryRenderedFeatures({ layers: ['households'] }).length,
    }));
    assert.equal(off.visibility, 'none');
    assert.equal(off.rendered, 0);

    await box.check();
    await idle(page);
    const on = await page.evaluate(() => window.__cuntuMap.queryRenderedFeatures({ layers: ['households'] }).length);
    assert.ok(on > 0, 'households did not come back');

    assertSameOrigin(requests);
    assert.deepEqual(errors, [], 'console errors');
  } finally {
    await context.close();
  }
});

test('phone-sized screen: map fills it, the panel folds behind a button', { timeout: TEST_TIMEOUT }, async () => {
  const { context, page, requests, errors } = await openPage({ viewport: { width: 375, height: 667 }, mobile: true });
  try {
    const mapBox = await page.locator('#map').boundingBox();
    assert.ok(mapBox && mapBox.width >= 370 && mapBox.height >= 500, `map box ${JSON.stringify(mapBox)}`);
    const toggle = page.locator('#panel-toggle');
    assert.ok(await toggle.isVisible(), 'the panel button is not visible');
    assert.ok(!(await page.locator('#panel').isVisible()), 'the panel is not collapsed on a phone');
    const toggleBox = await toggle.boundingBox();
    assert.ok(toggleBox.x >= 0 && toggleBox.x + toggleBox.width <= 375, 'the panel button is off screen');
    const title = await page.locator('h1.title').boundingBox();
    assert.ok(title.x + title.width <= 375, 'the title overflows the screen');
    assert.ok(await page.locator('.lang-switch').isVisible(), 'the language switch is not visible');
    assertNotBlank(await canvasStats(page), 'phone');
    await settle(page);
    await page.screenshot({ path: path.join(SHOTS, 'phone.png') });

    await toggle.click();
    assert.ok(await page.locator('#panel').isVisible(), 'the panel did not open');
    await page.screenshot({ path: path.join(SHOTS, 'phone-panel.png') });
    await page.locator('#panel-close').click();
    assert.ok(!(await page.locator('#panel').isVisible()), 'the panel did not close');

    assertSameOrigin(requests);
    assert.deepEqual(errors, [], 'console errors');
  } finally {
    await context.close();
  }
});
