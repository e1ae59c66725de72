// Messages between the master and a drover worker over Node's IPC channel. Each is a plain object with a
// `t` (type) field; unknown types are ignored on both sides so that either can be newer than the other.

/** Worker → master. */
export type WorkerMessage =
  /** listening (HTTP) or set up (job worker): the worker counts as running from now */
  | { readonly t: 'ready' }
  /** the event loop is alive; sent every heartbeat interval */
  | { readonly t: 'hb'; readonly requests: number; readonly rss: number }
  /** the worker wants to be replaced (max_requests reached); the master starts a replacement first */
  | { readonly t: 'retire'; readonly reason: string };

/** Master → worker. */
export type MasterMessage =
  /** stop gracefully: stop accepting, finish in-flight work, exit */
  { readonly t: 'stop' };

/** Narrows an unknown IPC message to a WorkerMessage, or null. */
export function parseWorkerMessage(m: unknown): WorkerMessage | null {
  if (typeof m !== 'object' || m === null) return null;
  const t = (m as { t?: unknown }).t;
  switch (t) {
    case 'ready':
      return { t };
    case 'hb': {
      const { requests, rss } = m as { requests?: unknown; rss?: unknown };
      return { t, requests: typeof requests === 'number' ? requests : 0, rss: typeof rss === 'number' ? rss : 0 };
    }
    case 'retire': {
      const reason = (m as { reason?: unknown }).reason;
      return { t, reason: typeof reason === 'string' ? reason : 'retire requested' };
    }
    default:
      return null;
  }
}

/** Environment variables the master sets for a worker. */
export const WORKER_ENV = {
  /** worker number (process_num) */
  id: 'DROVER_WORKER_ID',
  /** process name, for the title and logs */
  name: 'DROVER_WORKER_NAME',
  /** heartbeat interval in ms (0: none) */
  heartbeatMs: 'DROVER_HEARTBEAT_MS',
  /** requests after which the worker asks to be replaced (jitter already applied; 0: never) */
  maxRequests: 'DROVER_MAX_REQUESTS',
  /** graceful stop budget in ms, so the worker can give up on stragglers itself just before the SIGKILL */
  gracefulMs: 'DROVER_GRACEFUL_MS',
} as const;
