// Prometheus metrics at /metrics (docs/api.md, "Web page, metrics and health"). Every value is read when
// Prometheus scrapes — from the supervisor's records, /proc and drover itself — so nothing runs between
// scrapes but the event-loop delay monitor. The text is written in one pass (src/control/exposition.ts).
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { STATES } from '../core/states.js';
import { steadyNowMs } from '../os/clock.js';
import { CLOCK_TICKS, countOpenFds, PAGE_SIZE, readStat } from '../os/proc.js';
import { shownMs } from './shown-time.js';
import type { ControlApi } from './api.js';
import type { JournalHealth } from '../primitives/journal.js';
import type { QueueStats } from '../primitives/queue-core.js';
import { processKey } from '../config/diff.js';
import type { ProcessSnapshot } from '../core/types.js';
import { EXPOSITION_CONTENT_TYPE, ExpositionWriter, familiesOver, labelPairs, labelText, type FamilyType } from './exposition.js';
import { exactGet, type RouteHandler } from './server.js';

/** sampling interval of the event-loop delay monitor */
const LAG_RESOLUTION_MS = 10;

/** What /metrics reads of each task queue. */
export type QueueFigures = QueueStats;

/** The /metrics route; `queues` gives the master's task queues (null: none), `journal` its journal's health (null: none). */
export function metricsRoute(
  api: ControlApi,
  queues: (() => QueueFigures[] | Promise<QueueFigures[]>) | null = null,
  journal: (() => JournalHealth | null) | null = null,
): RouteHandler {
  const metrics = new DroverMetrics(api, queues, journal);
  return {
    prefix: '/metrics',
    async handle(req, res) {
      if (!exactGet(req.url, req.method, '/metrics', res)) return;
      const { contentType, body } = await metrics.render();
      res.writeHead(200, { 'content-type': contentType, 'content-length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
    },
  };
}

/** drover's metric set, bound to one supervisor: every value is read at render time. */
export class DroverMetrics {
  private readonly lag: IntervalHistogram;
  /** the last scrape's size in bytes, to size the next one's buffer */
  private lastSize = 0;

  constructor(
    private readonly api: ControlApi,
    private readonly queues: (() => QueueFigures[] | Promise<QueueFigures[]>) | null = null,
    private readonly journal: (() => JournalHealth | null) | null = null,
  ) {
    this.lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
    this.lag.enable();
  }

  /** The exposition text; the event-loop delay window starts again after each scrape. */
  async render(): Promise<{ contentType: string; body: Buffer }> {
    const queues = (await this.queues?.()) ?? [];
    const w = new ExpositionWriter(this.lastSize + 4096);
    this.own(w);
    this.perProcess(w);
    this.perWorkerProgram(w);
    this.eventPools(w);
    queueFamilies(w, queues);
    this.journalFamilies(w);
    this.lag.reset();
    const body = w.finish();
    this.lastSize = body.length;
    return { contentType: EXPOSITION_CONTENT_TYPE, body };
  }

  private own(w: ExpositionWriter): void {
    const { api } = this;
    w.family('drover_info', 'gauge', 'Always 1; the labels say which drover this is.');
    w.sample(labelText({ version: api.version, identification: api.identification }), 1);
    w.family('drover_resident_memory_bytes', 'gauge', "drover's own resident set size.");
    w.sample('', process.memoryUsage.rss());
    w.family('drover_heap_used_bytes', 'gauge', "V8 heap in use by drover's master process.");
    w.sample('', process.memoryUsage().heapUsed);
    w.family('drover_control_streams', 'gauge', 'Streaming answers open on the JSON API (log follows and streams, event streams).');
    w.sample('', api.openStreams);
    // lag figures cover the time since the previous scrape; the histogram records whole timer intervals,
    // so the lag is what exceeds the resolution
    const lag = (name: string, help: string, v: number): void => {
      w.family(name, 'gauge', help);
      w.sample('', Number.isFinite(v) ? Math.max(0, v / 1e9 - LAG_RESOLUTION_MS / 1000) : 0);
    };
    lag('drover_event_loop_lag_mean_seconds', "Mean event-loop delay of drover's master since the previous scrape.", this.lag.mean);
    lag('drover_event_loop_lag_p99_seconds', "99th percentile event-loop delay of drover's master since the previous scrape.", this.lag.percentile(99));
    lag('drover_event_loop_lag_max_seconds', "Largest event-loop delay of drover's master since the previous scrape.", this.lag.max);
  }

  /** A family per figure, each a pass over the processes; /proc is read once per process and scrape. */
  private perProcess(w: ExpositionWriter): void {
    const procs = this.api.supervisor.snapshot();
    const n = procs.length;
    const pairs = procs.map((p) => labelsOf(p.spec));
    // per-pid figures from /proc (NaN: no live pid, or it ended since the snapshot), in typed arrays
    // so that they are not more objects for the collector to trace
    const cpu = new Float64Array(n).fill(NaN);
    const rss = new Float64Array(n).fill(NaN);
    const fds = new Float64Array(n).fill(NaN);
    for (let i = 0; i < n; i++) {
      const pid = procs[i]?.record.pid ?? null;
      if (pid === null || pid <= 0) continue;
      const st = readStat(pid);
      if (st) cpu[i] = st.cpuTicks / CLOCK_TICKS;
      if (st) rss[i] = st.rssPages * PAGE_SIZE;
      fds[i] = openFds(pid) ?? NaN;
    }
    const each = (name: string, type: FamilyType, help: string, value: (p: ProcessSnapshot, i: number) => number | null): void => {
      w.family(name, type, help);
      for (let i = 0; i < n; i++) {
        const v = value(procs[i] as ProcessSnapshot, i);
        if (v !== null && !Number.isNaN(v)) w.sample(`{${pairs[i] ?? ''}}`, v);
      }
    };
    w.family('drover_process_state', 'gauge', "State of each process: 1 for the current state, 0 for the others (supervisor's states).");
    for (let i = 0; i < n; i++) {
      const state = procs[i]?.record.state;
      for (const s of STATES) w.sample(`{${pairs[i] ?? ''},state="${s}"}`, state === s ? 1 : 0);
    }
    each('drover_process_restarts_total', 'counter', 'Processes spawned after the first one (autorestarts, backoff retries, manual restarts).', (p) => p.record.restarts);
    each('drover_process_up', 'gauge', '1 when the process has a live pid, else 0.', (p) => (p.record.pid ? 1 : 0));
    // health checks (healthcheck =): only processes that have one get these series
    const checked = (pick: (r: ProcessSnapshot['record']) => number | null) => (p: ProcessSnapshot) => (p.spec.healthcheck === null ? null : pick(p.record));
    each('drover_process_healthcheck_failures_total', 'counter', 'Failed health checks (healthcheck =) of the process, every process it had counted.', checked((r) => r.healthChecksFailed));
    each('drover_process_unhealthy_restarts_total', 'counter', 'Restarts after healthcheck_retries failed health checks in a row.', checked((r) => r.unhealthyRestarts));
    each('drover_process_healthy', 'gauge', "The health check's last verdict while the process is up: 1 healthy, 0 unhealthy; absent before the first verdict.", checked((r) => (r.health === null || r.pid === null ? null : r.health === 'healthy' ? 1 : 0)));
    each('drover_process_cpu_seconds_total', 'counter', 'User and system CPU time of the current process (resets when it is replaced).', (_, i) => cpu[i] ?? null);
    each('drover_process_resident_memory_bytes', 'gauge', 'Resident set size of the current process.', (_, i) => rss[i] ?? null);
    each('drover_process_open_fds', 'gauge', 'Open file descriptors of the current process (/proc/PID/fd).', (_, i) => fds[i] ?? null);
    // records hold steady times: uptime from them, the start time moved onto the wall clock (shown-time.ts)
    const now = steadyNowMs();
    const started = (p: ProcessSnapshot): number | null => (p.record.pid === null || p.record.pid <= 0 ? null : p.record.startedAtMs);
    each('drover_process_uptime_seconds', 'gauge', 'Seconds since the current process was spawned.', (p) => {
      const at = started(p);
      return at === null ? null : Math.max(0, now - at) / 1000;
    });
    each('drover_process_start_time_seconds', 'gauge', 'When the current process was spawned, in seconds since the epoch.', (p) => {
      const at = started(p);
      return at === null ? null : shownMs(at) / 1000;
    });
  }

  /** Every prefork program now configured has its series from the start; one that `update` removed leaves with them. */
  private perWorkerProgram(w: ExpositionWriter): void {
    const { api } = this;
    const programs = new Set<string>();
    const spares = new Map<string, number>();
    for (const p of api.supervisor.snapshot()) {
      if (p.spec.worker === null) continue;
      const program = `${p.spec.group}:${p.spec.programName}`;
      programs.add(program);
      if (p.record.state === 'running' && api.roleOf(p.key) === 'spare') spares.set(program, (spares.get(program) ?? 0) + 1);
    }
    const stats = api.workerStats();
    const each = familiesOver(w, programs, programLabels);
    each('counter', 'drover_worker_requests_total', 'Requests (or jobs) served by the workers of a prefork program, from their heartbeats.', (g) => stats.requestsServed.get(g) ?? 0);
    each('counter', 'drover_worker_recycles_total', 'Workers of a prefork program replaced by a new one (max_requests, max_memory, or asked by the worker).', (g) => stats.recycles.get(g) ?? 0);
    each('gauge', 'drover_worker_spares', 'Spare workers of a prefork program that are loaded and ready to take over (spare_workers); they accept nothing until then.', (g) => spares.get(g) ?? 0);
    each('counter', 'drover_worker_takeovers_total', 'Times a spare worker of a prefork program took over from a worker that left (crash, recycling, reload, stop).', (g) => stats.takeovers.get(g) ?? 0);
  }

  /** Event listener pools (src/events/): each pool's queue, and what happened to its events. */
  private eventPools(w: ExpositionWriter): void {
    const each = familiesOver(w, this.api.eventPoolStats(), (p) => labelText({ pool: p.pool }));
    each('gauge', 'drover_event_queue_depth', "Events waiting in an event listener pool's queue for a listener to be ready.", (p) => p.queued);
    each('gauge', 'drover_event_queue_size', "An event listener pool's buffer_size: the most events its queue holds.", (p) => p.bufferSize);
    each('counter', 'drover_events_queued_total', 'Events an event listener pool subscribed to and queued.', (p) => p.accepted);
    each('counter', 'drover_events_sent_total', 'Events written to a listener of the pool (an event sent again counts again).', (p) => p.sent);
    each('counter', 'drover_events_rejected_total', 'Events a listener of the pool answered with something other than OK, or left unfinished when it exited: they go back to the head of the queue.', (p) => p.rejected);
    each('counter', 'drover_events_dropped_total', "Events dropped because the pool's queue was full (buffer_size): the oldest goes.", (p) => p.overflowed);
  }

  /** The journal (journal = PATH): series only when there is one. */
  private journalFamilies(w: ExpositionWriter): void {
    const h = this.journal?.() ?? null;
    w.family('drover_journal_degraded', 'gauge', 'While the journal cannot be written (a full disk): 1, and queues and state are in memory only, not durable; 0 while it is written.');
    if (h) w.sample(labelText({ file: h.file }), h.degraded ? 1 : 0);
    w.family('drover_journal_error_info', 'gauge', "Always 1, present only while the journal cannot be written; the error label is the latest failed write's message.");
    if (h?.degraded) w.sample(labelText({ file: h.file, error: h.error ?? '' }), 1);
  }
}

/** The master's task queues (src/primitives/), when the owner passes them in. */
function queueFamilies(w: ExpositionWriter, queues: readonly QueueFigures[]): void {
  const each = familiesOver(w, queues, (q) => labelText({ queue: q.name }));
  each('gauge', 'drover_queue_depth', 'Tasks waiting in a queue: ready to be taken, or delayed.', (q) => q.ready + q.delayed);
  each('gauge', 'drover_queue_delayed', 'Tasks of a queue not due yet (pushed with a delay, or nacked with a retry time).', (q) => q.delayed);
  each('gauge', 'drover_queue_in_flight', 'Tasks taken by a worker and neither acked nor nacked yet.', (q) => q.leased);
  each('gauge', 'drover_queue_dead', "Tasks in a queue's dead-letter list.", (q) => q.dead);
  each('gauge', 'drover_queue_waiting_takers', 'Workers waiting for a task of a queue.', (q) => q.waiting);
  each('counter', 'drover_queue_pushed_total', 'Tasks pushed to a queue.', (q) => q.pushed);
  each('counter', 'drover_queue_acked_total', 'Tasks acknowledged as done.', (q) => q.acked);
  each('counter', 'drover_queue_nacked_total', 'Tasks given back as failed.', (q) => q.nacked);
  each('counter', 'drover_queue_lost_total', 'Leases that ended without an ack or nack (expired, or the worker exited).', (q) => q.lost);
}

// --- internal ---

/** The label pairs of a process, made once per spec (a spec is replaced, not changed, at a reload). */
const LABELS = new WeakMap<ProcessSnapshot['spec'], string>();
function labelsOf(spec: ProcessSnapshot['spec']): string {
  let pairs = LABELS.get(spec);
  if (pairs === undefined) {
    pairs = labelPairs({ name: processKey(spec), group: spec.group, process: spec.name });
    LABELS.set(spec, pairs);
  }
  return pairs;
}

/** The braced labels of a "group:program". */
function programLabels(program: string): string {
  const i = program.indexOf(':');
  return labelText({ group: program.slice(0, i), program: program.slice(i + 1) });
}

/** Open fds of a process; null when it has gone or is not ours to look at. */
function openFds(pid: number): number | null {
  try {
    return countOpenFds(pid);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // ENOENT/ESRCH: it ended since the snapshot; EACCES/EPERM: another user's process (drover not root)
    if (code === 'ENOENT' || code === 'ESRCH' || code === 'EACCES' || code === 'EPERM') return null;
    throw err;
  }
}
