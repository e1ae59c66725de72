// `drover down [--fast]`: stop every program (reverse priority, stopsignal then SIGKILL after stopwaitsecs)
// and wait until drover itself has exited. --fast kills every process group at once (as SIGQUIT does).
import { steadyNowMs } from '../../os/clock.js';
import { dirname } from 'node:path';
import { InfoJson, ResultsJson } from '../../control/wire.js';
import { instanceRunning } from '../../daemon/lock.js';
import { pidNamespace } from '../../os/proc.js';
import { processEnded } from '../../os/spawn.js';
import { UsageError } from '../../errors.js';
import { EXIT } from '../exit-codes.js';
import { formatElapsed, plural } from '../format.js';
import { Progress } from '../progress.js';
import { CommandFailed, remoteCommand } from '../remote.js';

/** After the event stream ends, how long drover may take to remove its files and exit. */
const EXIT_GRACE_MS = 10_000;

export const down = remoteCommand({
  name: 'down',
  help: `usage: drover down [--fast] [--no-wait] [--json]

Stop every program gracefully, in reverse priority order, and wait until drover has exited. On a
terminal, shows how many processes are still stopping.

options:
      --fast                 kill every process group at once (same as SIGQUIT)
      --no-wait              return once the shutdown has begun
`,
  options: { fast: { type: 'boolean' }, 'no-wait': { type: 'boolean' } },
  run: async (r) => {
    if (r.positionals.length > 0) throw new UsageError('down takes no arguments');
    const info = await r.call('GET', '/api/info', InfoJson);
    const { pid } = info;
    // What tells that drover has exited, across PID namespaces too (drover as a container's PID 1, its
    // runtime directory shared with the host): its instance lock, beside the control socket, released
    // only at its exit. Its pid is checked only where it names drover here: in drover's own PID namespace
    // (an older drover does not say which: then as before). Both looked at before the shutdown begins.
    const socketDir = r.endpoint.socketPath === null ? null : dirname(r.endpoint.socketPath);
    const lockDir = socketDir !== null && lockHeld(socketDir) ? socketDir : null;
    const pidHere = r.endpoint.socketPath !== null && (info.pid_namespace === undefined || (info.pid_namespace !== null && info.pid_namespace === pidNamespace()));
    const exited = (): boolean => (lockDir === null || !lockHeld(lockDir)) && (!pidHere || processEnded(pid));
    const wait = r.values['no-wait'] !== true;
    const progress = wait ? await Progress.open(r, 'stopping', { type: 'all' }) : null;
    const up = progress ? [...progress.states.values()].filter((s) => s !== 'stopped' && s !== 'exited' && s !== 'fatal' && s !== 'unknown').length : 0;
    try {
      await r.call('POST', '/api/shutdown', ResultsJson, { fast: r.values['fast'] === true });
    } catch (err) {
      progress?.finish(null);
      throw err;
    }
    if (!progress) {
      if (r.json) r.printJson({ ok: true, pid, waited: false });
      else r.out(`drover (pid ${pid}) is shutting down\n`);
      return EXIT.OK;
    }
    // drover closes every connection, this stream included, once all processes have stopped
    await progress.ended;
    const deadline = steadyNowMs() + EXIT_GRACE_MS;
    while (!exited()) {
      if (steadyNowMs() > deadline) {
        progress.finish(null);
        throw new CommandFailed(`drover (pid ${pid}) stopped its processes but has not exited after ${EXIT_GRACE_MS / 1000} s`, EXIT.FAILURE);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const summary = `drover stopped (pid ${pid}): ${plural(up, 'process', 'processes')} stopped in ${formatElapsed(progress.elapsedMs())}`;
    progress.finish(r.json ? null : summary);
    if (r.json) r.printJson({ ok: true, pid, stopped: up, elapsed_ms: progress.elapsedMs() });
    return EXIT.OK;
  },
});

// --- internal ---

/** Whether a live process holds the instance lock of `dir`; false when it cannot be looked at. */
function lockHeld(dir: string): boolean {
  try {
    return instanceRunning(dir);
  } catch {
    return false;
  }
}
