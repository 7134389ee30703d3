// The web import (issue 9, must-show 4) on a village cadre's phone (/import).
//
//   cd tests/e2e && npm ci && CUNTU_URL=http://127.0.0.1:18080 node --test import.test.mjs
//
// The demo cadre (冶河村) uploads fixtures/roster-yehe.xlsx: four households with 经度/纬度 but
// no CRS, and a phone column named 联系方式, which no mapping proposes. The page asks for the
// coordinates; the cadre picks WGS84 and maps 电话 ← 联系方式, sees the first rows as they would
// be stored, no problems, and row 4 (a household of 大营村, outside the cadre's village) to be
// skipped. The import runs with a progress bar and ends with the report (4 read, 3 stored, 1
// skipped); "show on map" opens the map at the three households, which it draws. It adds three
// households (house numbers 冶河村导入1–3号) to 冶河村's grids 01–03; the other test files do not
// count those grids' households by number.
//
// The fixture was made with ogr2ogr from this CSV (the points are inside the demo's grids):
//   户主,门牌号,人口,联系方式,标签,经度,纬度
//   导入测试甲,冶河村导入1号,4,13912340001,低保,9.485927,47.055736
//   导入测试乙,冶河村导入2号,2,13912340002,,9.491767,47.058530
//   导入测试丙,冶河村导入3号,3,13912340003,独居老人,9.491767,47.061266
//   外村测试丁,外村导入4号,5,13912340004,,9.544592,47.179840
//   ogr2ogr -f XLSX -oo AUTODETECT_TYPE=YES roster-yehe.xlsx roster.csv
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BASE, idle, launchBrowser, newPage, READY_TIMEOUT, renderedHouseholds, settle, SHOTS, TEST_TIMEOUT, waitForMap } from './lib.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROSTER = path.join(HERE, 'fixtures', 'roster-yehe.xlsx');
const PHONE = { viewport: { width: 390, height: 844 }, mobile: true };
const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, name), fullPage: true });

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

test('a village cadre imports a roster XLSX, maps a field, reads the report and sees the households on the map', { timeout: TEST_TIMEOUT }, async () => {
  const session = await newPage(browser, { ...PHONE, user: 'cadre' });
  const { page, context, errors } = session;
  try {
    await page.goto(`${BASE}/import`, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('#import-form', { timeout: READY_TIMEOUT });
    assert.equal(await page.textContent('#import-view h1'), '导入数据');

    await page.setInputFiles('#import-file', ROSTER);
    await page.selectOption('#import-layer', 'households');
    await page.click('#import-upload');
    await page.waitForSelector('#import-dry', { timeout: READY_TIMEOUT });

    // No CRS in a spreadsheet: the page says so and the commit waits for a choice.
    assert.ok(await page.isVisible('#import-needs-crs'));
    assert.equal(await page.isDisabled('#import-commit'), true);
    // Chinese column names are proposed; 联系方式 is not.
    assert.equal(await page.inputValue('#map-head_name'), '户主');
    assert.equal(await page.inputValue('#map-house_number'), '门牌号');
    assert.equal(await page.inputValue('#map-lon'), '经度');
    assert.equal(await page.inputValue('#map-phone'), '');

    await page.selectOption('#import-crs', 'EPSG:4326');
    await page.click('#import-recheck');
    await page.waitForSelector('#import-needs-crs', { state: 'detached' });
    // The cadre maps the phone column by hand; the dry run follows.
    await page.selectOption('#map-phone', '联系方式');
    await page.waitForFunction(() => document.querySelector('#import-preview')?.textContent?.includes('13912340001'));
    assert.equal(await page.inputValue('#map-phone'), '联系方式');

    const preview = await page.$$eval('#import-preview tbody tr', (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
    assert.equal(preview.length, 3, JSON.stringify(preview));
    assert.deepEqual(preview[0].slice(0, 6), ['1', '导入测试甲', '冶河村导入1号', '4', '13912340001', 'low_income']);
    assert.equal(await page.textContent('#import-problems'), '没有问题');
    const skipped = await page.$$eval('#import-skipped li', (l) => l.map((x) => [x.dataset.row, x.textContent]));
    assert.equal(skipped.length, 1, JSON.stringify(skipped));
    assert.equal(skipped[0][0], '4');
    assert.match(skipped[0][1], /第 4 行.*不在您管辖的范围内/);
    assert.equal(await page.textContent('#import-commit'), '导入 3 行');
    await settle(page);
    await shot(page, 'import-dryrun-phone.png');

    await page.click('#import-commit');
    await page.waitForSelector('#import-report', { timeout: READY_TIMEOUT });
    assert.equal(await page.textContent('#report-read'), '4');
    assert.match(await page.textContent('#report-stored'), /^3（新增 3，更新 0）/);
    assert.equal(await page.textContent('#report-skipped'), '1');
    assert.match(await page.textContent('#report-crs'), /EPSG:4326/);
    assert.match(await page.textContent('#report-skipped-rows'), /第 4 行/);
    await settle(page);
    await shot(page, 'import-report-phone.png');

    // "Show on map": the map opens at the imported households and draws them.
    const href = await page.getAttribute('#import-show-map', 'href');
    assert.match(href, /^\/\?bbox=/);
    await page.click('#import-show-map');
    await waitForMap(session);
    await idle(page);
    const rendered = await renderedHouseholds(page);
    const drawn = rendered.map((h) => h.house_number);
    for (const n of ['冶河村导入1号', '冶河村导入2号', '冶河村导入3号']) {
      assert.ok(drawn.includes(n), `${n} is drawn on the map (${drawn.length} households drawn)`);
    }
    assert.ok(!drawn.includes('外村导入4号'), 'the skipped row was not stored');
    // And as the API gives the first to the cadre: the attributes of the roster's row.
    const first = rendered.find((h) => h.house_number === '冶河村导入1号');
    const res = await context.request.get(`${BASE}/api/households/${first.id}`);
    assert.equal(res.status(), 200);
    const h = await res.json();
    assert.equal(h.head_name, '导入测试甲');
    assert.equal(h.members, 4);
    assert.deepEqual(h.tags, ['low_income']);
    assert.equal(h.grid_name, '网格01');
    await settle(page);
    await page.screenshot({ path: path.join(SHOTS, 'import-on-map-phone.png') });
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('a grid worker, who imports nothing, downloads their households from the same page as CSV', { timeout: TEST_TIMEOUT }, async () => {
  const session = await newPage(browser, { ...PHONE, user: 'worker' });
  const { page, context, errors } = session;
  try {
    await page.goto(`${BASE}/import`, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('#export-download', { timeout: READY_TIMEOUT });
    // No import for this role, but the export is there, in Chinese.
    assert.match(await page.textContent('#import-error'), /只有镇管理员和村干部/);
    assert.equal(await page.textContent('#export h2'), '导出数据');
    assert.equal(await page.getAttribute('#export-download', 'href'), '/api/exports/households?format=xlsx&crs=4326');
    await page.selectOption('#export-format', 'csv');
    assert.equal(await page.getAttribute('#export-download', 'href'), '/api/exports/households?format=csv&crs=4326');
    await settle(page);
    await shot(page, 'import-export-phone.png');

    const idsOf = async () => {
      const overview = await (await context.request.get(`${BASE}/api/worker/overview`)).json();
      return overview.households.features.map((f) => String(f.id ?? f.properties.id)).sort();
    };
    const before = await idsOf();
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-download')]);
    assert.equal(download.suggestedFilename(), 'cuntu-households-4326.csv');
    const text = fs.readFileSync(await download.path(), 'utf8');
    const lines = text.trim().split(/\r?\n/);
    // GDAL's CSV: the point as X and Y (lon, lat), then the fields.
    const header = lines[0].split(',');
    assert.deepEqual(header.slice(0, 3).map((h) => h.replaceAll('"', '')), ['X', 'Y', 'id'], lines[0]);
    assert.ok(lines[0].includes('head_name') && lines[0].includes('phone'), lines[0]);
    // The worker's households, as their own page lists them (the import test may add some to
    // the same grid meanwhile: then the list read after the download is the one).
    const inFile = lines.slice(1).map((l) => l.split(',')[2].replaceAll('"', '')).sort();
    const after = await idsOf();
    assert.ok(inFile.length >= 20, `only ${inFile.length} households in the file`);
    assert.ok(JSON.stringify(inFile) === JSON.stringify(before) || JSON.stringify(inFile) === JSON.stringify(after), `the file has ${inFile.length} households (${inFile.slice(0, 3)}), the worker's page ${before.length} (${before.slice(0, 3)})`);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});
