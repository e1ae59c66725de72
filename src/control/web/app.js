// drover's web page: plain JavaScript against the JSON API (docs/api.md). State changes arrive on the
// event stream (/api/events); CPU and memory come from polling /api/processes. Data from the server is only
// ever put into the page as text (textContent), never as HTML.

const POLL_MS = 2000;
/** samples kept per process for the sparklines (two minutes at POLL_MS) */
const SAMPLES = 60;
/** most log lines kept in the log view */
const MAX_LOG_LINES = 2000;
/** lines of the log the log view shows first, before the live ones */
const TAIL_LINES = 200;
/** an unfinished line is kept in one piece up to this long */
const MAX_PARTIAL_CHARS = 8192;
const SIGNALS = ['HUP', 'INT', 'QUIT', 'TERM', 'KILL', 'USR1', 'USR2', 'TTIN', 'TTOU', 'WINCH', 'CONT', 'STOP'];
const ACTIVE = new Set(['starting', 'running', 'backoff', 'stopping']);

/** every process by name ("group:name"): its last JSON, samples and row elements */
const procs = new Map();
/** names in the server's order, to know when the list itself changed */
let order = [];
let logView = null;
/** a scroll of the log view to its end waits for the next frame */
let scrollQueued = false;

const $ = (id) => document.getElementById(id);

// --- talking to drover ---

async function call(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: {} };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    return { ok: false, code: 'E_NETWORK', message: `drover did not answer (${err.message})` };
  }
  try {
    return await res.json();
  } catch {
    return { ok: false, code: 'E_HTTP', message: `HTTP ${res.status}` };
  }
}

/**
 * Runs a command, shows its failures, and refreshes the figures. `nothingToDo`: result codes that are no
 * failure here (a group's "Start all" skips what runs, as supervisord's does).
 */
async function command(path, body, button, nothingToDo = []) {
  if (button) button.disabled = true;
  try {
    const out = await call('POST', path, body);
    const failed = (out.results ?? []).filter((r) => !r.ok && !nothingToDo.includes(r.code)).map((r) => `${r.key}: ${r.message ?? r.code}`);
    if (!out.ok && (failed.length > 0 || !out.results)) {
      showNotice(failed.length > 0 ? failed.join('; ') : `${out.code}: ${out.message}`, true);
    } else {
      hideNotice();
    }
    await poll();
    return out;
  } finally {
    if (button) button.disabled = false;
  }
}

function showNotice(text, isError) {
  const n = $('notice');
  n.textContent = text;
  n.classList.toggle('error', Boolean(isError));
  n.hidden = false;
}

function hideNotice() {
  $('notice').hidden = true;
}

// --- the process list ---

/** Takes a full list (snapshot event or poll): rebuilds the layout if the set of processes changed. */
function applyList(list, withSample) {
  const names = list.map((p) => p.name);
  const seen = new Set(names);
  for (const name of [...procs.keys()]) if (!seen.has(name)) procs.delete(name);
  for (const p of list) {
    let entry = procs.get(p.name);
    if (!entry) {
      entry = { json: p, cpu: [], rss: [], uptimeMs: null, uptimeAt: 0, el: null };
      procs.set(p.name, entry);
    }
    entry.json = p;
    entry.uptimeMs = p.uptime_ms;
    entry.uptimeAt = performance.now();
    if (withSample) {
      pushSample(entry.cpu, p.cpu_percent);
      pushSample(entry.rss, p.rss_bytes);
    }
  }
  if (names.join('\n') !== order.join('\n') || [...procs.values()].some((e) => !e.el)) {
    order = names;
    buildLayout();
  }
  for (const entry of procs.values()) renderRow(entry);
  $('empty').hidden = procs.size > 0;
}

function pushSample(list, value) {
  list.push(value);
  if (list.length > SAMPLES) list.shift();
}

/** One state change from the event stream. */
function applyStateEvent(ev) {
  const entry = procs.get(ev.name);
  if (!entry) {
    void poll(); // a process added by scale or update: fetch the new list
    return;
  }
  const p = { ...entry.json, state: ev.to, pid: ev.pid ?? null };
  // started: no longer waiting for its dependencies; without a process there is no health to show
  if (ev.to !== 'stopped') p.waiting = null;
  if (ev.to !== 'starting' && ev.to !== 'running' && ev.to !== 'stopping') p.health = null;
  if (ev.to === 'starting') {
    entry.uptimeMs = 0;
    entry.uptimeAt = performance.now();
    p.started_at = ev.time;
  }
  if (!ACTIVE.has(ev.to)) {
    entry.uptimeMs = null;
    p.pid = null;
    p.cpu_percent = null;
    p.rss_bytes = null;
  }
  entry.json = p;
  renderRow(entry);
}

function buildLayout() {
  const root = $('groups');
  root.replaceChildren();
  const groups = new Map();
  for (const name of order) {
    const entry = procs.get(name);
    const g = entry.json.group;
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(entry);
  }
  for (const [group, entries] of groups) root.append(buildGroup(group, entries));
}

function buildGroup(group, entries) {
  const section = el('section', { class: 'group', 'data-group': group });
  const head = el('div', { class: 'group-head' });
  head.append(el('h2', {}, group), el('span', { class: 'count' }, `${entries.length} process${entries.length === 1 ? '' : 'es'}`));
  head.append(el('span', { class: 'spacer' }));
  const pattern = `${group}:*`;
  head.append(
    button('Start all', (b) => command('/api/start', { patterns: [pattern] }, b, ['E_ALREADY_STARTED']), { title: `start every process of ${group}` }),
    button('Stop all', (b) => ask(`Stop every process of group "${group}"?`) && command('/api/stop', { patterns: [pattern] }, b, ['E_NOT_RUNNING']), { danger: true }),
    button('Restart all', (b) => ask(`Restart every process of group "${group}"? Each is stopped first.`) && command('/api/restart', { patterns: [pattern] }, b), {}),
  );
  // scale is per program; offered when the group holds one program (the usual [program:x])
  const programs = new Set(entries.map((e) => e.json.program ?? group));
  if (programs.size === 1) {
    const program = [...programs][0];
    const input = el('input', { type: 'number', min: '1', max: '10000', value: String(entries.length), 'aria-label': `process count of ${program}` });
    const scale = el('span', { class: 'scale' }, 'scale to');
    scale.append(
      input,
      button('Scale', (b) => {
        const count = Number(input.value);
        if (!Number.isInteger(count) || count < 1) return showNotice('the process count must be a whole number ≥ 1', true);
        if (count < entries.length && !ask(`Scale ${program} from ${entries.length} to ${count}? ${entries.length - count} process(es) will be stopped.`)) return;
        void command('/api/scale', { program, count }, b);
      }),
    );
    head.append(scale);
  }
  section.append(head);
  const table = el('table');
  const cols = el('colgroup');
  for (const c of ['state', 'name', 'pid', 'uptime', 'restarts', 'cpu', 'rss', 'actions']) cols.append(el('col', { class: `c-${c}` }));
  table.append(cols);
  const headRow = el('tr');
  for (const h of ['State', 'Name', 'PID', 'Uptime', 'Restarts', 'CPU', 'Memory', '']) headRow.append(el('th', {}, h));
  table.append(el('thead', {}, headRow));
  const body = el('tbody');
  for (const entry of entries) body.append(buildRow(entry));
  table.append(body);
  section.append(table);
  return section;
}

function buildRow(entry) {
  const name = entry.json.name;
  const row = el('tr', { class: 'proc', 'data-name': name });
  const state = el('span', { class: 'state' });
  const nameCell = el('td', { class: 'name' }, entry.json.process);
  const detail = el('span', { class: 'sub' });
  // orchestration: what it depends on, its ready check, its health (depends_on, ready, healthcheck)
  const orch = el('span', { class: 'sub orch' });
  const health = el('span', { class: 'health' });
  nameCell.append(detail, orch, health);
  const pid = el('td', { class: 'pid' });
  const uptime = el('td', { class: 'num uptime' });
  const restarts = el('td', { class: 'num restarts' });
  const cpu = chartCell();
  const rss = chartCell();
  const actions = el('div', { class: 'actions' });
  const start = button('Start', (b) => command('/api/start', { patterns: [name] }, b));
  const stop = button('Stop', (b) => ask(`Stop ${name}?`) && command('/api/stop', { patterns: [name] }, b), { danger: true, action: 'stop' });
  const restart = button('Restart', (b) => ask(`Restart ${name}? It is stopped first.`) && command('/api/restart', { patterns: [name] }, b), { action: 'restart' });
  const sig = el('select', { class: 'sig', 'aria-label': `signal for ${name}` });
  for (const s of SIGNALS) sig.append(el('option', { value: s }, s));
  const send = button('Signal', (b) => ask(`Send SIG${sig.value} to ${name}? Some signals end a process.`) && command('/api/signal', { patterns: [name], signal: sig.value }, b), { action: 'signal' });
  const logs = button('Logs', () => (logView?.name === name ? closeLogs() : openLogs(name)), { action: 'logs' });
  start.dataset.action = 'start';
  actions.append(start, stop, restart, sig, send, logs);
  const actionCell = el('td');
  actionCell.append(actions);
  const stateCell = el('td');
  stateCell.append(state);
  row.append(stateCell, nameCell, pid, uptime, restarts, cpu.td, rss.td, actionCell);
  entry.el = { row, state, detail, orch, health, pid, uptime, restarts, cpu, rss, start, stop, restart, send, logs };
  return row;
}

function renderRow(entry) {
  const p = entry.json;
  const e = entry.el;
  if (!e) return;
  e.state.textContent = p.state;
  e.state.dataset.state = p.state;
  e.row.dataset.state = p.state;
  e.detail.textContent = detailOf(p);
  e.orch.textContent = orchestrationOf(p);
  e.health.textContent = p.health ? `${p.health}` : '';
  e.health.dataset.health = p.health ?? '';
  e.health.title = p.healthcheck ? `healthcheck: ${p.healthcheck}` : '';
  e.pid.textContent = p.pid ?? '–';
  e.restarts.textContent = String(p.restarts);
  renderUptime(entry);
  const live = ACTIVE.has(p.state);
  e.start.disabled = live;
  e.stop.disabled = !live;
  e.send.disabled = p.pid === null;
  e.logs.classList.toggle('on', logView?.name === p.name);
  drawChart(e.cpu, entry.cpu, p.cpu_percent === null ? '–' : `${p.cpu_percent.toFixed(1)} %`, (v) => Math.max(5, v));
  drawChart(e.rss, entry.rss, p.rss_bytes === null ? '–' : formatBytes(p.rss_bytes), (v) => v * 1.1);
}

function detailOf(p) {
  if (p.role === 'spare' && p.state !== 'stopped' && p.state !== 'fatal') return 'spare: loaded, accepts nothing until it takes over';
  if (p.waiting) return p.waiting;
  if (p.state === 'unknown') return 'its stop signal was refused (EPERM): out of drover\'s reach';
  if (p.spawn_error) return p.spawn_error;
  if ((p.state === 'exited' || p.state === 'backoff' || p.state === 'fatal') && p.exit_status !== null) return `exit status ${p.exit_status}`;
  return '';
}

/** "needs db:ready, migrate:completed · ready: tcp://127.0.0.1:5432 · essential" */
function orchestrationOf(p) {
  const parts = [];
  if (p.depends_on && p.depends_on.length > 0) parts.push(`needs ${p.depends_on.join(', ')}`);
  if (p.ready) parts.push(`ready: ${p.ready}`);
  if (p.essential) parts.push('essential');
  return parts.join(' · ');
}

function renderUptime(entry) {
  const e = entry.el;
  if (!e) return;
  e.uptime.textContent = entry.uptimeMs === null ? '–' : formatDuration(entry.uptimeMs + (performance.now() - entry.uptimeAt));
}

// --- sparklines ---

const CHART_W = 90;
const CHART_H = 22;
const SVG = 'http://www.w3.org/2000/svg';

function chartCell() {
  const td = el('td');
  const wrap = el('div', { class: 'chart' });
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('width', String(CHART_W));
  svg.setAttribute('height', String(CHART_H));
  svg.setAttribute('viewBox', `0 0 ${CHART_W} ${CHART_H}`);
  const area = document.createElementNS(SVG, 'polygon');
  area.setAttribute('fill', 'rgba(31,111,92,.12)');
  const line = document.createElementNS(SVG, 'polyline');
  line.setAttribute('fill', 'none');
  line.setAttribute('stroke', '#1f6f5c');
  line.setAttribute('stroke-width', '1.5');
  svg.append(area, line);
  const val = el('span', { class: 'val' });
  wrap.append(svg, val);
  td.append(wrap);
  return { td, line, area, val };
}

/** Draws the last samples (nulls are gaps at 0), scaled to the largest, right-aligned. */
function drawChart(chart, samples, label, top) {
  chart.val.textContent = label;
  const values = samples.map((v) => (typeof v === 'number' ? v : 0));
  if (values.length < 2) {
    chart.line.setAttribute('points', '');
    chart.area.setAttribute('points', '');
    return;
  }
  const max = top(Math.max(...values)) || 1;
  const step = CHART_W / (SAMPLES - 1);
  const x0 = CHART_W - step * (values.length - 1);
  const pts = values.map((v, i) => `${(x0 + i * step).toFixed(1)},${(CHART_H - 1 - (v / max) * (CHART_H - 3)).toFixed(1)}`);
  chart.line.setAttribute('points', pts.join(' '));
  chart.area.setAttribute('points', `${x0.toFixed(1)},${CHART_H} ${pts.join(' ')} ${CHART_W},${CHART_H}`);
}

// --- the log view ---

function openLogs(name) {
  closeLogs();
  const stream = $('logs-stream').value;
  logView = { name, source: null, lines: 0, partial: null };
  const view = logView;
  $('logs').hidden = false;
  document.body.classList.add('with-logs');
  $('logs-name').textContent = name;
  $('logs-text').replaceChildren();
  $('logs-status').textContent = 'loading…';
  for (const entry of procs.values()) renderRow(entry);
  // the end of the log, then everything written from now on, from one subscription (docs/api.md, "Tails
  // of whole lines"): a tail fetched first and a stream opened after it lost what was written in between
  const q = new URLSearchParams({ process: name, lines: String(TAIL_LINES) });
  if (stream) q.set('stream', stream);
  const url = `/api/logs/stream?${q}`;
  const source = new EventSource(url);
  view.source = source;
  // set when the connection drops: EventSource reconnects by itself, and the new connection sends the tail again
  let dropped = false;
  source.onopen = () => {
    if (logView !== view) return;
    if (dropped) {
      // the tail that follows repeats what is shown: start over from it instead of showing lines twice
      $('logs-text').replaceChildren();
      view.partial = null;
      appendLog('', null, `… reconnected at ${new Date().toLocaleTimeString()}: the last ${TAIL_LINES} lines again, then live`);
      dropped = false;
    }
    $('logs-status').textContent = 'live';
  };
  source.onerror = () => {
    if (logView !== view) return;
    if (source.readyState !== EventSource.CLOSED) {
      dropped = true;
      $('logs-status').textContent = 'reconnecting…';
      return;
    }
    // refused (an HTTP error, which EventSource does not retry and whose answer it does not show)
    void explainRefusal(url, view);
  };
  source.addEventListener('log', (ev) => {
    if (logView !== view) return;
    const d = JSON.parse(ev.data);
    appendLog(typeof d.data === 'string' ? d.data : String(d.data ?? ''), d.stream, null);
  });
  // drover skips output for a reader that falls more than 1 MiB behind, and then says how much
  source.addEventListener('lost', (ev) => {
    if (logView !== view) return;
    const d = JSON.parse(ev.data);
    appendLog('', d.stream, `… ${Number(d.bytes)} bytes not shown: this page fell behind (the log file has them)`);
  });
}

/** Asks again for a log stream drover refused, to show why (its JSON error) in the log view's status. */
async function explainRefusal(url, view) {
  let text;
  try {
    const res = await fetch(url, { credentials: 'same-origin' });
    if (res.ok) {
      // it answers now: the refusal was passing (the view is opened again by choosing it)
      void res.body?.cancel();
      text = 'disconnected: open the log again';
    } else {
      const err = await res.json().catch(() => ({ code: 'E_HTTP', message: `HTTP ${res.status}` }));
      text = err.code === 'E_NO_LOGS' ? 'this drover keeps no log files' : String(err.message ?? `HTTP ${res.status}`);
    }
  } catch (err) {
    text = `drover did not answer (${err.message})`;
  }
  if (logView === view) $('logs-status').textContent = text;
}

function closeLogs() {
  if (logView?.source) logView.source.close();
  logView = null;
  $('logs').hidden = true;
  document.body.classList.remove('with-logs');
  for (const entry of procs.values()) renderRow(entry);
}

function appendLog(text, stream, note) {
  const pre = $('logs-text');
  const follow = $('logs-follow').checked;
  // a line the program has not finished yet (progress dots, a prompt) stays open for the rest of it
  const open = logView.partial;
  if (open && (note || (text !== '' && open.stream !== stream))) {
    // something else comes first: the unfinished line ends here on the page
    open.span.append(document.createTextNode('\n'));
    logView.partial = null;
  }
  if (note) pre.append(el('span', { class: 'sys' }, `${note}\n`));
  let rest = text;
  if (logView.partial && rest !== '') {
    const nl = rest.indexOf('\n');
    const { span } = logView.partial;
    span.append(document.createTextNode(nl < 0 ? rest : rest.slice(0, nl + 1)));
    rest = nl < 0 ? '' : rest.slice(nl + 1);
    // a line that never ends (a progress bar redrawn with \r) is continued in new spans, which the
    // trimming below can drop, instead of growing one without bound
    if (nl >= 0 || span.textContent.length > MAX_PARTIAL_CHARS) logView.partial = null;
  }
  const lines = rest.split('\n');
  const last = lines.pop() ?? '';
  for (const line of lines) {
    pre.append(el('span', stream === 'stderr' ? { class: 'err' } : {}, `${line}\n`));
    logView.lines++;
  }
  if (last !== '') {
    const span = el('span', stream === 'stderr' ? { class: 'err' } : {}, last);
    pre.append(span);
    logView.partial = { stream, span };
    logView.lines++;
  }
  while (pre.childNodes.length > MAX_LOG_LINES) pre.firstChild.remove();
  if (follow) scrollLogsToEnd();
}

/**
 * Scrolls the log view to its end once per frame: scrollHeight makes the browser lay the page out, which
 * after every chunk of a program writing a line a millisecond kept the page too busy to answer clicks.
 */
function scrollLogsToEnd() {
  if (scrollQueued) return;
  scrollQueued = true;
  requestAnimationFrame(() => {
    scrollQueued = false;
    const pre = $('logs-text');
    if ($('logs-follow').checked) pre.scrollTop = pre.scrollHeight;
  });
}

// --- helpers ---

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(typeof c === 'string' ? document.createTextNode(c) : c);
  return node;
}

function button(label, onClick, opts = {}) {
  const b = el('button', { type: 'button' }, label);
  if (opts.danger) b.classList.add('danger');
  if (opts.title) b.title = opts.title;
  if (opts.action) b.dataset.action = opts.action;
  b.addEventListener('click', () => void onClick(b));
  return b;
}

/** Every action that stops something asks first. */
function ask(question) {
  return window.confirm(question);
}

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

function formatDuration(ms) {
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (x) => String(x).padStart(2, '0');
  if (d > 0) return `${d}d ${h}h ${pad(m)}m`;
  return `${h}:${pad(m)}:${pad(s % 60)}`;
}

// --- start ---

async function poll() {
  const out = await call('GET', '/api/processes');
  if (out.ok) applyList(out.processes, true);
}

async function loadInfo() {
  const info = await call('GET', '/api/info');
  if (!info.ok) return;
  $('info').textContent = `${info.identification} · drover ${info.version} · pid ${info.pid} · ${info.config_file}`;
  document.title = `drover · ${info.identification}`;
}

/** whether an event stream has ever opened: a later open (a reconnection, or a retry after a refusal) reads the header again */
let eventsOpened = false;

function connectEvents() {
  const conn = $('conn');
  const show = (state, text) => {
    conn.dataset.state = state;
    conn.textContent = text;
  };
  const events = new EventSource('/api/events');
  // why the stream last ended (`end` event: "reexec" after a USR2, "shutdown"), null while it runs
  let ended = null;
  events.onopen = () => {
    show('live', 'live');
    // a reconnection may reach another master (a USR2's, a restarted drover): its pid and config file
    if (eventsOpened) void loadInfo();
    eventsOpened = true;
    ended = null;
  };
  events.addEventListener('end', (ev) => {
    ended = JSON.parse(ev.data).reason ?? 'unknown';
    show('lost', ended === 'reexec' ? 'drover is re-executing (USR2): reconnecting to the new master…' : 'drover has stopped: reconnecting once it is back…');
  });
  // EventSource reconnects by itself; the next snapshot event brings the page up to date
  events.onerror = () => {
    if (events.readyState === EventSource.CLOSED) {
      // refused (an HTTP error, which EventSource does not retry): say why, and try again later
      void explainEventsRefusal(show);
      setTimeout(connectEvents, 5000);
      return;
    }
    // the reason the stream ended stays up while drover is away
    if (ended === null) show('lost', 'reconnecting…');
  };
  events.addEventListener('snapshot', (ev) => applyList(JSON.parse(ev.data), false));
  events.addEventListener('state', (ev) => applyStateEvent(JSON.parse(ev.data)));
}

/** Why the event stream was refused, from the answer a plain request gets (E_UNAUTHORIZED: signed out). */
async function explainEventsRefusal(show) {
  const out = await call('GET', '/api/processes');
  if (out.ok) show('lost', 'disconnected: trying again…');
  else if (out.code === 'E_UNAUTHORIZED') show('lost', 'signed out: drover no longer accepts these credentials (reload the page to sign in again)');
  else show('lost', `disconnected: ${out.message ?? out.code}; trying again…`);
}

$('reload').addEventListener('click', async (ev) => {
  if (!ask('Re-read the config file and apply it? Changed programs restart, removed ones stop.')) return;
  const out = await command('/api/update', {}, ev.currentTarget);
  if (out.ok) {
    const p = out.processes ?? { added: [], changed: [], removed: [] };
    showNotice(`config applied: ${p.added.length} added, ${p.changed.length} changed, ${p.removed.length} removed`, false);
  }
});
$('logs-close').addEventListener('click', closeLogs);
// supervisord's page has these too: Restart All / Stop All at the top, Clear Log per process
$('restart-all').addEventListener('click', (ev) => {
  if (ask('Restart every process? Each is stopped first.')) void command('/api/restart', { patterns: ['all'] }, ev.currentTarget);
});
$('stop-all').addEventListener('click', (ev) => {
  if (ask('Stop every process?')) void command('/api/stop', { patterns: ['all'] }, ev.currentTarget, ['E_NOT_RUNNING']);
});
$('logs-clear-file').addEventListener('click', async (ev) => {
  const name = logView?.name;
  if (!name || !ask(`Empty the log files of ${name}? What they hold now is lost.`)) return;
  const out = await command('/api/logs/clear', { patterns: [name] }, ev.currentTarget);
  if (out.ok && logView?.name === name) {
    $('logs-text').replaceChildren();
    logView.partial = null;
  }
});
$('logs-clear-view').addEventListener('click', () => {
  $('logs-text').replaceChildren();
  if (logView) logView.partial = null;
});
$('logs-stream').addEventListener('change', () => {
  if (logView) openLogs(logView.name);
});
setInterval(() => {
  for (const entry of procs.values()) renderUptime(entry);
}, 1000);
setInterval(() => void poll(), POLL_MS);
connectEvents();
void loadInfo();
void poll();
// /?log=NAME (where supervisord's tail.html?processname=NAME leads): that process's log, open
const asked = new URLSearchParams(location.search).get('log');
if (asked) openLogs(asked);
