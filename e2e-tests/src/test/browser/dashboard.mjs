// Drives the operators' dashboard in headless Chromium (Debian's chromium, through playwright-core) against a running
// pipeline; run by DashboardIT, which starts the services, writes users while this runs, and checks the output.
// Env: DASHBOARD_URL (poller base URL), ADMIN_TOKEN, TENANCY_ID + TARGET_ID (a synced, idle tenancy),
// PARKED_REQUEST_ID (a parked request), SCREENSHOT (path of the PNG), CHROMIUM (default /usr/bin/chromium).
// Prints "OK <step>" per check, "LOAD_MS <n>", "CURSOR <mapping>=<n>", and "DASHBOARD_OK" last; exits 1 on failure.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`missing env ${name}`);
  return value;
};
const base = env('DASHBOARD_URL').replace(/\/$/, '');
const token = env('ADMIN_TOKEN');
const tenancyId = env('TENANCY_ID');
const targetId = env('TARGET_ID');
const parkedId = env('PARKED_REQUEST_ID');
const screenshot = env('SCREENSHOT');
const STEP_TIMEOUT = 45_000;

const ok = (step) => console.log('OK ' + step);
const number = (text) => Number(String(text).replace(/[^0-9.]/g, ''));

async function waitFor(what, predicate, timeout = STEP_TIMEOUT) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    last = await predicate();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
    '--no-first-run', '--disable-component-update', '--disable-sync'],
});
let exitCode = 0;
try {
  // 1. Without credentials the page is refused.
  const anonymous = await browser.newContext();
  const refused = await anonymous.request.get(base + '/dashboard', { failOnStatusCode: false });
  if (refused.status() !== 401) throw new Error('page without credentials answered ' + refused.status());
  if (!String(refused.headers()['www-authenticate']).startsWith('Basic')) throw new Error('no Basic challenge');
  // A browser without credentials is challenged and gets no page (headless Chromium cancels the sign-in prompt).
  const navigation = await (await anonymous.newPage()).goto(base + '/dashboard').then(
    (r) => 'loaded with ' + r.status(), (e) => String(e.message));
  if (!navigation.includes('ERR_INVALID_AUTH_CREDENTIALS') && !navigation.includes('401')) {
    throw new Error('navigation without credentials: ' + navigation);
  }
  await anonymous.close();
  ok('refused without credentials (401, Basic challenge)');

  // 2. With them (the browser's Basic sign-in: any user, the admin token as password) it loads and renders.
  const context = await browser.newContext({
    httpCredentials: { username: 'operator', password: token },
    viewport: { width: 1366, height: 768 },
  });
  const page = await context.newPage();
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  const response = await page.goto(base + '/dashboard');
  if (response.status() !== 200) throw new Error('page with credentials answered ' + response.status());
  await page.waitForSelector('body[data-loaded="true"]', { timeout: STEP_TIMEOUT });
  const loadMs = await page.evaluate(() => performance.getEntriesByName('first-snapshot')[0].startTime);
  console.log('LOAD_MS ' + Math.round(loadMs));
  const timing = await page.evaluate(() => {
    const n = performance.getEntriesByType('navigation')[0];
    return { responseEnd: n.responseEnd, domContentLoaded: n.domContentLoadedEventEnd, load: n.loadEventEnd };
  });
  console.log('TIMING html ' + Math.round(timing.responseEnd) + ' ms, DOMContentLoaded '
    + Math.round(timing.domContentLoaded) + ' ms, load ' + Math.round(timing.load) + ' ms, first snapshot '
    + Math.round(loadMs) + ' ms');
  await page.reload();
  await page.waitForSelector('body[data-loaded="true"]', { timeout: STEP_TIMEOUT });
  console.log('LOAD_MS_RELOAD ' + Math.round(
    await page.evaluate(() => performance.getEntriesByName('first-snapshot')[0].startTime)));
  const sample = await page.evaluate(async () => (await (await fetch('api/v1/admin/dashboard/snapshot',
    { headers: { 'X-Requested-By': 'external-db-sync-dashboard' } })).json()).sampleMillis);
  console.log('SAMPLE_MS ' + sample);
  ok('loads with credentials');
  if (await page.locator('#banner').isVisible()) {
    throw new Error('error banner on load: ' + await page.locator('#banner').textContent());
  }

  // 3. Writes are going on (DashboardIT writes users): the counters move.
  const stamps0 = number(await page.textContent('#seq-total'));
  const delivered0 = number(await page.textContent('#pol-delivered'));
  await waitFor('stamps and deliveries to move', async () =>
    number(await page.textContent('#seq-total')) > stamps0
    && number(await page.textContent('#pol-delivered')) > delivered0);
  await waitFor('a rows-applied rate', async () => number(await page.textContent('#eng-rate')) > 0
    || !(await page.locator('#eng-note').isHidden()));
  ok(`counters move (stamps ${stamps0} → ${await page.textContent('#seq-total')}, deliveries ${delivered0} → `
    + `${await page.textContent('#pol-delivered')}, rows applied/s ${await page.textContent('#eng-rate')})`);

  // 4. The sequencer switch pauses stamping, and the page says so; resuming restarts it.
  await page.getByRole('button', { name: 'Pause sequencer' }).click();
  await waitFor('the sequencer shown paused', async () =>
    (await page.textContent('#seq-state')) === 'paused'
    && (await page.textContent('#fuse-seq-label')) === 'Sequencer: paused');
  const liveText = async () => page.textContent('#live');
  const refreshes = async (n) => {
    for (let i = 0; i < n; i++) {
      const before = await liveText();
      await waitFor('a page refresh', async () => (await liveText()) !== before);
    }
  };
  await refreshes(1);
  const pausedAt = number(await page.textContent('#seq-total'));
  await refreshes(2);
  const pausedLater = number(await page.textContent('#seq-total'));
  if (pausedLater !== pausedAt) throw new Error(`stamping went on while paused: ${pausedAt} → ${pausedLater}`);
  await waitFor('rows waiting while paused', async () => number(await page.textContent('#seq-waiting')) > 0);
  ok(`sequencer paused: stamps stay at ${pausedAt}, ${await page.textContent('#seq-waiting')} rows waiting`);
  await page.getByRole('button', { name: 'Resume sequencer' }).click();
  await waitFor('stamping to resume', async () => (await page.textContent('#seq-state')) === 'running'
    && number(await page.textContent('#seq-total')) > pausedAt);
  ok('sequencer resumed and stamping again');

  // 5. Tenancy search (keyboard only) shows the target and its cursor.
  await page.focus('#q');
  await page.keyboard.type(tenancyId);
  await page.keyboard.press('Enter');
  const cursorCell = page.locator(
    `[data-tenancy-id="${tenancyId}"] [data-target-id="${targetId}"] [data-mapping="users"] .cursor`);
  await cursorCell.waitFor({ timeout: STEP_TIMEOUT });
  const cursor = number(await cursorCell.textContent());
  if (!(cursor > 0)) throw new Error('cursor of users is ' + cursor);
  const url = await page.locator(`[data-tenancy-id="${tenancyId}"] [data-target-id="${targetId}"] .mono`).first()
    .textContent();
  if (!url.includes(':***@')) throw new Error('target URL not redacted: ' + url);
  console.log('CURSOR users=' + cursor);
  ok(`tenancy search found ${tenancyId} target ${targetId} (users cursor ${cursor}, ${url})`);
  await page.locator('#q').blur();

  // 6. The parked request's re-queue button re-queues it (then the poller delivers it).
  const parkedRow = page.locator(`tr[data-request-id="${parkedId}"]`);
  await parkedRow.waitFor({ timeout: STEP_TIMEOUT });
  await parkedRow.getByRole('button', { name: /Re-queue/ }).click();
  await parkedRow.waitFor({ state: 'detached', timeout: STEP_TIMEOUT });
  if (await page.locator('#banner').isVisible()) {
    throw new Error('error banner after re-queue: ' + await page.locator('#banner').textContent());
  }
  ok('parked request re-queued');

  // 7. Opened as http://user:token@host/dashboard (credentials in the URL), every call still works: fetch() refuses
  // URLs that carry credentials, so the page must not build its calls from such a URL.
  const inUrl = new URL(base + '/dashboard');
  inUrl.username = 'operator';
  inUrl.password = token;
  const urlContext = await browser.newContext();
  const urlPage = await urlContext.newPage();
  const urlErrors = [];
  urlPage.on('console', (m) => { if (m.type() === 'error') urlErrors.push(m.text()); });
  await urlPage.goto(inUrl.toString());
  await urlPage.waitForSelector('body[data-loaded="true"]', { timeout: STEP_TIMEOUT });
  if (await urlPage.locator('#banner').isVisible()) {
    throw new Error('error banner with credentials in the URL: ' + await urlPage.locator('#banner').textContent());
  }
  if (urlErrors.length) throw new Error('console errors with credentials in the URL: ' + urlErrors.join(' | '));
  await urlContext.close();
  ok('loads with credentials in the URL');

  // The page fits a 1366-wide screen without horizontal scrolling.
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  if (width > 1366) throw new Error('page is ' + width + ' px wide');
  mkdirSync(dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot, fullPage: true });
  await page.screenshot({ path: screenshot.replace(/\.png$/, '-viewport.png') });
  ok('screenshot ' + screenshot);
  if (consoleErrors.length) throw new Error('console errors: ' + consoleErrors.join(' | '));
  console.log('DASHBOARD_OK');
} catch (e) {
  console.log('FAIL ' + (e && e.stack ? e.stack : e));
  exitCode = 1;
} finally {
  await browser.close();
}
process.exit(exitCode);
