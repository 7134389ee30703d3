// Browser tests of the grid proposal in the editor (/draw, issue 5) and of the township's rule.
//
//   cd tests/e2e && npm ci && CUNTU_URL=http://127.0.0.1:18080 node --test propose.test.mjs
//
// The township admin works on 乏马村 (code 130111103204), not on 冶河村: map.test, auth.test and
// draw.test look at 冶河村's grids at the same time. Accepting a proposal replaces the village's
// grids, so each run leaves 乏马村 divided as that run's proposal (always fully covered). The rule
// test changes the township's rule for a moment and puts 30–60 back in any case.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { apiLogin, assertSameOrigin, BASE, idle, launchBrowser, newPage, READY_TIMEOUT, settle, SHOTS, TEST_TIMEOUT } from './lib.mjs';

const VILLAGE_CODE = '130111103204';

let browser;
let village; // { id, code, name, township_id }

before(async () => {
  browser = await launchBrowser();
  const ctx = await browser.newContext();
  try {
    await apiLogin(ctx, 'admin');
    const { villages } = await (await ctx.request.get(`${BASE}/api/villages`)).json();
    village = villages.find((v) => v.code === VILLAGE_CODE);
    assert.ok(village, `the admin may not edit village ${VILLAGE_CODE}: ${JSON.stringify(villages)}`);
  } finally {
    await ctx.close();
  }
});

after(async () => {
  await browser?.close();
});

const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, name) });

const loads = (page) => page.evaluate(() => Number(document.body.dataset.gridLoads ?? 0));

async function reloaded(page, before) {
  await page.waitForFunction((n) => Number(document.body.dataset.gridLoads ?? 0) > n && document.body.dataset.drawReady === '1', before, { timeout: 60_000 });
  await settle(page);
}

/** Log in, open /draw, pick the test village in the panel's village list and wait for its grids. */
async function openVillage(opts = {}) {
  const session = await newPage(browser, { user: 'admin', ...opts });
  const { page } = session;
  try {
    const res = await page.goto(`${BASE}/draw`, { waitUntil: 'domcontentloaded' });
    assert.equal(res.status(), 200, 'GET /draw as the township admin');
    await page.waitForSelector('body[data-map-ready="1"][data-draw-ready="1"]', { state: 'attached', timeout: READY_TIMEOUT });
    if ((await page.evaluate(() => window.__cuntuDraw.villageId())) !== village.id) {
      const n = await loads(page);
      await page.locator('[data-testid="village-select"]').selectOption(String(village.id));
      await reloaded(page, n);
    }
    assert.equal(await page.evaluate(() => window.__cuntuDraw.data().village.id), village.id);
    await settle(page);
  } catch (e) {
    await session.context.close();
    throw e;
  }
  return session;
}

/** Wait for the preview dialog's dry run; its parts. */
async function preview(page) {
  await page.waitForSelector('#preview-dialog[data-state="ready"], #preview-dialog[data-state="error"]', { timeout: 60_000 });
  return page.evaluate(() => {
    const q = (s) => document.querySelector(`[data-testid="${s}"]`);
    return {
      state: document.querySelector('#preview-dialog').dataset.state,
      title: document.querySelector('#preview-title').textContent,
      summary: q('preview-summary')?.textContent ?? '',
      error: q('preview-error')?.hidden ? '' : (q('preview-error')?.textContent ?? ''),
      grids: [...document.querySelectorAll('[data-testid="preview-grids"] tr')].map((tr) => ({
        id: Number(tr.dataset.id),
        households: tr.dataset.households === undefined ? null : Number(tr.dataset.households),
        removed: tr.dataset.removed === '1',
      })),
    };
  });
}

/** Press Propose and wait for the draft. */
async function propose(page) {
  const before = await page.evaluate(() => Number(document.body.dataset.draftLoads ?? 0));
  await page.locator('[data-testid="propose-run"]').click();
  await page.waitForFunction((n) => Number(document.body.dataset.draftLoads ?? 0) > n, before, { timeout: 60_000 });
  await page.waitForSelector('[data-testid="draft-summary"]');
  await idle(page);
  await settle(page);
}

/** Page coordinates of map coordinates. */
async function toPage(page, coords) {
  return page.evaluate((coords) => {
    const map = window.__cuntuMap;
    const r = map.getCanvas().getBoundingClientRect();
    return coords.map((c) => {
      const p = map.project(c);
      return { x: r.left + p.x, y: r.top + p.y };
    });
  }, coords);
}

/**
 * A vertex to drag: shared by exactly two draft grids, well inside the village (not on its
 * boundary, which the server keeps), with no other vertex within 30 m (so its handle is the one
 * grabbed and a short move cannot cross an edge). Nearest the village's centre, so it is on screen.
 */
function pickSharedVertex(draft, villageGeometry) {
  const NEAR = 1e-7;
  const key = (c) => `${Math.round(c[0] / NEAR)},${Math.round(c[1] / NEAR)}`;
  const polys = (g) => (g.type === 'Polygon' ? [g.coordinates] : g.coordinates);
  const owners = new Map();
  const all = [];
  for (const f of draft) {
    for (const p of polys(f.geometry)) for (const r of p) for (const c of r.slice(0, -1)) {
      const k = key(c);
      if (!owners.has(k)) {
        owners.set(k, { at: c, drafts: new Set() });
        all.push(c);
      }
      owners.get(k).drafts.add(f.properties.draft);
    }
  }
  const m = (a, b) => Math.hypot((a[0] - b[0]) * 111_320 * Math.cos((a[1] * Math.PI) / 180), (a[1] - b[1]) * 110_540);
  const segDist = (p, a, b) => {
    const kx = 111_320 * Math.cos((p[1] * Math.PI) / 180);
    const ky = 110_540;
    const [ax, ay, bx, by, px, py] = [a[0] * kx, a[1] * ky, b[0] * kx, b[1] * ky, p[0] * kx, p[1] * ky];
    const dx = bx - ax;
    const dy = by - ay;
    const l2 = dx * dx + dy * dy || 1;
    const s = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / l2));
    return Math.hypot(ax + s * dx - px, ay + s * dy - py);
  };
  const boundary = polys(villageGeometry).flat();
  let b = [Infinity, Infinity, -Infinity, -Infinity];
  for (const r of boundary) for (const c of r) b = [Math.min(b[0], c[0]), Math.min(b[1], c[1]), Math.max(b[2], c[0]), Math.max(b[3], c[1])];
  const centre = [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2];
  const ok = [...owners.values()].filter(({ at, drafts }) => {
    if (drafts.size !== 2) return false;
    if (boundary.some((r) => r.some((c, i) => i + 1 < r.length && segDist(at, c, r[i + 1]) < 20))) return false;
    return !all.some((c) => c !== at && key(c) !== key(at) && m(c, at) < 30);
  });
  ok.sort((x, y) => m(x.at, centre) - m(y.at, centre));
  return ok[0] ? { at: ok[0].at, drafts: [...ok[0].drafts] } : null;
}

const hasVertexNear = (g, p, tol) =>
  (g.type === 'Polygon' ? [g.coordinates] : g.coordinates).some((poly) => poly.some((r) => r.some((c) => Math.abs(c[0] - p[0]) <= tol && Math.abs(c[1] - p[1]) <= tol)));

test('township admin: propose, adjust one edge, accept; the grid layer and history show it', { timeout: TEST_TIMEOUT }, async () => {
  const { context, page, errors, requests } = await openVillage();
  try {
    const start = await page.evaluate(() => {
      const d = window.__cuntuDraw.data();
      return { rule: d.rule, grids: d.grids.features.length, households: d.grids.features.reduce((s, f) => s + f.properties.households, 0) + (d.gaps?.households ?? 0) };
    });
    // The proposal form starts from the township's rule.
    assert.equal(await page.locator('[data-testid="propose-min"]').inputValue(), String(start.rule.min_households));
    assert.equal(await page.locator('[data-testid="propose-max"]').inputValue(), String(start.rule.max_households));
    await shot(page, 'propose-01-village.png');

    // 1. Propose with the default rule: every draft grid within it.
    await propose(page);
    const draft = await page.evaluate(() => window.__cuntuDraw.draft());
    const summary = await page.locator('[data-testid="draft-summary"]').evaluate((e) => ({ grids: Number(e.dataset.grids), within: Number(e.dataset.within), text: e.textContent }));
    assert.ok(summary.grids > 1, `a proposal of ${summary.grids} grids`);
    assert.equal(draft.features.length, summary.grids);
    assert.equal(summary.within, summary.grids, `not every draft grid is within the rule: ${summary.text}`);
    assert.equal(draft.features.reduce((s, f) => s + f.properties.households, 0), start.households, 'the draft does not hold every household of the village');
    assert.equal(await page.locator('[data-testid="draft-row"]').count(), summary.grids, 'the draft list');
    // Drawn as a draft: its own layers, labelled "草案 n · m户"; the grids' labels are hidden.
    const drawn = await page.evaluate(() => {
      const map = window.__cuntuMap;
      return {
        fill: map.queryRenderedFeatures({ layers: ['edit-draft-fill'] }).length,
        labels: map.queryRenderedFeatures({ layers: ['edit-draft-label'] }).map((f) => f.properties.label),
        gridLabels: map.getLayoutProperty('edit-grid-label', 'visibility'),
      };
    });
    assert.ok(drawn.fill > 0, 'the draft is not drawn');
    assert.ok(drawn.labels.some((l) => /^草案 \d+ · \d+户$/.test(l)), `no draft label: ${drawn.labels.slice(0, 3)}`);
    assert.equal(drawn.gridLabels, 'none', 'the current grids’ labels still show under the draft');
    assert.ok(await page.locator('[data-testid="tool-split"]').isDisabled(), 'the editing tools stay on while a draft is shown');
    await shot(page, 'propose-02-draft.png');

    // 2. Drag one vertex shared by two draft grids a little: both follow, Undo and Redo work.
    const pick = pickSharedVertex(draft.features, await page.evaluate(() => window.__cuntuDraw.data().village.geometry));
    assert.ok(pick, 'no vertex shared by two draft grids away from the village boundary');
    await page.locator(`[data-testid="draft-row"][data-draft="${pick.drafts[0]}"]`).click();
    await page.waitForFunction((n) => window.__cuntuDraw.draft()?.selected === n, pick.drafts[0]);
    const [x, y] = pick.at;
    const r = 0.0012; // about 130 m each way: handles of the grid are far apart on screen
    await page.evaluate(({ x, y, r }) => {
      window.__cuntuMap.fitBounds([[x - r, y - r], [x + r, y + r]], { padding: { left: 440, right: 110, top: 110, bottom: 110 }, animate: false, maxZoom: 18 });
    }, { x, y, r });
    await idle(page);
    const [from] = await toPage(page, [pick.at]);
    const handle = await page.evaluate(({ x, y }) => {
      const map = window.__cuntuMap;
      const r = map.getCanvas().getBoundingClientRect();
      return map.queryRenderedFeatures([x - r.left, y - r.top], { layers: ['edit-draft-handles'] }).length;
    }, from);
    assert.ok(handle > 0, 'no vertex handle where the shared vertex is');
    await page.mouse.move(from.x, from.y);
    await page.mouse.down();
    await page.mouse.move(from.x + 12, from.y + 9, { steps: 4 });
    await page.mouse.move(from.x + 24, from.y + 18, { steps: 4 });
    await page.mouse.up();
    await page.waitForFunction(() => window.__cuntuDraw.draft()?.adjustments === 1, null, { timeout: 10_000 });
    const adjusted = await page.evaluate(() => window.__cuntuDraw.draft().features);
    const moved = adjusted.filter((f, i) => JSON.stringify(f.geometry) !== JSON.stringify(draft.features[i].geometry)).map((f) => f.properties.draft);
    assert.deepEqual(moved.sort(), pick.drafts.slice().sort(), 'the move did not change exactly the two grids sharing the vertex');
    // Both still share the vertex at its new place: find it in the first and look for it in the second.
    const [a, b] = pick.drafts.map((n) => adjusted.find((f) => f.properties.draft === n).geometry);
    const before = (g) => (g.type === 'Polygon' ? [g.coordinates] : g.coordinates).flat(2);
    const added = before(a).filter((c) => !before(draft.features.find((f) => f.properties.draft === pick.drafts[0]).geometry).some((d) => d[0] === c[0] && d[1] === c[1]));
    assert.ok(added.length >= 1, 'the dragged vertex did not move');
    const to = added[0];
    assert.ok(hasVertexNear(b, to, 1e-9), 'the second grid lost the shared vertex: the edge is no longer shared');
    assert.ok(!hasVertexNear(a, pick.at, 1e-9) && !hasVertexNear(b, pick.at, 1e-9), 'the old vertex is still there');
    await page.locator('[data-testid="draft-undo"]').click();
    assert.equal(await page.evaluate(() => window.__cuntuDraw.draft().adjustments), 0, 'Undo did not take the move back');
    assert.ok(await page.evaluate((p) => window.__cuntuDraw.draft().features.some((f) => JSON.stringify(f.geometry).includes(JSON.stringify(p))), pick.at), 'Undo did not put the vertex back');
    await page.keyboard.press('Control+Shift+Z');
    assert.equal(await page.evaluate(() => window.__cuntuDraw.draft().adjustments), 1, 'Ctrl+Shift+Z did not redo the move');
    await page.locator('[data-testid="draft-adjusted"]').waitFor();
    // Far enough out to see the two grids around the moved vertex.
    await page.evaluate(({ x, y, r }) => {
      window.__cuntuMap.fitBounds([[x - r, y - r], [x + r, y + r]], { padding: { left: 440, right: 110, top: 110, bottom: 110 }, animate: false });
    }, { x, y, r: r * 3 });
    await idle(page);
    await settle(page);
    await shot(page, 'propose-03-adjusted.png');

    // 3. Accept: the dry run's preview with the true counts, then Save.
    await page.locator('[data-testid="draft-accept"]').click();
    const p = await preview(page);
    assert.equal(p.state, 'ready', `the accept was refused: ${p.error}`);
    const kept = p.grids.filter((g) => !g.removed);
    assert.equal(kept.length, summary.grids, `the preview lists ${kept.length} grids for ${summary.grids} drafts`);
    assert.equal(kept.reduce((s, g) => s + g.households, 0), start.households, 'the preview’s counts do not add up to the village');
    assert.match(p.summary, /^保存后共 \d+ 个网格，\d+ 户更换网格$/, 'the preview’s headline');
    await page.locator('#preview-dialog').evaluate((d) => (d.scrollTop = 0));
    await shot(page, 'propose-04-preview.png');
    const n = await loads(page);
    await page.locator('[data-testid="preview-save"]').click();
    await reloaded(page, n);
    assert.ok(!(await page.locator('#preview-dialog').isVisible()), 'the preview dialog stays open after saving');

    // 4. The grids are the draft now: the page's and the server's.
    assert.equal(await page.evaluate(() => window.__cuntuDraw.draft()), null, 'the draft is still shown after accepting');
    const after = await page.evaluate(() => window.__cuntuDraw.data().grids.features.map((f) => ({ ...f.properties, geometry: f.geometry })));
    assert.equal(after.length, summary.grids, 'the grid layer does not have the draft’s grids');
    const server = await (await context.request.get(`${BASE}/api/villages/${village.id}/grids`)).json();
    assert.equal(server.grids.features.length, summary.grids);
    assert.equal(server.gaps?.households ?? 0, 0, 'households left outside the grids');
    assert.ok(after.some((g) => hasVertexNear(g.geometry, to, 1e-6)), 'no saved grid has the moved vertex');
    assert.equal(await page.evaluate(() => window.__cuntuMap.getLayoutProperty('edit-grid-label', 'visibility')), 'visible');
    assert.equal(await page.locator('[data-testid="grid-row"]').count(), summary.grids);
    await idle(page);
    await shot(page, 'propose-05-accepted.png');

    // 5. A grid that continued (same id, a new version): its history shows the accept.
    const continued = after.filter((g) => g.version >= 2).sort((x, y) => y.version - x.version)[0];
    assert.ok(continued, `no grid continued with a new version: ${after.map((g) => `${g.id}v${g.version}`)}`);
    await page.locator(`[data-testid="grid-row"][data-id="${continued.id}"]`).click();
    await page.waitForFunction((id) => window.__cuntuDraw.selected() === id, continued.id);
    await page.locator('[data-testid="history-open"]').click();
    await page.waitForSelector('[data-testid="history-item"]');
    const versions = await page.locator('[data-testid="history-item"]').evaluateAll((els) => els.map((e) => Number(e.dataset.version)));
    assert.ok(versions.includes(continued.version) && versions.includes(continued.version - 1), `history versions ${versions} of grid ${continued.id} v${continued.version}`);
    await page.locator(`[data-testid="history-item"][data-version="${continued.version - 1}"] .history-pick`).click();
    await idle(page);
    await settle(page);
    await shot(page, 'propose-06-history.png');

    assertSameOrigin(requests);
    assert.deepEqual(errors, [], 'console errors');
  } finally {
    await context.close();
  }
});

test('township rule: the admin sets 20–40 and back to 30–60; the cadre has no rule editor', { timeout: TEST_TIMEOUT }, async () => {
  // A refused rule (min above max) answers 4xx: Chromium logs that response.
  const { context, page, errors } = await openVillage({ allow: (url, status) => status === 422 || status === 400 });
  const rule = async () => (await context.request.get(`${BASE}/api/townships/${village.township_id}/grid-rule`)).json();
  const setRule = async (min, max) => {
    const n = await loads(page);
    await page.locator('[data-testid="rule-min"]').fill(String(min));
    await page.locator('[data-testid="rule-max"]').fill(String(max));
    await page.locator('[data-testid="rule-save"]').click();
    await reloaded(page, n);
  };
  try {
    assert.deepEqual(await rule(), { min_households: 30, max_households: 60 }, 'the township rule is not the demo’s 30–60');
    await page.locator('[data-testid="rule-editor"]').waitFor();
    const okBefore = await page.locator('[data-testid="grid-row"] .status-ok').count();
    await setRule(20, 40);
    assert.deepEqual(await rule(), { min_households: 20, max_households: 40 });
    assert.match(await page.locator('[data-testid="grid-rule"]').textContent(), /20–40/);
    // The colours follow: grids of 41–60 households are "too many" now.
    const counts = await page.evaluate(() => window.__cuntuDraw.data().grids.features.map((f) => f.properties.households));
    const over = await page.locator('[data-testid="grid-row"] .status-over').count();
    assert.equal(over, counts.filter((h) => h > 40).length, 'the list is not coloured by the new rule');
    assert.equal(await page.locator('[data-testid="propose-max"]').inputValue(), '40', 'the proposal form does not follow the new rule');
    await idle(page);
    await settle(page);
    await shot(page, 'propose-07-rule.png');
    // A rule the server refuses: its message is shown, nothing changes.
    await page.locator('[data-testid="rule-min"]').fill('50');
    await page.locator('[data-testid="rule-max"]').fill('40');
    await page.locator('[data-testid="rule-save"]').click();
    await page.waitForFunction(() => (document.querySelector('[data-testid="rule-error"]')?.textContent ?? '').length > 8, null, { timeout: 30_000 });
    assert.deepEqual(await rule(), { min_households: 20, max_households: 40 });
    await setRule(30, 60);
    assert.deepEqual(await rule(), { min_households: 30, max_households: 60 });
    assert.match(await page.locator('[data-testid="grid-rule"]').textContent(), /30–60/);
    assert.equal(await page.locator('[data-testid="grid-row"] .status-ok').count(), okBefore);
    assert.deepEqual(errors, [], 'console errors');
  } finally {
    await context.request.put(`${BASE}/api/townships/${village.township_id}/grid-rule`, { data: { min_households: 30, max_households: 60 } }).catch(() => {});
    await context.close();
  }

  const cadre = await newPage(browser, { user: 'cadre' });
  try {
    await cadre.page.goto(`${BASE}/draw`, { waitUntil: 'domcontentloaded' });
    await cadre.page.waitForSelector('body[data-map-ready="1"][data-draw-ready="1"]', { state: 'attached', timeout: READY_TIMEOUT });
    assert.equal(await cadre.page.locator('[data-testid="rule-editor"]').count(), 0, 'a village cadre sees the township rule editor');
    assert.ok(await cadre.page.locator('[data-testid="propose-run"]').isEnabled(), 'the cadre cannot propose grids');
    assert.deepEqual(cadre.errors, [], 'console errors');
  } finally {
    await cadre.context.close();
  }
});

test('phone: a proposal in the bottom sheet', { timeout: TEST_TIMEOUT }, async () => {
  const { context, page, errors } = await openVillage({ viewport: { width: 390, height: 844 }, mobile: true });
  try {
    await propose(page);
    for (const sel of ['[data-testid="propose-run"]', '[data-testid="draft-accept"]', '[data-testid="draft-discard"]']) {
      await page.locator(sel).scrollIntoViewIfNeeded();
      const b = await page.locator(sel).boundingBox();
      assert.ok(b && b.x >= 0 && b.x + b.width <= 390, `${sel} is off screen: ${JSON.stringify(b)}`);
    }
    // The sheet scrolled to the figures and the buttons, as the page does after proposing.
    await page.locator('#draw-propose .draft-result').evaluate((e) => e.scrollIntoView({ block: 'start' }));
    await settle(page);
    await shot(page, 'propose-phone.png');
    // Discard: the draft goes, nothing was saved.
    await page.locator('[data-testid="draft-discard"]').click();
    assert.equal(await page.evaluate(() => window.__cuntuDraw.draft()), null);
    assert.deepEqual(errors, [], 'console errors');
  } finally {
    await context.close();
  }
});
