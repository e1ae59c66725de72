// `drover status [PATTERN...]`: one line per process — name, state, pid, uptime, restarts, CPU%, RSS.
// Exit 3 (LSB) when a matched process is not running.
import { statusText } from '../../control/status-text.js';
import { NOT_RUNNING_HEADER, ProcessesJson, StatusJson, type ProcessJson } from '../../control/wire.js';
import { NO_PROCESS_STATES } from '../../core/states.js';
import { EXIT } from '../exit-codes.js';
import { useColor } from '../format.js';
import { remoteCommand } from '../remote.js';

const HELP = `usage: drover status [PATTERN...] [--json]

Show every process (or those matching PATTERN: name, group:name, group:*, group, all): state, pid,
uptime, restarts, CPU% (since the previous status, or since the process started) and resident memory.
Exit 0 when every matched process is running (or starting/stopping), 3 when one is not. While drover
is shutting down it says so on stderr (and "state": "shuttingDown" with --json).
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
    // drover writes the table (GET /api/status); a drover from before that endpoint answers 404, and the
    // table is written here from the records, by the same function
    const color = useColor(r.ctx);
    const query = [patterns, color ? 'color=1' : null].filter((q) => q !== null).join('&');
    const tablePath = `/api/status${query === '' ? '' : `?${query}`}`;
    const raw = await r.callRaw('GET', tablePath);
    if (!isUnknownEndpoint(raw.status, raw.body)) {
      const { text, not_running: notRunning, state } = r.answerOf(raw, 'GET', tablePath, StatusJson);
      r.out(text);
      // as supervisorctl says "supervisord shutting down"; on stderr, so the table stays the table
      if (state === 'shuttingDown') r.ctx.stderr.write(SHUTTING_DOWN);
      return notRunning === 0 ? EXIT.OK : EXIT.NOT_RUNNING_STATUS;
    }
    const { processes: procs } = await r.call('GET', `/api/processes${patterns === null ? '' : `?${patterns}`}`, ProcessesJson);
    r.out(statusText(procs, color));
    return exitCode(procs);
  },
});

// --- internal ---

const SHUTTING_DOWN = 'drover status: drover is shutting down: it is stopping its processes and starts nothing more\n';

/** 3 (LSB's "not running") when one of the processes is in a state with no process, else 0. */
function exitCode(procs: readonly ProcessJson[]): number {
  return procs.some((p) => NO_PROCESS_STATES.has(p.state)) ? EXIT.NOT_RUNNING_STATUS : EXIT.OK;
}

/** Whether an answer is drover's "no such endpoint" (an unknown name is a 404 too, with E_BAD_NAME). */
function isUnknownEndpoint(status: number, body: Buffer): boolean {
  if (status !== 404) return false;
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    return typeof parsed === 'object' && parsed !== null && (parsed as { code?: unknown }).code === 'E_NOT_FOUND';
  } catch {
    return false; // not drover's JSON: answerOf says what it is
  }
}
