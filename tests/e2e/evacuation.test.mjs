// The evacuation duty (issue 7) on the grid worker's phone page (/worker).
//
//   cd tests/e2e && npm ci && CUNTU_URL=http://127.0.0.1:18080 node --test evacuation.test.mjs
//
// The township admin puts two landslide hazards on two households of the demo worker's grid
// (冶河村 网格01) and starts an evacuation over them; the worker, on a 390×844 phone, marks one
// household moved and one needs help (with a note), then one away while offline, which is queued and
// sent when the connection returns. The admin's GET /api/evacuations/{id} and the leader's tally
// must show those marks. It adds hazards and an evacuation, which the other test files do not read
// by name (the leader's lists grow by one).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { BASE, apiLogin, launchBrowser, newPage, READY_TIMEOUT, settle, SHOTS, TEST_TIMEOUT } from './lib.mjs';

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

const PHONE = { viewport: { width: 390, height: 844 }, mobile: true };
const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, name) });
const OFFLINE_NOISE = /ERR_INTERNET_DISCONNECTED|net::ERR_FAILED|ERR_NETWORK_CHANGED|Failed to fetch|AJAXError|NetworkError/i;

async function json(res, what) {
  const text = await res.text();
  assert.ok(res.ok(), `${what}: HTTP ${res.status()} ${text}`);
  return JSON.parse(text);
}

test('a grid worker marks the households of an evacuation; the tally follows', { timeout: TEST_TIMEOUT }, async () => {
  const stamp = Date.now().toString(36);
  const admin = await browser.newContext({ locale: 'zh-CN' });
  await apiLogin(admin, 'admin');
  let offline = false;
  const worker = await newPage(browser, {
    ...PHONE,
    user: 'worker',
    // While the context is offline, failed fetches are what the test wants.
    allow: (url, status) => offline && status === 0,
  });
  const { page, context } = worker;
  try {
    // Two households of the worker's grid, far enough apart that each hazard is its own.
    const ov = await json(await context.request.get(`${BASE}/api/worker/overview`), 'worker overview');
    const hh = ov.households.features;
    assert.ok(hh.length >= 2, `the worker's grid has ${hh.length} households`);
    const [a] = hh;
    const dist = (p, q) => Math.hypot((p[0] - q[0]) * 85_000, (p[1] - q[1]) * 111_000);
    const b = hh.find((f) => dist(f.geometry.coordinates, a.geometry.coordinates) > 150) ?? hh[1];
    const hazards = [];
    for (const f of [a, b]) {
      const r = await admin.request.post(`${BASE}/api/hazards`, {
        data: { kind: 'landslide', severity: 'high', name: `e2e 滑坡 ${stamp} ${f.properties.house_number ?? f.properties.id}`, geometry: f.geometry },
      });
      hazards.push((await json(r, 'POST /api/hazards')).id);
    }
    const created = await json(
      await admin.request.post(`${BASE}/api/leader/evacuations`, { data: { name: `e2e 转移 ${stamp}`, hazards } }),
      'POST /api/leader/evacuations',
    );
    const evac = created.id;
    assert.ok(created.households >= 2, `evacuation over ${created.households} households`);

    // What the worker is asked to do: households of their grid, a and b among them.
    const mine = await json(await context.request.get(`${BASE}/api/evacuations/${evac}`), 'worker GET evacuation');
    const ids = new Set(mine.households.map((h) => h.id));
    assert.ok(ids.has(a.properties.id) && ids.has(b.properties.id), 'both households are in the worker\'s list');
    const gridIds = new Set(hh.map((f) => f.properties.id));
    assert.ok(mine.households.every((h) => gridIds.has(h.id)), 'the worker sees only households of their grid');

    const res = await page.goto(`${BASE}/worker`, { waitUntil: 'domcontentloaded' });
    assert.equal(res.status(), 200);
    await page.waitForSelector('body[data-map-ready="1"][data-worker-ready="1"][data-evac-ready="1"]', { state: 'attached', timeout: READY_TIMEOUT });
    const section = page.locator(`[data-testid="evacuation"][data-evacuation="${evac}"]`);
    await section.waitFor({ timeout: 10_000 });
    await assert.doesNotReject(page.locator('[data-testid="evac-section"]').getByText('转移任务').first().waitFor({ timeout: 5000 }));
    const rows = section.locator('[data-testid="evac-household"]');
    assert.equal(await rows.count(), mine.households.length, 'one row per household of the grid in the evacuation');

    // The pending households carry the evacuation ring on the map.
    const ringed = await page.evaluate(() =>
      window.__cuntuMap.querySourceFeatures('evac-households').filter((f) => f.properties.status === 'pending').length,
    );
    assert.ok(ringed >= 2, `${ringed} pending households on the map`);
    await settle(page);
    await shot(page, 'evacuation-worker-list.png');

    const row = (id) => section.locator(`[data-testid="evac-household"][data-household="${id}"]`);
    // a: moved.
    await row(a.properties.id).locator('[data-testid="evac-mark-moved"]').click();
    await page.waitForSelector(`[data-evacuation="${evac}"] [data-household="${a.properties.id}"][data-status="moved"] [data-testid="evac-result"][data-kind="ok"]`, { timeout: 10_000 });
    // b: needs help, with a note.
    await row(b.properties.id).locator('[data-testid="evac-note"]').fill('腿脚不便，需担架');
    await row(b.properties.id).locator('[data-testid="evac-mark-needs_help"]').click();
    await page.waitForSelector(`[data-evacuation="${evac}"] [data-household="${b.properties.id}"][data-status="needs_help"] [data-testid="evac-result"][data-kind="ok"]`, { timeout: 10_000 });
    const tally = await section.locator('[data-testid="evac-tally"] [data-status="moved"]').getAttribute('data-n');
    assert.equal(tally, '1', 'the page\'s tally counts the household moved');
    await row(b.properties.id).scrollIntoViewIfNeeded();
    await settle(page);
    await shot(page, 'evacuation-worker-marked.png');

    // The admin sees the marks and the tally.
    const seen = await json(await admin.request.get(`${BASE}/api/evacuations/${evac}`), 'admin GET evacuation');
    const st = (id) => seen.households.find((h) => h.id === id);
    assert.equal(st(a.properties.id).status, 'moved');
    assert.equal(st(b.properties.id).status, 'needs_help');
    assert.equal(st(b.properties.id).note, '腿脚不便，需担架');
    assert.equal(seen.tally.by_status.moved, 1);
    assert.equal(seen.tally.by_status.needs_help, 1);
    assert.equal(seen.tally.by_status.pending, seen.tally.total - 2);

    // Offline: a third household (if any) marked away waits on the phone, then goes out.
    const c = mine.households.find((h) => h.id !== a.properties.id && h.id !== b.properties.id);
    if (c) {
      offline = true;
      await context.setOffline(true);
      await row(c.id).locator('[data-testid="evac-mark-away"]').click();
      await page.waitForSelector(`[data-evacuation="${evac}"] [data-household="${c.id}"][data-status="away"][data-queued="1"]`, { timeout: 10_000 });
      assert.equal(await page.evaluate(() => document.body.dataset.evacQueue), '1');
      await shot(page, 'evacuation-worker-offline.png');
      await context.setOffline(false);
      await page.waitForFunction(() => document.body.dataset.evacQueue === '0', null, { timeout: 20_000 });
      offline = false;
      const later = await json(await admin.request.get(`${BASE}/api/evacuations/${evac}`), 'admin GET evacuation after the queue');
      assert.equal(later.households.find((h) => h.id === c.id).status, 'away');
      assert.equal(later.tally.by_status.away, 1);
    }

    // In English: the labels, and the needs as the server words them in English.
    await page.getByRole('button', { name: 'EN', exact: true }).click();
    await page.locator('[data-testid="evac-section"] .evac-title', { hasText: /^⚠ Evacuation/ }).waitFor({ timeout: 10_000 });
    await row(b.properties.id).locator('[data-testid="evac-status"]', { hasText: 'Needs help' }).waitFor({ timeout: 10_000 });
    await section.locator('[data-testid="evac-mark-moved"]', { hasText: 'Moved' }).first().waitFor({ timeout: 10_000 });
    // The section's head just under the panel's sticky top.
    await page.evaluate(() => {
      const p = document.getElementById('worker-panel');
      const s = document.getElementById('w-evac');
      p.scrollTop += s.getBoundingClientRect().top - p.querySelector('.worker-top').getBoundingClientRect().bottom - 6;
    });
    await settle(page);
    await shot(page, 'evacuation-worker-en.png');

    // The leader's list of evacuations carries the same tally, and so does the leader's page.
    const leader = await newPage(browser, { viewport: { width: 1280, height: 800 }, user: 'leader' });
    try {
      const list = await json(await leader.context.request.get(`${BASE}/api/leader/evacuations`), 'leader evacuations');
      const mineL = list.find((r) => r.evacuation.id === evac);
      assert.ok(mineL, 'the leader lists the evacuation');
      assert.equal(mineL.tally.by_status.moved, 1);
      assert.equal(mineL.tally.by_status.needs_help, 1);
      const lp = leader.page;
      await lp.goto(`${BASE}/leader`, { waitUntil: 'domcontentloaded' });
      await lp.waitForSelector('body[data-map-ready="1"]', { state: 'attached', timeout: READY_TIMEOUT });
      if (!(await lp.evaluate(() => document.body.classList.contains('panel-open')))) await lp.click('#panel-toggle');
      await lp.locator('[data-testid="tab-exposure"]').click();
      // The page lists evacuations under an exposure: select the landslides (ours among them).
      await lp.locator('[data-testid="pick-landslide"]').click();
      const tr = lp.locator('[data-testid="evac-list"] tbody tr', { hasText: `e2e 转移 ${stamp}` }).first();
      await tr.waitFor({ timeout: READY_TIMEOUT });
      const cells = await tr.locator('td').allInnerTexts();
      // name (total), then pending, moved, refused, away, needs help
      assert.deepEqual(cells.slice(1).map((c) => c.trim()), [mineL.tally.by_status.pending, 1, 0, mineL.tally.by_status.away, 1].map(String), `leader's row: ${cells.join(' | ')}`);
      await tr.scrollIntoViewIfNeeded();
      await settle(lp);
      await shot(lp, 'evacuation-leader-tally.png');
    } finally {
      await leader.context.close();
    }

    // A bad status is refused with the server's message (not by the page, which has no such button).
    const bad = await context.request.put(`${BASE}/api/evacuations/${evac}/households/${a.properties.id}`, {
      data: { status: 'gone' },
      headers: { 'accept-language': 'en' },
    });
    assert.equal(bad.status(), 400);

    const errs = worker.errors.filter((e) => !OFFLINE_NOISE.test(e));
    assert.deepEqual(errs, [], 'no errors on the worker page');
  } finally {
    await context.setOffline(false).catch(() => {});
    await context.close();
    await admin.close();
  }
});
