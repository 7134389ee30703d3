// Browser tests of the township leader's page (/leader, issue 7), at a phone's size and a desktop's.
//
//   cd tests/e2e && npm ci && CUNTU_URL=http://127.0.0.1:18080 node --test leader.test.mjs
//
// The demo leader of 冶河镇 turns the hazards off and on, selects a flood zone by clicking it on the
// map and reads the households exposed (the same figures as GET /api/leader/exposure), shows the
// choropleth of key populations per village with its class legend (the API's breaks), opens the
// dashboard, and prints the map as a PDF, which is rendered with pdftoppm and must not be blank.
// The township admin's test writes an evacuation and an inspection note; nothing else is written.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { assertNotBlank, assertSameOrigin, BASE, canvasStats, launchBrowser, newPage, READY_TIMEOUT, settle, SHOTS, TEST_TIMEOUT } from './lib.mjs';

let browser;
let tmp;

before(async () => {
  browser = await launchBrowser();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cuntu-leader-'));
});

after(async () => {
  await browser?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const PHONE = { viewport: { width: 390, height: 844 }, mobile: true };
const DESKTOP = { viewport: { width: 1280, height: 800 } };
const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, name) });
const $t = (page, id) => page.locator(`[data-testid="${id}"]`);

async function openLeader(opts) {
  const session = await newPage(browser, { ...opts, user: 'leader' });
  try {
    const res = await session.page.goto(`${BASE}/leader`, { waitUntil: 'domcontentloaded' });
    assert.equal(res.status(), 200, 'GET /leader');
    await session.page.waitForSelector('body[data-leader-ready="1"]', { state: 'attached', timeout: READY_TIMEOUT });
    await settle(session.page);
  } catch (e) {
    await session.context.close();
    throw e;
  }
  return session;
}

async function getJson(context, url) {
  const res = await context.request.get(`${BASE}${url}`);
  assert.equal(res.status(), 200, `GET ${url}: ${await res.text()}`);
  return res.json();
}

const renderedCount = (page, layer) => page.evaluate((l) => window.__cuntuMap.queryRenderedFeatures({ layers: [l] }).length, layer);

/** Open the panel (a bottom sheet on a phone) and a tab of it. */
async function openTab(page, tab) {
  if (!(await page.evaluate(() => document.body.classList.contains('panel-open')))) await page.click('#panel-toggle');
  await $t(page, `tab-${tab}`).click();
}

/**
 * A pixel of the map (page coordinates) on a flood zone, where nothing else a click prefers lies
 * (a hazard point, a shelter, an exposed household) and no panel or control covers the map.
 * The map is first fitted to the flood zone exposing the most households.
 */
async function floodZonePixel(page) {
  return page.evaluate(async () => {
    const map = window.__cuntuMap;
    const zones = window.__cuntuLeader.zones();
    const hz = window.__cuntuLeader.hazards();
    const flood = new Set(hz.features.filter((f) => f.properties.kind === 'flood').map((f) => f.properties.id));
    const exposed = (id) => {
      const n = hz.features.find((f) => f.properties.id === id)?.properties.households;
      return typeof n === 'number' ? n : 0;
    };
    const fz = (zones.features ?? []).filter((f) => flood.has(f.properties.id)).sort((a, b) => exposed(b.properties.id) - exposed(a.properties.id));
    if (!fz.length) return null;
    const target = fz[0];
    const b = [Infinity, Infinity, -Infinity, -Infinity];
    const visit = (c) => {
      if (typeof c[0] === 'number') {
        b[0] = Math.min(b[0], c[0]); b[1] = Math.min(b[1], c[1]); b[2] = Math.max(b[2], c[0]); b[3] = Math.max(b[3], c[1]);
      } else c.forEach(visit);
    };
    visit(target.geometry.coordinates);
    const rect = map.getCanvas().getBoundingClientRect();
    map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { animate: false, padding: Math.min(60, rect.width / 8), maxZoom: 16 });
    await new Promise((r) => { map.once('idle', r); map.triggerRepaint(); });
    const clickable = ['leader-exposed', 'leader-shelter', 'leader-hazard-point', 'leader-hazard-fill', 'leader-hazard-outline', 'leader-zone-fill'].filter((l) => map.getLayer(l));
    for (let step = 24; step >= 6; step /= 2) {
      for (let y = step; y < rect.height - step; y += step) {
        for (let x = step; x < rect.width - step; x += step) {
          const hits = map.queryRenderedFeatures([x, y], { layers: ['leader-zone-fill'] });
          if (!hits.some((h) => h.properties.id === target.properties.id)) continue;
          // Nothing but this hazard and its zone near the pixel: the page's click picks it.
          const near = map.queryRenderedFeatures([[x - 10, y - 10], [x + 10, y + 10]], { layers: clickable });
          if (near.some((h) => h.layer.id === 'leader-exposed' || h.layer.id === 'leader-shelter' || h.properties.id !== target.properties.id)) continue;
          if (document.elementFromPoint(rect.left + x, rect.top + y) !== map.getCanvas()) continue;
          return { x: rect.left + x, y: rect.top + y, id: target.properties.id };
        }
      }
    }
    return null;
  });
}

/** Distinct colours (4 bits a channel) and the share of non-white pixels of a PNG file, decoded by the page. */
async function pngStats(page, file) {
  const b64 = fs.readFileSync(file).toString('base64');
  return page.evaluate(async (data) => {
    const img = new Image();
    img.src = `data:image/png;base64,${data}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width;
    c.height = img.height;
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const px = ctx.getImageData(0, 0, c.width, c.height).data;
    const colours = new Set();
    let ink = 0;
    let n = 0;
    for (let i = 0; i < px.length; i += 4 * 2) {
      n++;
      colours.add(((px[i] >> 4) << 8) | ((px[i + 1] >> 4) << 4) | (px[i + 2] >> 4));
      if (px[i] + px[i + 1] + px[i + 2] < 735) ink++; // anything but white paper (the map background counts)
    }
    return { width: c.width, height: c.height, colours: colours.size, ink: ink / n };
  }, b64);
}

for (const [name, opts] of [['phone', PHONE], ['desktop', DESKTOP]]) {
  test(`leader on a ${name}: hazards, a flood zone's exposure, choropleth with legend, dashboard, PDF print`, { timeout: TEST_TIMEOUT * 2 }, async () => {
    const s = await openLeader(opts);
    const { page, context } = s;
    try {
      // Turn the hazards off, then on: the map draws them from the leader's API.
      await openTab(page, 'layers');
      const box = $t(page, 'layer-hazards');
      assert.ok(await box.isChecked(), 'hazards are on at the start');
      const before = (await renderedCount(page, 'leader-hazard-point')) + (await renderedCount(page, 'leader-hazard-fill'));
      await box.uncheck();
      assert.equal((await renderedCount(page, 'leader-hazard-point')) + (await renderedCount(page, 'leader-hazard-fill')), 0, 'hazards off');
      await box.check();
      await page.evaluate(() => new Promise((r) => { window.__cuntuMap.once('idle', r); window.__cuntuMap.triggerRepaint(); }));
      const shown = (await renderedCount(page, 'leader-hazard-point')) + (await renderedCount(page, 'leader-hazard-fill'));
      assert.ok(shown > 0 && shown === before, `hazards back on the map (${shown}, before ${before})`);
      assertNotBlank(await canvasStats(page), `${name} start`);
      await shot(page, `leader-${name}-start.png`);

      // Click a flood zone on the map: its exposure, as the API counts it.
      if (name === 'phone') await page.click('#leader-panel-close');
      const at = await floodZonePixel(page);
      assert.ok(at, 'a flood zone to click');
      await page.mouse.click(at.x, at.y);
      await page.waitForSelector(`body[data-exposure-ready="${at.id}"]`, { state: 'attached', timeout: READY_TIMEOUT });
      const api = await getJson(context, `/api/leader/exposure?hazards=${at.id}`);
      const shownHh = await $t(page, 'exposed-households').getAttribute('data-value');
      assert.equal(shownHh, String(api.total.households), 'exposed households as the API counts them');
      assert.equal(await $t(page, 'exposed-persons').getAttribute('data-value'), String(api.total.persons), 'exposed persons');
      assert.equal(await page.locator('[data-testid="exposure-villages"] tbody tr').count(), api.villages.length, 'one row per village');
      assert.equal(await page.locator('[data-testid="exposure-grids"] tbody tr').count(), api.grids.length, 'one row per grid');
      if (!api.personal) assert.ok(await $t(page, 'counts-only').isVisible(), 'a leader without the personal grant sees counts only');
      const tagText = await $t(page, 'exposure-tags').innerText();
      for (const [, n] of Object.entries(api.total.tags ?? {})) assert.ok(tagText.includes(String(n)), `tag count ${n} shown in "${tagText}"`);
      // The exports behind the buttons answer with a spreadsheet and a CSV.
      for (const id of ['export-xlsx', 'export-csv']) {
        const href = await $t(page, id).getAttribute('href');
        const res = await context.request.get(new URL(href, BASE).href);
        assert.equal(res.status(), 200, `${id}: ${href}`);
        assert.match(res.headers()['content-type'] ?? '', id === 'export-xlsx' ? /spreadsheetml|octet-stream/ : /csv|text/, `${id} content type`);
      }
      const zoneSelected = await page.evaluate((id) => window.__cuntuMap.getFeatureState({ source: 'leader-zones', id }).selected === true, at.id);
      assert.ok(zoneSelected, 'the clicked zone is drawn selected');
      await settle(page);
      await shot(page, `leader-${name}-flood-zone.png`);

      // Every flood zone at once, from the panel.
      if (name === 'desktop') {
        await $t(page, 'pick-flood').click();
        const ids = await page.evaluate(() => window.__cuntuLeader.hazards().features.filter((f) => f.properties.kind === 'flood').map((f) => f.properties.id));
        await page.waitForSelector(`body[data-exposure-ready="${ids.join(',')}"]`, { state: 'attached', timeout: READY_TIMEOUT });
        const all = await getJson(context, `/api/leader/exposure?hazards=${ids.join(',')}`);
        assert.equal(await $t(page, 'exposed-households').getAttribute('data-value'), String(all.total.households), 'all flood zones: households');
        assert.ok(Number(all.total.households) >= Number(api.total.households) || typeof all.total.households === 'string', 'all zones expose at least one zone\'s households');
        await settle(page);
        await shot(page, 'leader-desktop-flood-all.png');
      }

      // The choropleth of key populations per village, with its legend of class breaks.
      await openTab(page, 'layers');
      await $t(page, 'layer-choro').check();
      await $t(page, 'choro-metric').selectOption('key_population');
      await page.waitForSelector('body[data-choro-ready="village:key_population"]', { state: 'attached', timeout: READY_TIMEOUT });
      const choro = await getJson(context, '/api/leader/choropleth?level=village&metric=key_population');
      const legendBreaks = JSON.parse(await $t(page, 'choro-legend').getAttribute('data-breaks'));
      // The legend's breaks are the API's, less repeated ones and those with no area on one side.
      const values = choro.features.map((f) => f.properties.value).filter((v) => typeof v === 'number');
      const expected = (choro.breaks ?? []).filter((x, i, a) => (i === 0 || x > a[i - 1]) && x > Math.min(...values) && x <= Math.max(...values));
      assert.deepEqual(legendBreaks, expected, 'the legend shows the API\'s class breaks');
      const classes = await page.locator('[data-testid="choro-class"]').count();
      assert.ok(classes >= 2, `a legend of classes (${classes})`);
      assert.ok(await $t(page, 'map-legend').isVisible(), 'the legend is on the map');
      assert.ok((await renderedCount(page, 'leader-choro-fill')) > 0, 'choropleth drawn');
      if (name === 'phone') await page.click('#leader-panel-close');
      await page.evaluate(() => new Promise((r) => { window.__cuntuMap.once('idle', r); window.__cuntuMap.triggerRepaint(); }));
      assertNotBlank(await canvasStats(page), `${name} choropleth`);
      await settle(page);
      await shot(page, `leader-${name}-choropleth.png`);
      if (name === 'desktop') {
        // The overview for the README: the flood zones' exposure over the choropleth.
        await $t(page, 'tab-exposure').click();
        await settle(page);
        await shot(page, 'leader-desktop-overview.png');
      }

      // The dashboard, drawn by Chart.js.
      await openTab(page, 'dashboard');
      await page.waitForSelector('[data-testid="dashboard"] canvas[data-testid="chart-hazards"]', { timeout: READY_TIMEOUT });
      const dash = await getJson(context, '/api/leader/dashboard');
      const hh = await $t(page, 'dash-households').innerText();
      assert.ok(hh.replace(/[,\s]/g, '').includes(String(dash.households)), `dashboard households ${dash.households} in "${hh}"`);
      await settle(page);
      await shot(page, `leader-${name}-dashboard.png`);
      if (name === 'desktop') {
        // A bar of the chart is a way onto the map: the flood bar selects every flood zone.
        await page.evaluate(() => window.__cuntuLeader.select([]));
        const bars = await page.evaluate(() => window.__cuntuLeader.chartBars('chart-hazards'));
        const flood = bars.find((b) => b.key === 'flood');
        assert.ok(flood, `a flood bar among ${JSON.stringify(bars)}`);
        await page.mouse.click(flood.x, flood.y);
        const ids = await page.evaluate(() => window.__cuntuLeader.hazards().features.filter((f) => f.properties.kind === 'flood' && f.properties.status === 'open').map((f) => f.properties.id));
        await page.waitForSelector(`body[data-exposure-ready="${ids.join(',')}"]`, { state: 'attached', timeout: READY_TIMEOUT });
        await openTab(page, 'dashboard');
      }

      // Print the map as a PDF (A4 landscape), render it with pdftoppm and look at it.
      await openTab(page, 'print');
      await $t(page, 'print-format-pdf').check();
      await $t(page, 'print-paper-a4').check();
      await $t(page, 'print-orientation-landscape').check();
      const [download] = await Promise.all([page.waitForEvent('download', { timeout: 120_000 }), $t(page, 'print-go').click()]);
      assert.match(download.suggestedFilename(), /\.pdf$/);
      const pdf = path.join(tmp, `${name}.pdf`);
      await download.saveAs(pdf);
      assert.equal(fs.readFileSync(pdf).subarray(0, 5).toString(), '%PDF-', 'a PDF file');
      const info = execFileSync('pdfinfo', [pdf]).toString();
      const size = /Page size:\s+([\d.]+) x ([\d.]+) pts/.exec(info);
      assert.ok(size, info);
      assert.ok(Math.abs(Number(size[1]) - 841.89) < 2 && Math.abs(Number(size[2]) - 595.28) < 2, `A4 landscape: ${size[0]}`);
      const prefix = path.join(tmp, `${name}-page`);
      execFileSync('pdftoppm', ['-png', '-r', '60', '-singlefile', pdf, prefix]);
      const stats = await pngStats(page, `${prefix}.png`);
      assert.ok(stats.width > 600 && stats.width > stats.height, `landscape page image ${stats.width}x${stats.height}`);
      assert.ok(stats.colours >= 24, `the printed page is not blank: ${stats.colours} colours`);
      assert.ok(stats.ink > 0.2, `the printed page is not blank: ${(stats.ink * 100).toFixed(1)}% ink`);
      fs.copyFileSync(`${prefix}.png`, path.join(SHOTS, `leader-${name}-print.png`));
      await $t(page, 'print-result').waitFor();
      await shot(page, `leader-${name}-print-panel.png`);

      // The noticeboard of the demo worker's grid (冶河村 网格01), as a PNG.
      if (name === 'desktop') {
        const grid = $t(page, 'notice-grid');
        await page.waitForSelector('[data-testid="notice-grid"] option[value]:not([value=""])', { state: 'attached', timeout: READY_TIMEOUT });
        const value = await grid.evaluate((sel) => [...sel.options].find((o) => o.textContent.includes('冶河村') && o.textContent.includes('网格01'))?.value);
        assert.ok(value, '冶河村 网格01 among the grids');
        await grid.selectOption(value);
        const board = await getJson(context, `/api/leader/noticeboard/${value}`);
        assert.ok(board.leader || board.workers.length, `the demo grid has its staff: ${JSON.stringify(board)}`);
        await $t(page, 'print-format-png').check();
        const [png] = await Promise.all([page.waitForEvent('download', { timeout: 120_000 }), $t(page, 'notice-go').click()]);
        assert.match(png.suggestedFilename(), /\.png$/);
        const file = path.join(tmp, 'noticeboard.png');
        await png.saveAs(file);
        const ns = await pngStats(page, file);
        assert.ok(ns.width > ns.height && ns.colours >= 24 && ns.ink > 0.2, `noticeboard not blank: ${JSON.stringify(ns)}`);
        fs.copyFileSync(file, path.join(SHOTS, 'leader-desktop-noticeboard.png'));
      }

      assertSameOrigin(s.requests);
      assert.deepEqual(s.errors, [], 'no errors on the page');
    } finally {
      await context.close();
    }
  });
}

test('leader page: a grid worker is told it is not for them; nobody goes to the login', { timeout: TEST_TIMEOUT }, async () => {
  const w = await newPage(browser, { ...PHONE, user: 'worker', allow: (url, status) => /\/api\/leader\//.test(url) && status === 403 });
  try {
    await w.page.goto(`${BASE}/leader`, { waitUntil: 'domcontentloaded' });
    await $t(w.page, 'leader-forbidden').waitFor({ timeout: READY_TIMEOUT });
  } finally {
    await w.context.close();
  }
  const anon = await newPage(browser, { ...PHONE, allow: (url, status) => /\/api\/me$/.test(url) && status === 401 });
  try {
    await anon.page.goto(`${BASE}/leader`, { waitUntil: 'domcontentloaded' });
    await anon.page.waitForURL(/\/login\?next=%2Fleader|\/login\?next=\/leader/, { timeout: READY_TIMEOUT });
  } finally {
    await anon.context.close();
  }
});

test('township admin (personal data): the households to move, a route to the shelter, an evacuation list, an inspection note', { timeout: TEST_TIMEOUT }, async () => {
  const s = await newPage(browser, { ...DESKTOP, user: 'admin' });
  const { page, context } = s;
  try {
    await page.goto(`${BASE}/leader`, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('body[data-leader-ready="1"]', { state: 'attached', timeout: READY_TIMEOUT });
    await openTab(page, 'exposure');
    await $t(page, 'pick-flood').click();
    await page.waitForSelector('body[data-exposure-ready]', { state: 'attached', timeout: READY_TIMEOUT });
    const ex = await page.evaluate(() => window.__cuntuLeader.exposure());
    assert.equal(ex.personal, true, 'a township admin reads households');
    assert.ok(ex.households.length > 0, 'households exposed to the flood zones');
    assert.ok((await renderedCount(page, 'leader-exposed')) > 0, 'exposed households on the map');
    const rows = page.locator('[data-testid="exposure-households"] tbody tr');
    assert.equal(await rows.count(), Math.min(500, ex.households.length), 'the list of households to move');
    await rows.first().click();
    const hid = ex.households[0].id;
    await page.waitForSelector(`body[data-route-ready="${hid}"]`, { state: 'attached', timeout: READY_TIMEOUT });
    const api = await getJson(context, `/api/leader/shelter-route?household=${hid}`);
    assert.ok(await $t(page, 'route-summary').isVisible(), 'the route is described');
    assert.ok((await renderedCount(page, 'leader-route-line')) > 0, 'the route is drawn');
    assert.equal(api.shelter.id, ex.households[0].shelter?.id, 'the route goes to the household\'s nearest shelter');
    await settle(page);
    await shot(page, 'leader-desktop-route.png');

    // An evacuation of the flood zones: its list of households, and its tally in the panel.
    page.once('dialog', (d) => d.accept('e2e 防汛转移'));
    await $t(page, 'evac-create').click();
    await $t(page, 'evac-result').waitFor({ timeout: READY_TIMEOUT });
    assert.match(await $t(page, 'evac-result').innerText(), new RegExp(String(ex.households.length)), 'every exposed household on the evacuation list');
    await page.locator('[data-testid="evac-list"] tbody tr', { hasText: 'e2e 防汛转移' }).first().waitFor({ timeout: READY_TIMEOUT });

    // One hazard's record: an inspection note is kept.
    const one = ex.hazards[0];
    await page.evaluate((id) => window.__cuntuLeader.select([id]), one);
    await $t(page, 'hazard-record').waitFor();
    const note = `e2e 巡查 ${Date.now()}`;
    await $t(page, 'record-note').fill(note);
    await $t(page, 'record-add-note').click();
    await page.locator('[data-testid="record-notes"] li', { hasText: note }).waitFor({ timeout: READY_TIMEOUT });
    const notes = await getJson(context, `/api/hazards/${one}/inspections`);
    assert.ok(notes.inspections.some((n) => n.note === note), 'the note is stored');
    await shot(page, 'leader-desktop-record.png');
    assertSameOrigin(s.requests);
    assert.deepEqual(s.errors, [], 'no errors on the page');
  } finally {
    await context.close();
  }
});
