// Prometheus metrics at /metrics (docs/api.md, "Web page, metrics and health"). Every value is read when
// Prometheus scrapes — from the supervisor's records, /proc and drover itself — so nothing runs between
// scrapes but the event-loop delay monitor. drover keeps its own Registry, never prom-client's global one.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Counter, Gauge, Registry } from 'prom-client';
import type { ProcessRecord } from '../core/program.js';
import type { Supervisor } from '../core/supervisor.js';
import { STATES } from '../core/states.js';
import { CLOCK_TICKS, countOpenFds, PAGE_SIZE, readStat } from '../os/proc.js';
import type { ControlApi } from './api.js';
import type { JournalHealth } from '../primitives/journal.js';
import type { QueueStats } from '../primitives/queue-core.js';
import { exactGet, type RouteHandler } from './server.js';

const PROCESS_LABELS = ['name', 'group', 'process'] as const;
const PROGRAM_LABELS = ['group', 'program'] as const;
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
      const { contentType, text } = await metrics.render();
      res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
      res.end(req.method === 'HEAD' ? undefined : text);
    },
  };
}

/** drover's metric set, bound to one supervisor. */
export class DroverMetrics {
  readonly registry = new Registry();
  private readonly lag: IntervalHistogram;

  constructor(
    api: ControlApi,
    queues: (() => QueueFigures[] | Promise<QueueFigures[]>) | null = null,
    journal: (() => JournalHealth | null) | null = null,
  ) {
    const supervisor = api.supervisor;
    this.lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
    this.lag.enable();
    const reg = [this.registry];
    const self = this;

    new Gauge({
      name: 'drover_info',
      help: 'Always 1; the labels say which drover this is.',
      labelNames: ['version', 'identification'],
      registers: reg,
      collect() {
        this.reset();
        this.set({ version: api.version, identification: api.identification }, 1);
      },
    });
    new Gauge({
      name: 'drover_resident_memory_bytes',
      help: "drover's own resident set size.",
      registers: reg,
      collect() {
        this.set(process.memoryUsage.rss());
      },
    });
    new Gauge({
      name: 'drover_heap_used_bytes',
      help: "V8 heap in use by drover's master process.",
      registers: reg,
      collect() {
        this.set(process.memoryUsage().heapUsed);
      },
    });
    // Lag figures cover the time since the previous scrape: the histogram is reset after each one.
    const lagGauge = (name: string, help: string, pick: (h: IntervalHistogram) => number): void => {
      new Gauge({
        name,
        help,
        registers: reg,
        collect() {
          // the histogram records whole timer intervals: the lag is what exceeds the resolution
          const v = pick(self.lag);
          this.set(Number.isFinite(v) ? Math.max(0, v / 1e9 - LAG_RESOLUTION_MS / 1000) : 0);
        },
      });
    };
    lagGauge('drover_event_loop_lag_mean_seconds', "Mean event-loop delay of drover's master since the previous scrape.", (h) => h.mean);
    lagGauge('drover_event_loop_lag_p99_seconds', "99th percentile event-loop delay of drover's master since the previous scrape.", (h) => h.percentile(99));
    lagGauge('drover_event_loop_lag_max_seconds', "Largest event-loop delay of drover's master since the previous scrape.", (h) => h.max);

    new Gauge({
      name: 'drover_process_state',
      help: 'State of each process: 1 for the current state, 0 for the others (supervisor\'s states).',
      labelNames: [...PROCESS_LABELS, 'state'],
      registers: reg,
      collect() {
        this.reset();
        for (const p of supervisor.snapshot()) {
          for (const s of STATES) this.set({ ...labels(p), state: s }, p.record.state === s ? 1 : 0);
        }
      },
    });
    new Counter({
      name: 'drover_process_restarts_total',
      help: 'Processes spawned after the first one (autorestarts, backoff retries, manual restarts).',
      labelNames: PROCESS_LABELS,
      registers: reg,
      collect() {
        this.reset();
        for (const p of supervisor.snapshot()) this.inc(labels(p), p.record.restarts);
      },
    });
    new Gauge({
      name: 'drover_process_up',
      help: '1 when the process has a live pid, else 0.',
      labelNames: PROCESS_LABELS,
      registers: reg,
      collect() {
        this.reset();
        for (const p of supervisor.snapshot()) this.set(labels(p), p.record.pid ? 1 : 0);
      },
    });
    // health checks (healthcheck =): only processes that have one get these series
    const checked = (): { l: Record<string, string>; record: ProcessRecord }[] =>
      supervisor
        .snapshot()
        .filter((p) => p.spec.healthcheck !== null)
        .map((p) => ({ l: labels(p), record: p.record }));
    new Counter({
      name: 'drover_process_healthcheck_failures_total',
      help: 'Failed health checks (healthcheck =) of the process, every process it had counted.',
      labelNames: PROCESS_LABELS,
      registers: reg,
      collect() {
        this.reset();
        for (const p of checked()) this.inc(p.l, p.record.healthChecksFailed);
      },
    });
    new Counter({
      name: 'drover_process_unhealthy_restarts_total',
      help: 'Restarts after healthcheck_retries failed health checks in a row.',
      labelNames: PROCESS_LABELS,
      registers: reg,
      collect() {
        this.reset();
        for (const p of checked()) this.inc(p.l, p.record.unhealthyRestarts);
      },
    });
    new Gauge({
      name: 'drover_process_healthy',
      help: "The health check's last verdict while the process is up: 1 healthy, 0 unhealthy; absent before the first verdict.",
      labelNames: PROCESS_LABELS,
      registers: reg,
      collect() {
        this.reset();
        for (const p of checked()) if (p.record.health !== null && p.record.pid !== null) this.set(p.l, p.record.health === 'healthy' ? 1 : 0);
      },
    });
    // Per-pid figures from /proc: one read of /proc/PID/stat per process and scrape.
    const live = (): { l: Record<string, string>; pid: number; startedAtMs: number | null }[] =>
      supervisor
        .snapshot()
        .filter((p) => p.record.pid !== null && p.record.pid > 0)
        .map((p) => ({ l: labels(p), pid: p.record.pid as number, startedAtMs: p.record.startedAtMs }));
    new Counter({
      name: 'drover_process_cpu_seconds_total',
      help: 'User and system CPU time of the current process (resets when it is replaced).',
      labelNames: PROCESS_LABELS,
      registers: reg,
      collect() {
        this.reset();
        for (const p of live()) {
          const st = readStat(p.pid);
          if (st) this.inc(p.l, st.cpuTicks / CLOCK_TICKS);
        }
      },
    });
    new Gauge({
      name: 'drover_process_resident_memory_bytes',
      help: 'Resident set size of the current process.',
      labelNames: PROCESS_LABELS,
      registers: reg,
      collect() {
        this.reset();
        for (const p of live()) {
          const st = readStat(p.pid);
          if (st) this.set(p.l, st.rssPages * PAGE_SIZE);
        }
      },
    });
    new Gauge({
      name: 'drover_process_open_fds',
      help: 'Open file descriptors of the current process (/proc/PID/fd).',
      labelNames: PROCESS_LABELS,
      registers: reg,
      collect() {
        this.reset();
        for (const p of live()) {
          const n = openFds(p.pid);
          if (n !== null) this.set(p.l, n);
        }
      },
    });
    new Gauge({
      name: 'drover_process_uptime_seconds',
      help: 'Seconds since the current process was spawned.',
      labelNames: PROCESS_LABELS,
      registers: reg,
      collect() {
        this.reset();
        const now = Date.now();
        for (const p of live()) if (p.startedAtMs !== null) this.set(p.l, (now - p.startedAtMs) / 1000);
      },
    });
    new Gauge({
      name: 'drover_process_start_time_seconds',
      help: 'When the current process was spawned, in seconds since the epoch.',
      labelNames: PROCESS_LABELS,
      registers: reg,
      collect() {
        this.reset();
        for (const p of live()) if (p.startedAtMs !== null) this.set(p.l, p.startedAtMs / 1000);
      },
    });

    new Counter({
      name: 'drover_worker_requests_total',
      help: 'Requests (or jobs) served by the workers of a prefork program, from their heartbeats.',
      labelNames: PROGRAM_LABELS,
      registers: reg,
      collect() {
        this.reset();
        const served = api.workerStats().requestsServed;
        for (const program of workerPrograms(supervisor)) this.inc(programLabels(program), served.get(program) ?? 0);
      },
    });
    new Counter({
      name: 'drover_worker_recycles_total',
      help: 'Workers of a prefork program replaced by a new one (max_requests, max_memory, or asked by the worker).',
      labelNames: PROGRAM_LABELS,
      registers: reg,
      collect() {
        this.reset();
        // the programs there are now: one that `update` removed leaves with its other series
        const recycles = api.workerStats().recycles;
        for (const program of workerPrograms(supervisor)) this.inc(programLabels(program), recycles.get(program) ?? 0);
      },
    });
    new Gauge({
      name: 'drover_worker_spares',
      help: 'Spare workers of a prefork program that are loaded and ready to take over (spare_workers); they accept nothing until then.',
      labelNames: PROGRAM_LABELS,
      registers: reg,
      collect() {
        this.reset();
        const ready = new Map<string, number>();
        for (const p of supervisor.snapshot()) {
          if (p.spec.worker === null || p.record.state !== 'running' || api.roleOf(p.key) !== 'spare') continue;
          const program = `${p.spec.group}:${p.spec.programName}`;
          ready.set(program, (ready.get(program) ?? 0) + 1);
        }
        for (const program of workerPrograms(supervisor)) this.set(programLabels(program), ready.get(program) ?? 0);
      },
    });
    new Counter({
      name: 'drover_worker_takeovers_total',
      help: 'Times a spare worker of a prefork program took over from a worker that left (crash, recycling, reload, stop).',
      labelNames: PROGRAM_LABELS,
      registers: reg,
      collect() {
        this.reset();
        const takeovers = api.workerStats().takeovers;
        for (const program of workerPrograms(supervisor)) this.inc(programLabels(program), takeovers.get(program) ?? 0);
      },
    });
    // the master's task queues (src/primitives/), when the owner passes them in
    const queueGauge = (name: string, help: string, pick: (q: QueueFigures) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ['queue'],
        registers: reg,
        async collect() {
          this.reset();
          for (const q of (await queues?.()) ?? []) this.set({ queue: q.name }, pick(q));
        },
      });
    };
    const queueCounter = (name: string, help: string, pick: (q: QueueFigures) => number): void => {
      new Counter({
        name,
        help,
        labelNames: ['queue'],
        registers: reg,
        async collect() {
          this.reset();
          for (const q of (await queues?.()) ?? []) this.inc({ queue: q.name }, pick(q));
        },
      });
    };
    // event listener pools (src/events/): each pool's queue, and what happened to its events
    const poolMetric = (kind: 'gauge' | 'counter', name: string, help: string, pick: (p: ReturnType<ControlApi['eventPoolStats']>[number]) => number): void => {
      const Metric = kind === 'gauge' ? Gauge : Counter;
      new Metric({
        name,
        help,
        labelNames: ['pool'],
        registers: reg,
        collect() {
          this.reset();
          for (const p of api.eventPoolStats()) {
            if (this instanceof Gauge) this.set({ pool: p.pool }, pick(p));
            else this.inc({ pool: p.pool }, pick(p));
          }
        },
      });
    };
    poolMetric('gauge', 'drover_event_queue_depth', 'Events waiting in an event listener pool\'s queue for a listener to be ready.', (p) => p.queued);
    poolMetric('gauge', 'drover_event_queue_size', "An event listener pool's buffer_size: the most events its queue holds.", (p) => p.bufferSize);
    poolMetric('counter', 'drover_events_queued_total', 'Events an event listener pool subscribed to and queued.', (p) => p.accepted);
    poolMetric('counter', 'drover_events_sent_total', 'Events written to a listener of the pool (an event sent again counts again).', (p) => p.sent);
    poolMetric('counter', 'drover_events_rejected_total', 'Events a listener of the pool answered with something other than OK, or left unfinished when it exited: they go back to the head of the queue.', (p) => p.rejected);
    poolMetric('counter', 'drover_events_dropped_total', "Events dropped because the pool's queue was full (buffer_size): the oldest goes.", (p) => p.overflowed);
    queueGauge('drover_queue_depth', 'Tasks waiting in a queue: ready to be taken, or delayed.', (q) => q.ready + q.delayed);
    queueGauge('drover_queue_delayed', 'Tasks of a queue not due yet (pushed with a delay, or nacked with a retry time).', (q) => q.delayed);
    queueGauge('drover_queue_in_flight', 'Tasks taken by a worker and neither acked nor nacked yet.', (q) => q.leased);
    queueGauge('drover_queue_dead', "Tasks in a queue's dead-letter list.", (q) => q.dead);
    queueGauge('drover_queue_waiting_takers', 'Workers waiting for a task of a queue.', (q) => q.waiting);
    queueCounter('drover_queue_pushed_total', 'Tasks pushed to a queue.', (q) => q.pushed);
    queueCounter('drover_queue_acked_total', 'Tasks acknowledged as done.', (q) => q.acked);
    queueCounter('drover_queue_nacked_total', 'Tasks given back as failed.', (q) => q.nacked);
    queueCounter('drover_queue_lost_total', 'Leases that ended without an ack or nack (expired, or the worker exited).', (q) => q.lost);
    // the journal (journal = PATH): series only when there is one
    new Gauge({
      name: 'drover_journal_degraded',
      help: 'While the journal cannot be written (a full disk): 1, and queues and state are in memory only, not durable; 0 while it is written.',
      labelNames: ['file'],
      registers: reg,
      collect() {
        this.reset();
        const h = journal?.();
        if (h) this.set({ file: h.file }, h.degraded ? 1 : 0);
      },
    });
    new Gauge({
      name: 'drover_journal_error_info',
      help: "Always 1, present only while the journal cannot be written; the error label is the latest failed write's message.",
      labelNames: ['file', 'error'],
      registers: reg,
      collect() {
        this.reset();
        const h = journal?.();
        if (h?.degraded) this.set({ file: h.file, error: h.error ?? '' }, 1);
      },
    });
  }

  /** The exposition text; the event-loop delay window starts again after each scrape. */
  async render(): Promise<{ contentType: string; text: string }> {
    const text = await this.registry.metrics();
    this.lag.reset();
    return { contentType: this.registry.contentType, text };
  }
}

// --- internal ---

function labels(p: { key: string; spec: { group: string; name: string } }): Record<string, string> {
  return { name: p.key, group: p.spec.group, process: p.spec.name };
}

function programLabels(program: string): Record<string, string> {
  const i = program.indexOf(':');
  return { group: program.slice(0, i), program: program.slice(i + 1) };
}

/** "group:program" of every prefork program now configured, so each has its series from the start. */
function workerPrograms(supervisor: Supervisor): Set<string> {
  return new Set(
    supervisor
      .snapshot()
      .filter((p) => p.spec.worker !== null)
      .map((p) => `${p.spec.group}:${p.spec.programName}`),
  );
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
