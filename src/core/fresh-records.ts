// supervisor.restart (supervisorctl reload): supervisord re-execs itself for it, so its processes start over
// with no past: STOPPED, "Not started", no exit status, stop time or failed starts. drover keeps running
// through it, so once everything is stopped each process's record is made a fresh daemon's instead. Not
// for drover's reload (HUP, update), which keeps the records of the programs it does not change.
import type { CoreHost } from './_host.js';
import { STARTABLE_STATES } from './states.js';
import type { CommandOutcome } from './types.js';

/** Forgets the past of each process in `keys` that is not running (stopped, exited, fatal); others are left as they are. */
export function clearHistory(host: CoreHost, keys: readonly string[]): CommandOutcome[] {
  return keys.map((key): CommandOutcome => {
    const entry = host.table.get(key);
    if (!entry) return { key, ok: false, code: 'E_BAD_NAME', message: `no such process: ${key}` };
    // one on its way up or down, or unknown (its process may still run), keeps what it knows
    if (!STARTABLE_STATES.has(entry.record.state)) return { key, ok: false, code: 'E_STILL_RUNNING', message: `${key} is ${entry.record.state}` };
    entry.spawnFailure = null;
    host.dispatch(entry, { type: 'supervisorRestarted' });
    return { key, ok: true };
  });
}
