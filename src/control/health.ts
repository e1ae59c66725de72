// Health endpoints for orchestrators' probes (docs/api.md, "Web page, metrics and health"): /healthz says
// drover's loop answers; /readyz says every autostart process is where the config wants it.
import type { ProcessSpec } from '../config/types.js';
import { hasCompleted } from '../core/policy.js';
import type { ProcessRecord } from '../core/program.js';
import type { ControlApi } from './api.js';
import { exactGet, sendJson, type RouteHandler } from './server.js';
import type { HealthzJson, NotReadyJson, ReadyzJson } from './wire.js';

/** /healthz: 200 while drover is up and its event loop answers (also while it shuts down). */
export function healthzRoute(api: ControlApi): RouteHandler {
  return {
    prefix: '/healthz',
    handle(req, res) {
      if (!exactGet(req.url, req.method, '/healthz', res)) return;
      sendJson(res, 200, {
        ok: true,
        status: 'alive',
        pid: process.pid,
        version: api.version,
        state: api.supervisor.state,
        uptime_s: Math.round(process.uptime()),
      } satisfies HealthzJson);
    },
  };
}

/** /readyz: 200 when every autostart process is ready, else 503 with the ones that are not. */
export function readyzRoute(api: ControlApi): RouteHandler {
  return {
    prefix: '/readyz',
    handle(req, res) {
      if (!exactGet(req.url, req.method, '/readyz', res)) return;
      const shuttingDown = api.supervisor.state !== 'running';
      const notReady = shuttingDown ? [] : notReadyProcesses(api.supervisor.snapshot(), { stoppedByHand: (p) => api.supervisor.keptStopped(p) });
      const ready = !shuttingDown && notReady.length === 0;
      sendJson(res, ready ? 200 : 503, {
        ok: ready,
        status: ready ? 'ready' : shuttingDown ? 'shutting down' : 'not ready',
        not_ready: notReady,
      } satisfies ReadyzJson);
    },
  };
}

/**
 * The autostart processes that are not ready: ready means running (and not unhealthy: restarted for its
 * health check with no pass since), or — for a one-shot program (autorestart = false) — exited with one
 * of its expected exit codes. `stoppedByHand` names those an operator stopped (their reason says so).
 * `startUp`: the start-up's question (systemd's READY=1), not /readyz's: those an operator stopped are left
 * out (drover does not start them, so the start-up does not wait for them), and any program done as a job
 * (hasCompleted: an expected exit with no restart to come, under autorestart = unexpected too) is done.
 */
export function notReadyProcesses(
  list: readonly { key: string; spec: ProcessSpec; record: ProcessRecord }[],
  o: { readonly stoppedByHand?: (p: { key: string; spec: ProcessSpec }) => boolean; readonly startUp?: boolean } = {},
): NotReadyJson[] {
  const out: NotReadyJson[] = [];
  for (const p of list) {
    const { key, spec, record } = p;
    if (!spec.autostart) continue;
    const byHand = o.stoppedByHand?.(p) ?? false;
    if (byHand && o.startUp === true) continue;
    if (byHand && record.state === 'stopped') {
      out.push({ name: key, state: record.state, reason: 'stopped by hand' });
      continue;
    }
    if (record.state === 'running' && record.health === 'unhealthy') {
      // restarted for failing its health check, and no check has passed since: traffic stays away until one does
      out.push({ name: key, state: record.state, reason: `unhealthy: restarted ${record.unhealthyRestarts} time(s) for failed health checks; ready once a check passes` });
      continue;
    }
    if (record.state === 'running') continue;
    // Under `unexpected`, supervisor's default, an expected exit is not restarted either. The start-up counts
    // it as done, as `up -d --wait` does: nothing more will happen, and waiting for it fails systemd's start
    // (then kills and reruns everything). /readyz, asked again and again, counts only autorestart = false:
    // a server that exits 0 under the default serves nothing (docs/decisions.md, "When a one-shot …")
    const completed = hasCompleted(spec, record.state, record.exitStatus) && (o.startUp === true || spec.autorestart === 'false');
    if (completed) continue;
    out.push({ name: key, state: record.state, reason: reasonOf(spec, record) });
  }
  return out;
}

// --- internal ---

function reasonOf(spec: ProcessSpec, record: ProcessRecord): string {
  switch (record.state) {
    case 'starting':
      return 'starting';
    case 'backoff':
      return `failed to start ${record.backoffCount} time(s) in a row${record.spawnError ? `: ${record.spawnError}` : ''}`;
    case 'fatal':
      return record.spawnError ?? 'gave up starting (startretries reached)';
    case 'exited':
      return spec.autorestart === 'false'
        ? `exited with status ${record.exitStatus ?? '?'} (expected ${spec.exitCodes.join(', ')})`
        : `exited with status ${record.exitStatus ?? '?'}`;
    case 'stopped':
      return record.spawns === 0 ? 'not started yet' : 'stopped';
    case 'stopping':
      return 'stopping';
    case 'running':
      return 'running';
    case 'unknown':
      return 'its stop signal was refused (EPERM): drover cannot stop it';
  }
}
