// `drover status [PATTERN...]`: one line per process — name, state, pid, uptime, restarts, CPU%, RSS.
// Exit 3 (LSB) when a matched process is not running.
import { NOT_RUNNING_HEADER, ProcessesJson, type ProcessJson } from '../../control/wire.js';
import { NO_PROCESS_STATES } from '../../core/states.js';
import { EXIT } from '../exit-codes.js';
import { formatBytes, formatDuration, paintState, table, useColor } from '../format.js';
import { remoteCommand } from '../remote.js';

const HELP = `usage: drover status [PATTERN...] [--json]

Show every process (or those matching PATTERN: name, group:name, group:*, group, all): state, pid,
uptime, restarts, CPU% (since the previous status, or since the process started) and resident memory.
Exit 0 when every matched process is running (or starting/stopping), 3 when one is not.
`;

export const status = remoteCommand({
  name: 'status',
  help: HELP,
  run: async (r) => {
    const pats = r.positionals;
    const patterns = pats.length > 0 ? `patterns=${encodeURIComponent(pats.join(','))}` : null;
    if (r.json) {
      // drover writes the answer indented as printJson would, and counts the processes that are not
      // running in a header: printed as it comes, 0.7 MB with 1000 programs is neither parsed nor re-written
      const path = `/api/processes?${patterns === null ? '' : `${patterns}&`}indent=2`;
      const raw = await r.callRaw('GET', path);
      const notRunning = raw.status === 200 ? raw.header(NOT_RUNNING_HEADER) : null;
      if (notRunning !== null && /^\d+$/.test(notRunning)) {
        for (const piece of raw.pieces) r.ctx.stdout.write(piece);
        r.out('\n');
        return notRunning === '0' ? EXIT.OK : EXIT.NOT_RUNNING_STATUS;
      }
      // an error, or a drover from before the header: read and checked as every answer is
      const { processes } = r.answerOf(raw, 'GET', path, ProcessesJson);
      r.printJson({ ok: true, processes });
      return exitCode(processes);
    }
    const { processes: procs } = await r.call('GET', `/api/processes${patterns === null ? '' : `?${patterns}`}`, ProcessesJson);
    const code = exitCode(procs);
    if (procs.length === 0) {
      r.out('no processes\n');
      return code;
    }
    const color = useColor(r.ctx);
    const rows = [['NAME', 'STATE', 'PID', 'UPTIME', 'RESTARTS', 'CPU%', 'RSS', ''].map((h) => h)];
    for (const p of procs) {
      rows.push([
        p.group === p.process ? p.process : p.name,
        paintState(p.state, color),
        p.pid === null ? '-' : String(p.pid),
        p.uptime_ms === null ? '-' : formatDuration(p.uptime_ms),
        String(p.restarts),
        p.cpu_percent === null ? '-' : p.cpu_percent.toFixed(1),
        p.rss_bytes === null ? '-' : formatBytes(p.rss_bytes),
        detail(p),
      ]);
    }
    r.out(table(rows));
    return code;
  },
});

// --- internal ---

/** 3 (LSB's "not running") when one of the processes is in a state with no process, else 0. */
function exitCode(procs: readonly ProcessJson[]): number {
  return procs.some((p) => NO_PROCESS_STATES.has(p.state)) ? EXIT.NOT_RUNNING_STATUS : EXIT.OK;
}

function detail(p: ProcessJson): string {
  // a spare is loaded and accepts nothing until a worker leaves; its state stays supervisor's word
  if (p.role === 'spare' && p.state !== 'stopped' && p.state !== 'fatal') return 'spare (accepts nothing until it takes over)';
  if (p.waiting) return p.waiting;
  if (p.health && (p.state === 'running' || p.state === 'stopping')) return p.health;
  if (p.spawn_error && (p.state === 'fatal' || p.state === 'backoff')) return p.spawn_error;
  if ((p.state === 'exited' || p.state === 'fatal' || p.state === 'backoff') && p.exit_status !== null) {
    return `exit status ${p.exit_status}`;
  }
  if (p.state === 'stopped' && p.stopped_at) return `since ${p.stopped_at.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}`;
  return '';
}
