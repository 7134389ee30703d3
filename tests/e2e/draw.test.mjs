// Browser tests of the grid editor (/draw).
//
//   cd tests/e2e && npm ci && CUNTU_URL=http://127.0.0.1:18080 node --test draw.test.mjs
//
// The demo cadre edits 冶河村 (village 2). The database is shared with map.test.mjs and
// auth.test.mjs (which look at the grid 130111103201-01 and the worker's grid), so the edits here
// are made on another grid of the village, chosen from the grids as loaded. Each run leaves the
// village fully covered again, with the chosen grid redrawn under a new id.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { apiLogin, assertNotBlank, assertSameOrigin, BASE, canvasStats, idle, launchBrowser, newPage, READY_TIMEOUT, settle, SHOTS, TEST_TIMEOUT } from './lib.mjs';

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, name) });

/** Log in (through the API), open /draw and wait until the village's grids are drawn. */
async function openDraw(opts = {}) {
  const session = await newPage(browser, { user: 'cadre', ...opts });
  try {
    const res = await session.page.goto(`${BASE}/draw`, { waitUntil: 'domcontentloaded' });
    assert.equal(res.status(), 200, `GET /draw as ${opts.user ?? 'cadre'}`);
    await session.page.waitForSelector('body[data-map-ready="1"][data-draw-ready="1"]', { state: 'attached', timeout: READY_TIMEOUT });
    await settle(session.page);
  } catch (e) {
    await session.context.close();
    throw e;
  }
  return session;
}

/** The grids as the page loaded them: { village, rule, grids: [{ id, code, name, version, households, staff, geometry }], gaps }. */
async function drawData(page) {
  return page.evaluate(() => {
    const d = window.__cuntuDraw.data();
    return {
      village: { id: d.village.id, name: d.village.name },
      rule: d.rule,
      gaps: { households: d.gaps?.households ?? 0, area_m2: d.gaps?.area_m2 ?? 0 },
      grids: d.grids.features.map((f) => ({ ...f.properties, geometry: f.geometry })),
    };
  });
}

const loads = (page) => page.evaluate(() => Number(document.body.dataset.gridLoads ?? 0));

/** Wait until the page has loaded the grids again after `before` loads. */
async function reloaded(page, before) {
  await page.waitForFunction((n) => Number(document.body.dataset.gridLoads ?? 0) > n && document.body.dataset.drawReady === '1', before, {
    timeout: 60_000,
  });
  await settle(page);
}

/** Wait for the preview dialog's dry run; its parts. */
async function preview(page) {
  await page.waitForSelector('#preview-dialog[data-state="ready"], #preview-dialog[data-state="error"]', { timeout: 60_000 });
  return page.evaluate(() => {
    const q = (s) => document.querySelector(`[data-testid="${s}"]`);
    return {
      state: document.querySelector('#preview-dialog').dataset.state,
      summary: q('preview-summary')?.textContent ?? '',
      error: q('preview-error')?.hidden ? '' : (q('preview-error')?.textContent ?? ''),
      moves: [...document.querySelectorAll('[data-testid="preview-moves"] li')].map((li) => li.textContent),
      grids: [...document.querySelectorAll('[data-testid="preview-grids"] tr')].map((tr) => ({
        id: Number(tr.dataset.id),
        households: tr.dataset.households === undefined ? null : Number(tr.dataset.households),
        removed: tr.dataset.removed === '1',
      })),
      warnings: [...document.querySelectorAll('[data-testid="preview-warnings"] li')].map((li) => li.textContent),
    };
  });
}

/** Save from the preview dialog and wait for the grids to be loaded again. */
async function save(page) {
  const n = await loads(page);
  await page.locator('[data-testid="preview-save"]').click();
  await reloaded(page, n);
  assert.ok(!(await page.locator('#preview-dialog').isVisible()), 'the preview dialog stays open after saving');
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

const ringOf = (g) => (g.geometry.type === 'Polygon' ? g.geometry.coordinates[0] : g.geometry.coordinates[0][0]);
const distinct = (ring) => ring.slice(0, -1).filter((c, i, a) => a.findIndex((d) => Math.abs(d[0] - c[0]) < 1e-9 && Math.abs(d[1] - c[1]) < 1e-9) === i);

function bboxOf(g) {
  let b = [Infinity, Infinity, -Infinity, -Infinity];
  const visit = (c) => {
    if (typeof c[0] === 'number') b = [Math.min(b[0], c[0]), Math.min(b[1], c[1]), Math.max(b[2], c[0]), Math.max(b[3], c[1])];
    else c.forEach(visit);
  };
  visit(g.geometry.coordinates);
  return b;
}

/** Show bounds [w, s, e, n] right of the panel, with room around for clicks outside them. */
async function showBounds(page, b) {
  await page.evaluate((b) => {
    window.__cuntuMap.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: { left: 440, right: 110, top: 110, bottom: 110 }, animate: false, maxZoom: 17.5 });
  }, b);
  await idle(page);
}

/**
 * The grid to edit: in the village, not 130111103201-01 nor one the demo worker works in (the
 * other browser tests look at those), one polygon without holes with few vertices (so the test
 * can click each of them) and far apart (so each click snaps onto the right one).
 */
function pickGrid(grids) {
  const ok = grids.filter((g) => {
    if (g.code?.endsWith('-01') || (g.staff ?? []).some((s) => s.username === 'worker')) return false;
    if (g.households < 10) return false;
    const polys = g.geometry.type === 'Polygon' ? [g.geometry.coordinates] : g.geometry.coordinates;
    if (polys.length !== 1 || polys[0].length !== 1) return false;
    const n = distinct(polys[0][0]).length;
    return n >= 4 && n <= 9;
  });
  assert.ok(ok.length, 'no grid of the village fits the test (one simple polygon of 4-9 vertices)');
  // Squarest first: its vertices are far apart at any zoom.
  const ratio = (g) => {
    const b = bboxOf(g);
    const w = (b[2] - b[0]) * Math.cos((b[1] * Math.PI) / 180);
    const h = b[3] - b[1];
    return Math.max(w, h) / Math.min(w, h) + distinct(ringOf(g)).length / 4;
  };
  return ok.sort((a, b) => ratio(a) - ratio(b))[0];
}

/** A page point inside grid `id` as drawn (away from its edges), for clicking it on the map. */
async function pointInGrid(page, id) {
  return page.evaluate((id) => {
    const map = window.__cuntuMap;
    const canvas = map.getCanvas();
    const r = canvas.getBoundingClientRect();
    let best = null;
    for (let y = 20; y < r.height - 20; y += 9) {
      for (let x = 20; x < r.width - 20; x += 9) {
        if (document.elementFromPoint(r.left + x, r.top + y) !== canvas) continue;
        const ids = (dx, dy) => map.queryRenderedFeatures([x + dx, y + dy], { layers: ['edit-grid-fill'] }).map((f) => f.properties.id);
        // Inside by 12 px in every direction: not an edge a click could miss.
        if (![[0, 0], [12, 0], [-12, 0], [0, 12], [0, -12]].every(([dx, dy]) => ids(dx, dy).includes(id))) continue;
        const d = Math.hypot(x - r.width / 2, y - r.height / 2);
        if (!best || d < best.d) best = { x: r.left + x, y: r.top + y, d };
      }
    }
    return best;
  }, id);
}

async function selectGrid(page, id) {
  await page.locator(`[data-testid="grid-row"][data-id="${id}"]`).click();
  await page.waitForFunction((id) => window.__cuntuDraw.selected() === id, id);
}

/**
 * After a failure half-way: put every household of the village back into a grid (the other
 * browser tests share the database), by filling what is uncovered, as the editor's button does.
 */
async function refill(context, villageId, households) {
  const res = await context.request.get(`${BASE}/api/villages/${villageId}/grids`);
  if (res.status() !== 200) return;
  const data = await res.json();
  if ((data.gaps?.households ?? 0) <= households) return;
  await context.request.post(`${BASE}/api/villages/${villageId}/grids`, { data: { geometry: data.village.geometry, trim: true } });
}

const vertexCount = (page) => page.evaluate(() => Number(document.querySelector('#draw-bar')?.dataset.vertices ?? -1));

test('cadre: delete a grid, draw it back snapped to its neighbours, split it, merge it back, see its history', { timeout: TEST_TIMEOUT }, async () => {
  const { context, page, requests, errors } = await openDraw();
  let startGap = Infinity;
  try {
    // The village, its grids coloured by count, each in the list.
    const start = await drawData(page);
    startGap = start.gaps.households;
    assert.equal(start.village.id, 2, 'the cadre’s village is not preselected');
    assert.ok(start.grids.length >= 4, `only ${start.grids.length} grids in ${start.village.name}`);
    assert.equal(await page.locator('[data-testid="grid-row"]').count(), start.grids.length, 'the list does not hold every grid');
    assert.match(await page.locator('[data-testid="grid-rule"]').textContent(), new RegExp(`${start.rule.min_households}.${start.rule.max_households}`));
    assertNotBlank(await canvasStats(page), 'the editor map');
    const labelled = await page.evaluate(() => window.__cuntuMap.queryRenderedFeatures({ layers: ['edit-grid-label'] }).map((f) => f.properties.label));
    assert.ok(labelled.some((l) => /^网格\d+ · \d+户$/.test(l)), `no grid label like "网格03 · 42户" among ${labelled.slice(0, 5)}`);
    await shot(page, 'draw-01-village.png');

    // 1. Delete a grid: its households fall into the uncovered part.
    const grid = pickGrid(start.grids);
    const ids0 = new Set(start.grids.map((g) => g.id));
    await selectGrid(page, grid.id);
    await page.locator('[data-testid="tool-delete"]').click();
    let p = await preview(page);
    assert.equal(p.state, 'ready', `delete refused: ${p.error}`);
    assert.ok(p.summary.includes(String(grid.households)), `the summary "${p.summary}" does not name the ${grid.households} households`);
    assert.ok(p.moves.some((m) => m.includes(String(grid.households))), `the moves ${JSON.stringify(p.moves)} lack the ${grid.households} households`);
    await save(page);
    const gapped = await drawData(page);
    assert.ok(!gapped.grids.some((g) => g.id === grid.id), 'the deleted grid is still listed');
    assert.equal(gapped.gaps.households, start.gaps.households + grid.households, 'the uncovered part does not hold the deleted grid’s households');
    assert.equal(Number(await page.locator('[data-testid="gap-row"]').getAttribute('data-households')), gapped.gaps.households);
    await showBounds(page, bboxOf(grid));
    const gapLabel = await page.evaluate(() => window.__cuntuMap.queryRenderedFeatures({ layers: ['edit-grid-label'] }).filter((f) => f.properties.kind === 'gap').map((f) => f.properties.label));
    assert.ok(gapLabel.some((l) => l.includes(`${gapped.gaps.households}户`)), `no gap label with ${gapped.gaps.households}户: ${gapLabel}`);
    await shot(page, 'draw-02-gap.png');

    // 2. Draw a new grid: a click 5 px off each corner of the gap (snapping puts it on the corner),
    // and one click far out in a neighbour, which trimming cuts away.
    await page.locator('[data-testid="tool-create"]').click();
    const corners = distinct(ringOf(grid));
    const b = bboxOf(grid);
    const centre = (await toPage(page, [[(b[0] + b[2]) / 2, (b[1] + b[3]) / 2]]))[0];
    const px = await toPage(page, corners);
    // The longest edge gets the vertex in the neighbour, 45 px outside its middle.
    let longest = 0;
    for (let i = 0; i < px.length; i++) {
      const j = (i + 1) % px.length;
      if (Math.hypot(px[j].x - px[i].x, px[j].y - px[i].y) > Math.hypot(px[(longest + 1) % px.length].x - px[longest].x, px[(longest + 1) % px.length].y - px[longest].y)) longest = i;
    }
    const clicks = [];
    for (let i = 0; i < px.length; i++) {
      const out = { x: px[i].x - centre.x, y: px[i].y - centre.y };
      const len = Math.hypot(out.x, out.y) || 1;
      clicks.push({ x: px[i].x + (5 * out.x) / len, y: px[i].y + (5 * out.y) / len, snap: true });
      if (i === longest) {
        const j = (i + 1) % px.length;
        const mid = { x: (px[i].x + px[j].x) / 2, y: (px[i].y + px[j].y) / 2 };
        const o = { x: mid.x - centre.x, y: mid.y - centre.y };
        const l = Math.hypot(o.x, o.y) || 1;
        clicks.push({ x: mid.x + (45 * o.x) / l, y: mid.y + (45 * o.y) / l, snap: false });
      }
    }
    for (const [k, c] of clicks.entries()) {
      await page.mouse.move(c.x, c.y, { steps: 2 });
      if (c.snap) {
        const snapped = await page.evaluate(() => document.body.dataset.snapped ?? '');
        assert.match(snapped, /^(grid|village|gap):vertex$/, `click ${k} 5 px off a corner does not snap onto a vertex (${snapped || 'no snap'})`);
      }
      if (k === 2) await shot(page, 'draw-03-snap.png');
      await page.mouse.click(c.x, c.y);
      await page.waitForTimeout(60);
    }
    assert.equal(await vertexCount(page), clicks.length, 'not every click made a vertex');
    // Undo and redo: the button, then the keys.
    await page.locator('[data-testid="draw-undo"]').click();
    assert.equal(await vertexCount(page), clicks.length - 1, 'Undo did not take a vertex back');
    await page.keyboard.press('Control+Shift+Z');
    assert.equal(await vertexCount(page), clicks.length, 'Ctrl+Shift+Z did not redo the vertex');
    await page.keyboard.press('Control+Z');
    await page.keyboard.press('Control+Y');
    assert.equal(await vertexCount(page), clicks.length, 'Ctrl+Z, Ctrl+Y did not come back to the same vertices');
    await shot(page, 'draw-04-drawn.png');
    await page.locator('[data-testid="draw-finish"]').click();
    p = await preview(page);
    assert.equal(p.state, 'ready', `the new grid was refused: ${p.error}`);
    const created = p.grids.find((g) => !ids0.has(g.id));
    assert.ok(created, `the preview lists no new grid: ${JSON.stringify(p.grids)}`);
    assert.equal(created.households, grid.households, 'the new grid does not hold exactly the households of the gap');
    await shot(page, 'draw-05-preview.png');
    await save(page);
    const filled = await drawData(page);
    const fresh = filled.grids.find((g) => !ids0.has(g.id));
    assert.ok(fresh, 'the new grid is not listed');
    assert.equal(fresh.households, grid.households);
    assert.equal(filled.gaps.households, start.gaps.households, 'households left uncovered after filling the gap');
    assert.ok(filled.gaps.area_m2 <= start.gaps.area_m2 + 50, `uncovered area grew from ${start.gaps.area_m2} to ${filled.gaps.area_m2} m²`);
    await shot(page, 'draw-06-created.png');

    // 3. Split it with a line across its middle; the second end is a double click.
    await selectGrid(page, fresh.id);
    const fb = bboxOf(fresh);
    const wide = (fb[2] - fb[0]) * Math.cos((fb[1] * Math.PI) / 180) > fb[3] - fb[1];
    const [cx, cy] = [(fb[0] + fb[2]) / 2, (fb[1] + fb[3]) / 2];
    const line = wide
      ? [[cx, fb[1] - (fb[3] - fb[1]) * 0.2], [cx, fb[3] + (fb[3] - fb[1]) * 0.2]]
      : [[fb[0] - (fb[2] - fb[0]) * 0.2, cy], [fb[2] + (fb[2] - fb[0]) * 0.2, cy]];
    // The whole line on screen, its ends outside the grid.
    await showBounds(page, [Math.min(fb[0], line[0][0], line[1][0]), Math.min(fb[1], line[0][1], line[1][1]), Math.max(fb[2], line[0][0], line[1][0]), Math.max(fb[3], line[0][1], line[1][1])]);
    const [a, z] = await toPage(page, line);
    await page.locator('[data-testid="tool-split"]').click();
    await page.mouse.click(a.x, a.y);
    await page.mouse.move(z.x, z.y, { steps: 4 });
    await page.mouse.dblclick(z.x, z.y);
    p = await preview(page);
    assert.equal(p.state, 'ready', `the split was refused: ${p.error}`);
    assert.equal(p.grids.length, 2, `the split preview lists ${p.grids.length} grids`);
    assert.equal(p.grids[0].households + p.grids[1].households, grid.households, 'the halves do not add up');
    await save(page);
    const split = await drawData(page);
    const half = split.grids.find((g) => !ids0.has(g.id) && g.id !== fresh.id);
    assert.ok(half, 'the second half is not listed');
    assert.equal(split.grids.find((g) => g.id === fresh.id).households + half.households, grid.households);
    await shot(page, 'draw-07-split.png');

    // 4. Merge the halves back: the kept one is selected, the other clicked on the map.
    await selectGrid(page, fresh.id);
    await showBounds(page, fb);
    await page.locator('[data-testid="tool-merge"]').click();
    const inHalf = await pointInGrid(page, half.id);
    assert.ok(inHalf, 'no point inside the second half to click');
    await page.mouse.click(inHalf.x, inHalf.y);
    p = await preview(page);
    assert.equal(p.state, 'ready', `the merge was refused: ${p.error}`);
    assert.ok(p.grids.some((g) => g.id === fresh.id && g.households === grid.households), `the merge preview: ${JSON.stringify(p.grids)}`);
    await save(page);
    const merged = await drawData(page);
    assert.ok(!merged.grids.some((g) => g.id === half.id), 'the absorbed half is still listed');
    assert.equal(merged.grids.find((g) => g.id === fresh.id).households, grid.households);
    assert.equal(merged.grids.length, start.grids.length, 'the village does not have its grids back');
    await shot(page, 'draw-08-merged.png');

    // 5. History: created, split, merged; an older outline shows over the current one.
    await selectGrid(page, fresh.id);
    await page.locator('[data-testid="history-open"]').click();
    await page.waitForSelector('[data-testid="history-item"]');
    const versions = await page.locator('[data-testid="history-item"]').evaluateAll((els) => els.map((e) => Number(e.dataset.version)));
    assert.ok(versions.length >= 3, `only ${versions.length} versions in the history: ${versions}`);
    const older = Math.min(...versions.filter((v) => v !== Math.max(...versions)).filter((v) => v > 1), Math.max(...versions) - 1);
    await page.locator(`[data-testid="history-item"][data-version="${older}"] .history-pick`).click();
    await page.waitForSelector('[data-testid="history-restore"]');
    await idle(page);
    const outline = await page.evaluate(() => window.__cuntuMap.queryRenderedFeatures({ layers: ['edit-history-line'] }).length);
    assert.ok(outline > 0, 'the old version’s outline is not drawn');
    await settle(page);
    await shot(page, 'draw-09-history.png');

    assertSameOrigin(requests);
    assert.deepEqual(errors, [], 'console errors');
  } finally {
    await refill(context, 2, startGap).catch(() => {});
    await context.close();
  }
});

test('someone else’s change first: a stale version says so and shows their change', { timeout: TEST_TIMEOUT }, async () => {
  // The page's own save is refused with 409: Chromium logs that response.
  const allow = (url, status) => status === 409;
  const { context, page, errors } = await openDraw({ allow });
  try {
    const data = await drawData(page);
    const grid = data.grids.find((g) => !g.code?.endsWith('-01') && !(g.staff ?? []).some((s) => s.username === 'worker'));
    await selectGrid(page, grid.id);
    // Another session renames the grid behind the page's back.
    const other = `${grid.name}-改`;
    const res = await context.request.patch(`${BASE}/api/areas/${grid.id}`, { data: { version: grid.version, name: other } });
    assert.equal(res.status(), 200, `PATCH as another session: ${res.status()} ${await res.text()}`);
    try {
      const n = await loads(page);
      await page.locator('[data-testid="rename-input"]').fill(`${grid.name}-新`);
      await page.locator('[data-testid="rename-save"]').click();
      await page.waitForSelector('#preview-dialog [data-testid="preview-error"][data-code="stale_version"]', { timeout: 60_000 });
      const message = await page.locator('[data-testid="preview-error"]').textContent();
      assert.ok(message.includes('其他人'), `the stale message "${message}" does not say someone else changed it`);
      assert.ok(!(await page.locator('[data-testid="preview-save"]').isVisible()), 'Save is still offered on a stale version');
      await reloaded(page, n);
      const now = await drawData(page);
      assert.equal(now.grids.find((g) => g.id === grid.id)?.name, other, 'the other session’s change is not shown');
      await shot(page, 'draw-10-stale.png');
      await page.locator('[data-testid="preview-cancel"]').click();
    } finally {
      // Put the name back for the other tests.
      const cur = await (await context.request.get(`${BASE}/api/areas/${grid.id}`)).json();
      await context.request.patch(`${BASE}/api/areas/${grid.id}`, { data: { version: cur.version, name: grid.name } });
    }
    assert.deepEqual(errors, [], 'console errors');
  } finally {
    await context.close();
  }
});

test('grid worker: /draw is 403 and every grid edit is refused', { timeout: TEST_TIMEOUT }, async () => {
  // Two real grids of the village (as the cadre sees them), so a refusal is not a 404.
  const cadre = await browser.newContext();
  let a, b;
  try {
    await apiLogin(cadre, 'cadre');
    const data = await (await cadre.request.get(`${BASE}/api/villages/2/grids`)).json();
    [a, b] = data.grids.features.map((f) => ({ id: f.properties.id, version: f.properties.version }));
  } finally {
    await cadre.close();
  }
  const { context, page } = await newPage(browser, { user: 'worker', allow: (url, status) => status === 403 });
  try {
    const res = await page.goto(`${BASE}/draw`, { waitUntil: 'domcontentloaded' });
    assert.equal(res.status(), 403, 'a grid worker may open the grid editor');
    const answers = await page.evaluate(async ({ a, b }) => {
      const ring = [[9.5, 47.1], [9.51, 47.1], [9.51, 47.11], [9.5, 47.1]];
      const send = async (method, url, body) => {
        const r = await fetch(url, { method, headers: { 'content-type': 'application/json', accept: 'application/json' }, body: body && JSON.stringify(body) });
        return `${method} ${url} ${r.status}`;
      };
      return Promise.all([
        send('POST', '/api/villages/2/grids', { geometry: { type: 'Polygon', coordinates: [ring] }, trim: true }),
        send('POST', '/api/villages/2/grids/validate', { op: 'create', geometry: { type: 'Polygon', coordinates: [ring] }, trim: true }),
        send('POST', `/api/areas/${a.id}/split`, { line: { type: 'LineString', coordinates: [[9.5, 47.1], [9.51, 47.1]] }, version: a.version }),
        send('POST', '/api/areas/merge', { keep: a, absorb: b }),
        send('PATCH', `/api/areas/${a.id}`, { version: a.version, name: 'x' }),
        send('DELETE', `/api/areas/${a.id}?version=${a.version}`),
        send('POST', '/api/villages/2/grids/move-vertices', { moves: [{ from: [9.5, 47.1], to: [9.5001, 47.1] }], versions: {} }),
        send('POST', `/api/areas/${a.id}/restore`, { version: a.version, to_version: 1 }),
        send('PUT', `/api/areas/${a.id}/staff`, { leader: null, workers: [] }),
      ]);
    }, { a, b });
    const allowed = answers.filter((a) => !a.endsWith(' 403'));
    assert.deepEqual(allowed, [], 'grid edits a grid worker was not refused');
  } finally {
    await context.close();
  }
});

test('phone: the editor is a bottom sheet under the map', { timeout: TEST_TIMEOUT }, async () => {
  const { context, page, errors } = await openDraw({ viewport: { width: 390, height: 844 }, mobile: true });
  try {
    const sheet = await page.locator('#draw-panel').boundingBox();
    assert.ok(sheet && sheet.x >= 0 && sheet.x + sheet.width <= 390 && sheet.y > 844 * 0.4, `the panel is not a bottom sheet: ${JSON.stringify(sheet)}`);
    for (const sel of ['[data-testid="tool-create"]', '[data-testid="tool-split"]', '#user-button', '.lang-switch']) {
      const b = await page.locator(sel).boundingBox();
      assert.ok(b && b.x >= 0 && b.x + b.width <= 390, `${sel} is off screen: ${JSON.stringify(b)}`);
    }
    assertNotBlank(await canvasStats(page), 'the editor map on a phone');
    // English labels on the map and in the panel.
    await page.getByRole('button', { name: 'EN', exact: true }).click();
    await idle(page);
    const labels = await page.evaluate(() => window.__cuntuMap.queryRenderedFeatures({ layers: ['edit-grid-label'] }).map((f) => f.properties.label));
    assert.ok(labels.some((l) => /^Grid \d+ · \d+ hh$/.test(l)), `no English grid label: ${labels.slice(0, 5)}`);
    assert.equal((await page.locator('[data-testid="tool-split"]').textContent()).trim(), 'Split');
    await settle(page);
    await shot(page, 'draw-phone.png');
    await page.getByRole('button', { name: '中文', exact: true }).click();
    assert.deepEqual(errors, [], 'console errors');
  } finally {
    await context.close();
  }
});
