// external-db-sync operators' dashboard. Plain ES module, no dependencies, no build step.
// Every value from the server is written with textContent (never innerHTML), so tenant data cannot inject markup.
// Every call sends X-Requested-By: the poller refuses state-changing Basic-authenticated calls without it (CSRF).

const REFRESH_MS = 3000;
// From origin and path only: opened as http://user:token@host/dashboard, document.baseURI keeps the credentials and
// fetch() refuses every URL that carries them. The path keeps the calls relative to /dashboard (a path prefix works).
const base = window.location.origin + window.location.pathname;
const api = (path) => new URL(path, base).toString();
const HEADERS = { 'X-Requested-By': 'external-db-sync-dashboard', 'Accept': 'application/json' };

const $ = (id) => document.getElementById(id);
const fmtInt = new Intl.NumberFormat('en-US');
const fmt1 = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

let lastSnapshot = null;
let firstRendered = false;
let lastSearch = null;

class HttpError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function call(path, options = {}) {
  let response;
  try {
    response = await fetch(api(path), { credentials: 'same-origin', cache: 'no-store', ...options,
      headers: { ...HEADERS, ...(options.headers || {}) } });
  } catch (e) {
    throw new HttpError(0, 'The poller cannot be reached (' + e.message + ').');
  }
  let body = null;
  const text = await response.text();
  if (text) {
    try { body = JSON.parse(text); } catch { body = { error: text.slice(0, 300) }; }
  }
  if (!response.ok) {
    const reason = body && body.error ? body.error : response.statusText;
    throw new HttpError(response.status, reason);
  }
  return body;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

const count = (c) => c == null ? '–' : fmtInt.format(c.value) + (c.capped ? '+' : '');
const num = (v) => v == null ? '–' : fmtInt.format(v);
const rate = (v) => v == null ? '–' : fmt1.format(v);

function seconds(s) {
  if (s == null) return '–';
  if (s < 1) return fmtInt.format(Math.round(s * 1000)) + ' ms';
  if (s < 120) return fmt1.format(s) + ' s';
  if (s < 7200) return fmt1.format(s / 60) + ' min';
  return fmt1.format(s / 3600) + ' h';
}

function when(iso) {
  if (!iso) return '–';
  const d = new Date(iso.includes('T') || iso.endsWith('Z') ? iso : iso.replace(' ', 'T') + 'Z');
  if (isNaN(d)) return iso;
  return d.toLocaleString(undefined, { hour12: false });
}

function setText(id, value) { $(id).textContent = value; }

function badge(id, text, kind) {
  const b = $(id);
  b.textContent = text;
  b.className = 'badge ' + (kind || '');
}

function banner(message) {
  const b = $('banner');
  b.hidden = !message;
  b.textContent = message || '';
}

// ---------------------------------------------------------------------------------------------------------------
// Snapshot

function render(s) {
  lastSnapshot = s;
  const seq = s.sequencer;
  badge('seq-state', seq.paused == null ? 'unknown' : seq.paused ? 'paused' : seq.reachable === false ? 'unreachable'
    : 'running', seq.paused == null ? 'warn' : seq.paused || seq.reachable === false ? 'bad' : 'ok');
  const se = $('seq-error');
  se.hidden = seq.reachable !== false;
  se.textContent = seq.reachable === false ? 'Sequencer unreachable: ' + seq.error : '';
  setText('seq-rate', rate(seq.stampsPerSecond));
  setText('seq-waiting', count(seq.waitingTotal));
  setText('seq-total', num(seq.stampsIssued));
  const tables = $('seq-tables');
  tables.replaceChildren(...(seq.waitingRows || []).map((t) => el('tr', {},
    el('td', { text: t.table }), el('td', { class: 'num', text: fmtInt.format(t.rows) + (t.capped ? '+' : '') }))));

  const p = s.poller.status;
  const pollerState = !p.running ? ['stopped', 'bad'] : (s.poller.enabled === false || p.paused) ? ['paused', 'bad']
    : p.engineRetryAt ? ['engine backoff', 'warn'] : ['running', 'ok'];
  badge('pol-state', pollerState[0], pollerState[1]);
  setText('pol-pending', num(p.pending));
  setText('pol-inflight', num(p.inFlight));
  setText('pol-backoff', num(p.backingOff));
  setText('pol-parked', num(p.parked));
  setText('pol-oldest', seconds(p.oldestPendingAgeSeconds));
  setText('pol-rate', rate(p.deliveriesPerSecond));
  setText('pol-delivered', num(p.deliveredSinceStart));
  const pe = $('pol-error');
  pe.hidden = !p.lastError;
  pe.textContent = p.lastError ? 'Last error' + (p.lastErrorAt ? ' (' + when(p.lastErrorAt) + ')' : '') + ': ' + p.lastError : '';

  const e = s.engine;
  badge('eng-state', e.reachable ? (e.state || 'reachable') : 'unreachable',
    !e.reachable ? 'bad' : (e.failingTargets && e.failingTargets.value > 0) ? 'warn' : 'ok');
  setText('eng-rate', rate(e.rowsAppliedPerSecond));
  setText('eng-failing', count(e.failingTargets));
  setText('eng-poison', count(e.poisonRows));
  setText('eng-runs', num(e.activeRuns));
  const note = $('eng-note');
  note.hidden = !e.rowsAppliedNote;
  note.textContent = e.rowsAppliedNote ? 'Rows applied/s: ' + e.rowsAppliedNote : '';
  const ee = $('eng-error');
  const engineError = !e.reachable ? 'Sync engine unreachable: ' + e.error
    : e.lastError ? 'Last error' + (e.lastErrorAt ? ' (' + when(e.lastErrorAt) + ')' : '') + ': ' + e.lastError : '';
  ee.hidden = !engineError;
  ee.textContent = engineError;

  const lag = s.endToEndLag;
  setText('lag-p50', seconds(lag.p50Seconds));
  setText('lag-p95', seconds(lag.p95Seconds));
  setText('lag-p99', seconds(lag.p99Seconds));
  setText('lag-n', num(lag.samples));

  renderFusebox(s.fusebox);
  renderBehind(s.rowsBehind);
  renderParked(s.parked, p.parked);
  renderChart(s.history, s.sampleIntervalSeconds);

  const age = (Date.now() - Date.parse(s.takenAt)) / 1000;
  const live = $('live');
  const stale = age > Math.max(10, s.sampleIntervalSeconds * 4);
  live.className = 'live' + (stale ? ' stale' : '');
  live.textContent = (stale ? 'Stale: last sample ' : 'Live · sampled ') + new Date(s.takenAt).toLocaleTimeString(undefined, { hour12: false })
    + (s.problems && s.problems.length ? ' · ' + s.problems.length + ' problem(s): ' + s.problems.join('; ') : '');
  document.body.dataset.sequencerPaused = String(seq.paused);
  if (!firstRendered) {
    firstRendered = true;
    performance.mark('first-snapshot');
    document.body.dataset.loaded = 'true';
  }
}

function renderFusebox(f) {
  for (const [key, id, name] of [['sequencerEnabled', 'fuse-seq', 'Sequencer'], ['pollerEnabled', 'fuse-pol', 'Poller']]) {
    const button = $(id);
    if (!f) { button.disabled = true; continue; }
    const on = f[key];
    setText(id + '-label', name + ': ' + (on ? 'running' : 'paused'));
    button.disabled = false;
    button.textContent = (on ? 'Pause ' : 'Resume ') + name.toLowerCase();
    button.className = 'switch' + (on ? ' danger' : '');
    button.dataset.on = String(on);
    button.dataset.key = key;
  }
}

function renderBehind(b) {
  const body = $('behind');
  if (!b) { body.replaceChildren(el('tr', {}, el('td', { text: 'unavailable' }))); return; }
  body.replaceChildren(...b.perMapping.map((m) => el('tr', {},
    el('th', { scope: 'row', text: m.mapping }),
    el('td', { class: 'num', text: fmtInt.format(m.rows) + (m.capped ? '+' : '') }))));
  setText('behind-def', b.definition + ' Sampled now: ' + b.tenanciesSampled + ' tenancies.');
}

function renderParked(list, total) {
  // The list is from this sample; the poller's own count may lag it by a few seconds.
  const shown = list.length < 20 ? list.length : Math.max(total, list.length);
  badge('parked-count', num(shown) + (list.length >= 20 && total <= list.length ? '+' : ''), shown > 0 ? 'warn' : '');
  $('parked-empty').hidden = list.length > 0;
  $('requeue-all').disabled = list.length === 0;
  $('parked').replaceChildren(...list.map((r) => el('tr', { 'data-request-id': r.id },
    el('td', { class: 'mono', text: r.tenancyId || '–' }),
    el('td', { class: 'num', text: String(r.attemptCount) }),
    el('td', { text: when(r.parkedAt) }),
    el('td', { class: 'mono', text: r.lastError || '' }),
    el('td', {}, el('button', { type: 'button', class: 'requeue', 'aria-label': 'Re-queue request for tenancy ' + r.tenancyId,
      onclick: () => requeue(r.id) }, 'Re-queue')))));
}

// Hand-written SVG: three rate series over the sampled history.
function renderChart(history, interval) {
  const W = 760, H = 190, L = 44, R = 8, T = 8, B = 22;
  const series = [['stampsPerSecond', 'l1'], ['rowsAppliedPerSecond', 'l2'], ['deliveriesPerSecond', 'l3']];
  const last = history.length ? history[history.length - 1] : null;
  setText('lg-stamps', last ? rate(last.stampsPerSecond) : '–');
  setText('lg-applied', last ? rate(last.rowsAppliedPerSecond) : '–');
  setText('lg-deliveries', last ? rate(last.deliveriesPerSecond) : '–');
  const spanSeconds = history.length > 1 ? (history[history.length - 1].t - history[0].t) / 1000 : 0;
  setText('chart-span', spanSeconds >= 90 ? fmt1.format(spanSeconds / 60) + ' minutes' : Math.round(spanSeconds) + ' seconds');
  let max = 0;
  for (const p of history) for (const [k] of series) if (p[k] != null) max = Math.max(max, p[k]);
  const top = niceCeil(max || 1);
  const t0 = history.length ? history[0].t : 0;
  const t1 = last ? last.t : 1;
  const x = (t) => L + (t1 === t0 ? W - L - R : (t - t0) / (t1 - t0) * (W - L - R));
  const y = (v) => T + (1 - v / top) * (H - T - B);
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'Throughput chart. Latest: ' + (last ? `${rate(last.stampsPerSecond)} rows stamped/s, `
    + `${rate(last.rowsAppliedPerSecond)} rows applied/s, ${rate(last.deliveriesPerSecond)} deliveries/s` : 'no data yet'));
  const add = (name, attrs, text) => {
    const n = document.createElementNS(ns, name);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    svg.append(n);
    return n;
  };
  for (const f of [0, 0.5, 1]) {
    add('line', { class: 'axis', x1: L, x2: W - R, y1: y(top * f), y2: y(top * f) });
    add('text', { x: L - 6, y: y(top * f) + 4, 'text-anchor': 'end' }, fmt1.format(top * f));
  }
  add('text', { x: L, y: H - 6 }, spanSeconds > 0 ? '−' + seconds(spanSeconds) : '');
  add('text', { x: W - R, y: H - 6, 'text-anchor': 'end' }, 'now');
  for (const [k, cls] of series) {
    const pts = history.filter((p) => p[k] != null).map((p) => `${x(p.t).toFixed(1)},${y(p[k]).toFixed(1)}`);
    if (pts.length) add('polyline', { class: cls, points: pts.join(' '), 'vector-effect': 'non-scaling-stroke' });
  }
  $('chart').replaceChildren(svg);
}

function niceCeil(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

async function refresh(fresh = false) {
  // Re-rendering never touches the search form, but a tick while the operator types is wasted: skip it.
  if (!fresh && document.activeElement && document.activeElement.matches('input, select, textarea')) {
    $('live').textContent = 'Refresh paused while you type';
    return;
  }
  try {
    const s = await call('api/v1/admin/dashboard/snapshot' + (fresh ? '?fresh=true' : ''));
    banner(null);
    render(s);
  } catch (e) {
    if (e.status === 401) {
      banner('Not signed in (401): reload the page and sign in with any user name and the admin token as password.');
    } else {
      banner(e.status ? `Snapshot failed (${e.status}): ${e.message}` : e.message);
    }
    $('live').textContent = 'Not updating';
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Actions

async function act(label, fn) {
  try {
    await fn();
    banner(null);
  } catch (e) {
    banner(`${label} failed${e.status ? ' (' + e.status + ')' : ''}: ${e.message}`);
  }
  await refresh(true);
  if (lastSearch) await search(lastSearch, false);
}

async function toggleFusebox(event) {
  const button = event.currentTarget;
  const on = button.dataset.on === 'true';
  button.disabled = true;
  await act('Fusebox', () => call('api/v1/admin/fusebox', { method: 'PUT',
    headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ [button.dataset.key]: !on }) }));
}

async function requeue(id) {
  await act('Re-queue', () => call('api/v1/admin/requests/' + encodeURIComponent(id) + '/requeue', { method: 'POST' }));
}

async function requeueAll() {
  await act('Re-queue all', () => call('api/v1/admin/requests/requeue-parked', { method: 'POST' }));
}

// ---------------------------------------------------------------------------------------------------------------
// Tenancy search

async function search(query, announce = true) {
  const results = $('results');
  if (announce) results.replaceChildren(el('p', { class: 'note', text: 'Searching…' }));
  try {
    const found = await call('api/v1/admin/dashboard/tenancies?q=' + encodeURIComponent(query));
    lastSearch = query;
    if (!found.tenancies.length) {
      results.replaceChildren(el('p', { class: 'note', text: 'No tenancy with id or project id “' + query + '”.' }));
      return;
    }
    results.replaceChildren(...found.tenancies.map(renderTenancy));
  } catch (e) {
    results.replaceChildren(el('p', { class: 'error-text', text: `Search failed${e.status ? ' (' + e.status + ')' : ''}: ${e.message}` }));
  }
}

function renderTenancy(t) {
  const id = t.tenancyId;
  const pause = el('button', { type: 'button', class: t.paused ? '' : 'danger',
    onclick: () => act(t.paused ? 'Resume tenancy' : 'Pause tenancy', () => call(
      'api/v1/admin/dashboard/tenancies/' + id + '/pause', { method: t.paused ? 'DELETE' : 'PUT' })) },
    t.paused ? 'Resume tenancy' : 'Pause tenancy');
  const section = el('section', { class: 'tenancy', 'data-tenancy-id': id, 'aria-label': 'Tenancy ' + id },
    el('h3', {}, el('span', { class: 'mono', text: id }),
      el('span', { class: 'badge ' + (t.paused ? 'bad' : 'ok'), text: t.paused ? 'paused' : 'syncing' }), pause),
    el('p', { class: 'status-line', text: `project ${t.projectId} · branch ${t.branchId}`
      + (t.paused ? ` · paused since ${when(t.pausedAt)}${t.pauseReason ? ' (' + t.pauseReason + ')' : ''}` : '') }));
  if (!t.targets.length) section.append(el('p', { class: 'note', text: 'No targets configured.' }));
  for (const target of t.targets) section.append(renderTarget(id, target));
  return section;
}

function renderTarget(tenancyId, g) {
  const resync = el('button', { type: 'button', 'aria-label': `Resync target ${g.targetId} from scratch`,
    disabled: !g.inConfig || !!g.configError,
    onclick: () => act('Resync', () => call('api/v1/admin/dashboard/tenancies/' + tenancyId + '/targets/'
      + encodeURIComponent(g.targetId) + '/resync', { method: 'POST' })) }, 'Resync');
  const cursors = el('dl', { class: 'cursors', 'aria-label': 'Cursor per mapping' },
    ...g.mappings.map((m) => el('div', { 'data-mapping': m.mapping }, el('dt', { text: m.mapping }),
      el('dd', { class: 'cursor', text: m.cursor < 0 ? 'none' : String(m.cursor) }))));
  const state = g.configError ? 'config error: ' + g.configError : !g.inConfig ? 'no longer configured'
    : g.failingSince ? 'failing since ' + when(g.failingSince) : 'ok';
  return el('div', { class: 'target', 'data-target-id': g.targetId },
    el('div', { class: 'head' }, el('strong', { text: 'Target ' + g.targetId }),
      el('span', { class: 'mono', text: g.url || '' }), resync),
    el('p', { class: 'status-line', text: `${state} · last success ${when(g.lastSuccessAt)} · dead-letter rows ${count(g.poisonRows)}` }),
    g.lastError ? el('p', { class: 'error-text', text: 'Last error (' + when(g.lastErrorAt) + '): ' + g.lastError }) : null,
    g.mappings.length ? cursors : el('p', { class: 'note', text: 'Not synced yet: no cursor.' }));
}

// ---------------------------------------------------------------------------------------------------------------

function start() {
  $('fuse-seq').addEventListener('click', toggleFusebox);
  $('fuse-pol').addEventListener('click', toggleFusebox);
  $('requeue-all').addEventListener('click', requeueAll);
  $('search-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const q = $('q').value.trim();
    if (q) search(q);
  });
  refresh(false);
  setInterval(() => refresh(false), REFRESH_MS);
}

start();
