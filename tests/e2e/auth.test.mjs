// Browser tests of accounts on the page: the login page, the header's account corner, the
// household popup, and which households each demo role is sent.
//
//   cd tests/e2e && npm ci && CUNTU_URL=http://127.0.0.1:18080 node --test
//
// Needs the demo loaded (`cuntu demo load`): its users and passwords are in lib.mjs DEMO_USERS.
// Wrong passwords are tried only with usernames that do not exist (the server answers them with
// the same message): five wrong passwords in a row lock a real account for 15 minutes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  areaTree,
  assertSameOrigin,
  BASE,
  DEMO_USERS,
  descendants,
  findHouseholdPoint,
  fitTo,
  launchBrowser,
  newPage,
  openMap,
  renderedHouseholds,
  settle,
  SHOTS,
  TEST_TIMEOUT,
  waitForMap,
  zoomToVillageCentre,
} from './lib.mjs';

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

const path401 = (p) => (url, status) => status === 401 && new URL(url).pathname === p;
/** Nobody logged in: GET /api/me answers 401, as it should. */
const anonymousMe = path401('/api/me');

const householdTiles = (responses) => responses.filter((r) => new URL(r.url).pathname.startsWith('/tiles/households/'));

/** Wait for the open popup to finish loading; its text. */
async function popupText(page) {
  const popup = page.locator('.maplibregl-popup');
  await popup.waitFor({ state: 'visible', timeout: 10_000 });
  await page.waitForFunction(() => !document.querySelector('.maplibregl-popup dd.loading'), null, { timeout: 15_000 });
  return popup.textContent();
}

/** The logged-in user as the page's own session sees it. */
async function me(page) {
  return page.evaluate(async () => {
    const res = await fetch('/api/me', { headers: { accept: 'application/json' } });
    return res.status === 200 ? (await res.json()).user : null;
  });
}

/** Log in through the form on /login; lands on the map. */
async function loginThroughForm(session, username) {
  const { page } = session;
  await page.goto(`${BASE}/login`, { waitUntil: 'domcontentloaded' });
  await page.locator('#login-username').fill(username);
  await page.locator('#login-password').fill(DEMO_USERS[username].password);
  await page.locator('#login-submit').click();
  await page.waitForURL(`${BASE}/`, { timeout: 15_000 });
  await waitForMap(session);
}

/** Log out through the header menu; lands on /login. */
async function logoutThroughMenu(page) {
  await page.locator('#user-button').click();
  await page.locator('#logout').click();
  await page.waitForURL(`${BASE}/login`, { timeout: 15_000 });
  await page.locator('#login-form').waitFor({ state: 'visible' });
}

test('anonymous: the map shows, households do not, the login link does', { timeout: TEST_TIMEOUT }, async () => {
  const session = await openMap(browser, { allow: anonymousMe });
  const { context, page, requests, responses, errors } = session;
  try {
    const link = page.locator('#login-link');
    assert.ok(await link.isVisible(), 'the login link is not visible');
    assert.equal((await link.textContent()).trim(), '登录');
    assert.equal(await link.getAttribute('href'), '/login');
    assert.ok(!(await page.locator('#user-box').isVisible()), 'an anonymous page shows a user');

    const grid = await zoomToVillageCentre(page);
    assert.ok(grid.zoom >= 13, `zoom ${grid.zoom} too low for households`);
    const counts = await page.evaluate(() => {
      const map = window.__cuntuMap;
      const q = (l) => map.queryRenderedFeatures({ layers: [l] }).length;
      return { households: q('households'), grids: q('grid-fill'), roads: q('roads') };
    });
    assert.equal(counts.households, 0, 'households rendered for an anonymous visitor');
    assert.ok(counts.grids > 0, 'no grids rendered for an anonymous visitor');
    const tiles = householdTiles(responses);
    assert.ok(tiles.length > 0, 'no household tile was requested');
    assert.deepEqual([...new Set(tiles.map((r) => r.status))], [204], 'household tiles for an anonymous visitor are not all 204');

    await link.click();
    await page.waitForURL(`${BASE}/login`);
    assert.ok(await page.locator('#login-form').isVisible(), 'the login link does not lead to the form');

    assertSameOrigin(requests);
    assert.deepEqual(errors, [], 'console errors');
  } finally {
    await context.close();
  }
});

test('login page: labels in both languages, fits a phone, wrong password stays with a message', { timeout: TEST_TIMEOUT }, async () => {
  const session = await newPage(browser, {
    viewport: { width: 375, height: 667 },
    mobile: true,
    allow: path401('/api/login'),
  });
  const { context, page, requests, errors } = session;
  const logins = [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname === '/api/login') logins.push(r.headers());
  });
  try {
    const resp = await page.goto(`${BASE}/login`, { waitUntil: 'domcontentloaded' });
    assert.equal(resp.status(), 200, 'GET /login must answer 200 with the page (index.html)');
    const form = page.locator('#login-form');
    await form.waitFor({ state: 'visible' });
    assert.equal(await page.locator('label[for="login-username"]').textContent(), '用户名');
    assert.equal(await page.locator('label[for="login-password"]').textContent(), '密码');
    assert.equal((await page.locator('#login-submit').textContent()).trim(), '登录');
    assert.ok(!(await page.locator('#map').isVisible()), 'the map shows on the login page');
    assert.ok(!requests.some((u) => u.includes('/tiles')), 'the login page loads tiles');

    // Phone: no sideways scrolling; fields and button fully on screen and big enough to tap.
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 375, `the login page is ${width}px wide on a 375px screen`);
    for (const sel of ['#login-username', '#login-password', '#login-submit']) {
      const b = await page.locator(sel).boundingBox();
      assert.ok(b && b.x >= 0 && b.x + b.width <= 375 && b.y + b.height <= 667, `${sel} is off screen: ${JSON.stringify(b)}`);
      assert.ok(b.height >= 40, `${sel} is only ${b.height}px high`);
    }
    await page.screenshot({ path: path.join(SHOTS, 'login.png') });

    // A wrong password (of a user that does not exist: same message, and no account gets locked):
    // the server's message shows, the page stays, the password is cleared.
    await page.locator('#login-username').fill('nobody');
    await page.locator('#login-password').fill('not-the-password');
    await page.locator('#login-submit').click();
    const err = page.locator('#login-error');
    await err.waitFor({ state: 'visible', timeout: 10_000 });
    const zhMessage = (await err.textContent()).trim();
    assert.ok(zhMessage.length > 0, 'empty error message');
    assert.ok(/[\u4e00-\u9fff]/.test(zhMessage), `the error "${zhMessage}" is not in Chinese`);
    assert.equal(new URL(page.url()).pathname, '/login');
    assert.equal(await page.locator('#login-password').inputValue(), '');
    assert.ok(logins.length === 1 && /^zh-CN/.test(logins[0]['accept-language'] ?? ''), `Accept-Language ${logins[0]?.['accept-language']}`);
    await page.screenshot({ path: path.join(SHOTS, 'login-error.png') });

    // English labels; the request asks for English, and the server answers in English.
    await page.getByRole('button', { name: 'EN', exact: true }).click();
    assert.equal(await page.locator('label[for="login-username"]').textContent(), 'Username');
    assert.equal(await page.locator('label[for="login-password"]').textContent(), 'Password');
    assert.equal(await page.locator('h1.title').textContent(), 'Cuntu · One village, one map');
    await page.locator('#login-username').fill('nobody-e2e');
    await page.locator('#login-password').fill('not-the-password');
    await page.locator('#login-submit').click();
    await page.waitForFunction((zh) => {
      const el = document.querySelector('#login-error');
      return el && !el.hidden && el.textContent.trim() !== zh;
    }, zhMessage, { timeout: 10_000 });
    const enMessage = (await err.textContent()).trim();
    assert.ok(/[A-Za-z]/.test(enMessage) && !/[\u4e00-\u9fff]/.test(enMessage), `the error "${enMessage}" is not in English`);
    assert.ok(/^en/.test(logins[1]['accept-language'] ?? ''), `Accept-Language ${logins[1]['accept-language']}`);
    assert.equal(new URL(page.url()).pathname, '/login');

    // Empty fields are caught on the page.
    await page.locator('#login-username').fill('');
    await page.locator('#login-submit').click();
    assert.equal((await err.textContent()).trim(), 'Enter your username and password');
    assert.equal(logins.length, 2, 'an empty form was sent');

    assertSameOrigin(requests);
    assert.deepEqual(errors, [], 'console errors');
  } finally {
    await context.close();
  }
});

test('login goes to a same-origin `next`, never elsewhere', { timeout: TEST_TIMEOUT }, async () => {
  for (const [next, expected] of [
    ['/?from=popup', '/?from=popup'],
    ['//evil.example/', '/'],
    ['https://evil.example/', '/'],
    ['/\\evil.example', '/'],
  ]) {
    const session = await newPage(browser);
    try {
      const { page } = session;
      await page.goto(`${BASE}/login?next=${encodeURIComponent(next)}`, { waitUntil: 'domcontentloaded' });
      await page.locator('#login-username').fill('dept');
      await page.locator('#login-password').fill(DEMO_USERS.dept.password);
      await page.locator('#login-submit').click();
      await page.waitForURL((u) => u.pathname !== '/login', { timeout: 15_000 });
      const url = new URL(page.url());
      assert.equal(url.origin, new URL(BASE).origin, `next=${next} left the origin: ${url}`);
      assert.equal(url.pathname + url.search, expected, `next=${next}`);
    } finally {
      await session.context.close();
    }
  }
});

/**
 * For each demo user: log in through the form, check the header, and which households the map
 * gets; `check` does the role's own part. Then log out through the menu: back on /login, and the
 * map has no households any more.
 */
async function asUser(username, check) {
  const user = DEMO_USERS[username];
  // After logging out, /api/me answers 401; the password dialog test makes the server refuse a
  // short password (400).
  const allow = (url, status) => {
    const p = new URL(url).pathname;
    return (status === 401 && p === '/api/me') || (status === 400 && p === '/api/me/password');
  };
  const session = await newPage(browser, { allow });
  const { context, page, requests, responses, errors } = session;
  try {
    await loginThroughForm(session, username);
    const account = await me(page);
    assert.ok(account, `${username}: /api/me has no user after logging in`);
    assert.equal(account.username, username);
    const role = account.roles?.[0];
    assert.equal(role?.role, user.role, `${username}: role`);

    // The header: name, translated role, the area (in the menu), no login link.
    assert.ok(!(await page.locator('#login-link').isVisible()), 'the login link shows while logged in');
    assert.ok(await page.locator('#user-role').isVisible(), 'the role is not shown');
    const roleText = await page.locator('#user-role').textContent();
    assert.ok(roleText.includes(user.roleZh), `header role "${roleText}" lacks ${user.roleZh}`);
    assert.ok((await page.locator('#user-name').textContent()).includes(account.display_name || username));
    await page.locator('#user-button').click();
    const menu = await page.locator('#user-menu').textContent();
    assert.ok(menu.includes(role.area_name), `the menu "${menu}" lacks the area ${role.area_name}`);
    assert.ok(menu.includes('修改密码') && menu.includes('退出'), `the menu "${menu}" lacks its buttons`);
    await page.keyboard.press('Escape');
    assert.ok(!(await page.locator('#user-menu').isVisible()), 'Escape does not close the menu');

    const tree = await areaTree(page);
    assert.ok(tree[role.area_id], `${username}: the area ${role.area_id} is not in the area tiles`);
    const scope = descendants(tree, role.area_id);
    const seenWhere = await check({ session, account, role, tree, scope });

    // Log out: back on /login, no session, and the same view has no households any more.
    await logoutThroughMenu(page);
    assert.equal(await me(page), null, `${username}: still logged in after logging out`);
    if (seenWhere) {
      await page.goto(`${BASE}/`, { waitUntil: 'domcontentloaded' });
      await waitForMap(session);
      assert.ok(await page.locator('#login-link').isVisible(), 'no login link after logging out');
      const from = responses.length;
      await fitTo(page, seenWhere);
      assert.equal((await renderedHouseholds(page)).length, 0, `${username}: households still rendered after logging out`);
      const tiles = householdTiles(responses.slice(from));
      assert.ok(tiles.length > 0 && tiles.every((r) => r.status === 204), `household tiles after logging out: ${tiles.map((r) => r.status)}`);
    }

    assertSameOrigin(requests);
    assert.deepEqual(errors, [], 'console errors');
  } finally {
    await context.close();
  }
}

/** Click a rendered household; check the popup against GET /api/households/{id}. */
async function clickHousehold(page, { shot } = {}) {
  const pt = await findHouseholdPoint(page);
  assert.ok(pt, 'found no household to click');
  await page.mouse.click(pt.x, pt.y);
  const text = await popupText(page);
  const detail = await page.evaluate(async (id) => {
    const res = await fetch(`/api/households/${id}`, { headers: { accept: 'application/json' } });
    return { status: res.status, body: await res.json() };
  }, pt.props.id);
  assert.equal(detail.status, 200, `GET /api/households/${pt.props.id}`);
  if (shot) {
    await settle(page);
    await page.screenshot({ path: path.join(SHOTS, shot) });
  }
  return { pt, text, detail: detail.body };
}

test('worker: households of the own grid only; the popup names the head of household', { timeout: TEST_TIMEOUT }, async () => {
  await asUser('worker', async ({ session, role, tree }) => {
    const { page } = session;
    assert.equal(role.area_kind ?? tree[role.area_id].kind, 'grid');
    const grid = tree[role.area_id];
    // The worker's grid with its neighbours around it.
    const zoom = await fitTo(page, grid.b, { padding: 120, maxZoom: 17 });
    assert.ok(zoom >= 13, `zoom ${zoom} too low for households`);
    const hh = await renderedHouseholds(page);
    assert.ok(hh.length > 0, `no households rendered in the worker's grid ${grid.name}`);
    const foreign = hh.filter((h) => h.grid_id !== role.area_id);
    assert.deepEqual(foreign, [], `households of other grids rendered for the worker of grid ${role.area_id}`);
    const neighbours = await page.evaluate((own) => {
      const ids = window.__cuntuMap.queryRenderedFeatures({ layers: ['grid-fill'] }).map((f) => f.properties.id);
      return [...new Set(ids)].filter((id) => id !== own).length;
    }, role.area_id);
    assert.ok(neighbours > 0, 'no neighbouring grid in view: the test would not see a leak');

    const { text, detail } = await clickHousehold(page, { shot: 'worker.png' });
    assert.ok(detail.head_name, 'the worker is not sent the head of household');
    assert.ok(text.includes(detail.head_name), `popup "${text}" lacks the head of household ${detail.head_name}`);
    const head = await page.locator('.maplibregl-popup [data-field="headName"] dt').textContent();
    assert.equal(head, '户主');
    for (const [field, value] of [['phone', detail.phone], ['idCard', detail.id_card]]) {
      const row = page.locator(`.maplibregl-popup [data-field="${field}"] dd`);
      if (value) assert.equal(await row.textContent(), value, `${field} not shown as the server sent it`);
      else assert.equal(await row.count(), 0, `${field} shown although the server sent none`);
    }
    if (Array.isArray(detail.tags) && detail.tags.length) {
      const tags = await page.locator('.maplibregl-popup [data-field="tags"] .tag').allTextContents();
      assert.equal(tags.length, detail.tags.length);
    }

    // English: the role and the popup's labels change.
    await page.getByRole('button', { name: 'EN', exact: true }).click();
    assert.ok((await page.locator('#user-role').textContent()).includes('Grid worker'));
    const en = await popupText(page);
    assert.ok(en.includes('Head of household') && en.includes(detail.head_name), `popup not in English: "${en}"`);
    await page.getByRole('button', { name: '中文', exact: true }).click();

    // The password dialog: a mismatch is caught on the page, a short password by the server;
    // neither changes the password.
    await page.locator('#user-button').click();
    await page.locator('#change-password').click();
    const dialog = page.locator('#password-dialog');
    await dialog.waitFor({ state: 'visible' });
    await page.locator('#current-password').fill(DEMO_USERS.worker.password);
    await page.locator('#new-password').fill('long-enough-1');
    await page.locator('#confirm-password').fill('long-enough-2');
    await page.locator('#password-save').click();
    assert.equal((await page.locator('#password-error').textContent()).trim(), '两次输入的新密码不一致');
    await page.locator('#new-password').fill('short');
    await page.locator('#confirm-password').fill('short');
    const answer = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/me/password');
    await page.locator('#password-save').click();
    assert.equal((await answer).status(), 400, 'a 5-character password was not refused');
    await page.waitForFunction(() => {
      const el = document.querySelector('#password-error');
      return el && !el.hidden && el.textContent.trim() && el.textContent.trim() !== '两次输入的新密码不一致';
    });
    const refusal = (await page.locator('#password-error').textContent()).trim();
    assert.ok(/[\u4e00-\u9fff]/.test(refusal), `the refusal "${refusal}" is not the server's Chinese message`);
    await page.screenshot({ path: path.join(SHOTS, 'password.png') });
    await page.locator('#password-cancel').click();
    assert.ok(!(await dialog.isVisible()), 'the dialog did not close');
    return grid.b;
  });
});

test('cadre: households of the own village only', { timeout: TEST_TIMEOUT }, async () => {
  await asUser('cadre', async ({ session, role, tree, scope }) => {
    const { page } = session;
    const village = tree[role.area_id];
    assert.equal(village.kind, 'village');
    const grids = [...scope].filter((id) => tree[id].kind === 'grid');
    assert.ok(grids.length > 0, `no grids under ${village.name}`);
    // The village's densest grid, zoomed out enough to show the village's edge and beyond.
    const size = (g) => (g.b[2] - g.b[0]) * (g.b[3] - g.b[1]);
    const grid = grids.map((id) => tree[id]).sort((a, b) => size(a) - size(b))[0];
    let where = village.b;
    if ((await fitTo(page, village.b, { padding: 40, maxZoom: 16 })) < 13.5) {
      where = grid.b;
      await fitTo(page, grid.b, { padding: 200, maxZoom: 15 });
    }
    const hh = await renderedHouseholds(page);
    assert.ok(hh.length > 0, `no households rendered in ${village.name}`);
    const foreign = hh.filter((h) => !scope.has(h.grid_id));
    assert.deepEqual(foreign.slice(0, 5), [], `households outside ${village.name} rendered for its cadre (${foreign.length})`);
    const { text, detail } = await clickHousehold(page);
    assert.ok(detail.head_name && text.includes(detail.head_name), `popup "${text}" lacks the head of household`);
    return where;
  });
});

test('admin: households of the own township', { timeout: TEST_TIMEOUT }, async () => {
  await asUser('admin', async ({ session, role, tree, scope }) => {
    const { page } = session;
    assert.equal(tree[role.area_id].kind, 'township');
    const grid = await zoomToVillageCentre(page, { within: role.area_id });
    const hh = await renderedHouseholds(page);
    assert.ok(hh.length > 0, `no households rendered in grid ${grid.name}`);
    assert.deepEqual(hh.filter((h) => !scope.has(h.grid_id)).slice(0, 5), [], 'households outside the township rendered');
    const { text, detail } = await clickHousehold(page);
    assert.ok(detail.head_name && text.includes(detail.head_name), `popup "${text}" lacks the head of household`);

    // The other township: none.
    const other = Object.values(tree).find((a) => a.kind === 'township' && a.id !== role.area_id);
    if (other) {
      const far = await zoomToVillageCentre(page, { within: other.id, tree });
      const there = await renderedHouseholds(page);
      assert.deepEqual(there.filter((h) => !scope.has(h.grid_id)).slice(0, 5), [], `households of ${other.name} rendered in grid ${far.name}`);
    }
    return grid.bounds;
  });
});

for (const username of ['leader', 'dept']) {
  test(`${username}: no households at all`, { timeout: TEST_TIMEOUT }, async () => {
    await asUser(username, async ({ session, role }) => {
      const { page, responses } = session;
      const from = responses.length;
      const grid = await zoomToVillageCentre(page, { within: role.area_id });
      assert.ok(grid.zoom >= 13, `zoom ${grid.zoom} too low for households`);
      assert.equal((await renderedHouseholds(page)).length, 0, `households rendered for ${username}`);
      const tiles = householdTiles(responses.slice(from));
      assert.ok(tiles.length > 0, 'no household tile was requested');
      assert.ok(tiles.every((r) => r.status === 204), `household tiles for ${username}: ${tiles.map((r) => r.status)}`);
      return null;
    });
  });
}

test('household popup: 403 says so, 401 goes to the login page', { timeout: TEST_TIMEOUT }, async () => {
  // The server only sends households the user may see, so these answers are staged in the browser.
  const allow = (url, status) => [401, 403].includes(status) && new URL(url).pathname.startsWith('/api/households/');
  const { context, page, errors } = await openMap(browser, { user: 'admin', allow });
  try {
    const township = (await me(page)).roles[0].area_id;
    await zoomToVillageCentre(page, { within: township });
    const pt = await findHouseholdPoint(page);
    assert.ok(pt, 'found no household to click');
    const answer = (status, message) => (route) =>
      route.fulfill({ status, contentType: 'application/json', body: JSON.stringify({ error: { status, code: 'staged', message } }) });

    await page.route('**/api/households/*', answer(403, 'staged 403'));
    await page.mouse.click(pt.x, pt.y);
    const text = await popupText(page);
    assert.ok(text.includes('无权查看该户信息'), `popup "${text}" lacks the 403 message`);
    assert.equal(await page.locator('.maplibregl-popup [data-field="headName"]').count(), 0);
    await page.getByRole('button', { name: 'EN', exact: true }).click();
    assert.ok((await popupText(page)).includes('You may not view this household'));
    await page.getByRole('button', { name: '中文', exact: true }).click();

    await page.unroute('**/api/households/*');
    await page.route('**/api/households/*', answer(401, 'staged 401'));
    await page.locator('.maplibregl-popup-close-button').click();
    await page.mouse.click(pt.x, pt.y);
    await page.waitForURL(`${BASE}/login?next=/`, { timeout: 10_000 });
    await page.locator('#login-form').waitFor({ state: 'visible' });
    assert.deepEqual(errors, [], 'console errors');
  } finally {
    await context.close();
  }
});

test('phone: the header shows the role and the menu opens on screen', { timeout: TEST_TIMEOUT }, async () => {
  const { context, page, errors } = await openMap(browser, { user: 'worker', viewport: { width: 375, height: 667 }, mobile: true });
  try {
    const role = page.locator('#user-role');
    assert.ok(await role.isVisible());
    assert.ok((await role.textContent()).includes('网格员'));
    for (const sel of ['#panel-toggle', '#user-button', '.lang-switch']) {
      const b = await page.locator(sel).boundingBox();
      assert.ok(b && b.x >= 0 && b.x + b.width <= 375, `${sel} is off screen: ${JSON.stringify(b)}`);
    }
    await page.locator('#user-button').click();
    const menu = await page.locator('#user-menu').boundingBox();
    assert.ok(menu && menu.x >= 0 && menu.x + menu.width <= 375, `the menu is off screen: ${JSON.stringify(menu)}`);
    await page.screenshot({ path: path.join(SHOTS, 'phone-account.png') });
    assert.deepEqual(errors, [], 'console errors');
  } finally {
    await context.close();
  }
});
