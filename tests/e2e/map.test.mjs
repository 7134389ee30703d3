// Browser end-to-end tests of the cuntu web map.
//
//   cd tests/e2e && npm ci && CUNTU_URL=http://127.0.0.1:18080 node --test
//
// Needs a running cuntu server at CUNTU_URL (serving web/dist at `/`, the API and the tiles,
// with the demo loaded) and Debian's chromium at /usr/bin/chromium (or CHROMIUM=/path/to/chrome).
// Households are personal data, sent only to a session that may see them: these tests log in as
// the demo township administrator (through the API) and look at the administrator's township.
// auth.test.mjs covers the login page, the roles and the anonymous map.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  assertNotBlank,
  assertSameOrigin,
  canvasStats,
  idle,
  launchBrowser,
  openMap,
  READY_TIMEOUT,
  settle,
  SHOTS,
  TEST_TIMEOUT,
  zoomToVillageCentre as zoomInto,
} from './lib.mjs';

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

/** The map as the demo township administrator, who sees the households of the first township. */
async function openPage(opts = {}) {
  return openMap(browser, { user: 'admin', ...opts });
}

/** Zoom into the densest grid of the logged-in administrator's township. */
async function zoomToVillageCentre(page) {
  const township = await page.evaluate(async () => {
    const res = await fetch('/api/me', { headers: { accept: 'application/json' } });
    return (await res.json()).user.roles[0].area_id;
  });
  return zoomInto(page, { within: township });
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
