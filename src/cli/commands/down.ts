// `drover down [--fast]`: stop every program (reverse priority, stopsignal then SIGKILL after stopwaitsecs)
// and wait until drover itself has exited. --fast kills every process group at once (as SIGQUIT does).
import { InfoJson, ResultsJson } from '../../control/wire.js';
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
    const { pid } = await r.call('GET', '/api/info', InfoJson);
    const wait = r.values['no-wait'] !== true;
    const progress = wait ? await Progress.open(r, 'stopping', { type: 'all' }) : null;
    const up = progress ? [...progress.states.values()].filter((s) => s !== 'stopped' && s !== 'exited' && s !== 'fatal').length : 0;
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
    const local = r.endpoint.socketPath !== null;
    const deadline = Date.now() + EXIT_GRACE_MS;
    while (local && !processEnded(pid)) {
      if (Date.now() > deadline) {
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
