// `drover start|stop|restart PATTERN...` and `drover signal SIG PATTERN...`. Patterns: name, group:name,
// group:*, group, all. start/stop/restart wait for the outcome unless --no-wait; on a terminal they show
// live progress while waiting.
import { ResultsJson, type OutcomeJson } from '../../control/wire.js';
import { allSignalNames, deliverableSignal, signalName } from '../../os/signals.js';
import { UsageError } from '../../errors.js';
import { EXIT } from '../exit-codes.js';
import { isCapableTerminal, plural, shownKey } from '../format.js';
import { Progress } from '../progress.js';
import { remoteCommand, type Remote } from '../remote.js';

const PATTERNS = `PATTERN: name, group:name, group:* or group (every process of it), all`;

function verbCommand(verb: 'start' | 'stop' | 'restart', done: string, summary: string) {
  return remoteCommand({
    name: verb,
    help: `usage: drover ${verb} PATTERN... [--no-wait] [--json]

${summary}
${PATTERNS}. Waits until each process is ${verb === 'stop' ? 'stopped' : 'running (or failed)'} unless --no-wait.

options:
      --no-wait              return once the command is accepted
`,
    options: { 'no-wait': { type: 'boolean' } },
    run: async (r) => {
      if (r.positionals.length === 0) throw new UsageError(`${verb} needs at least one PATTERN (or "all")`);
      const wait = r.values['no-wait'] !== true;
      const body = await withProgress(r, wait, verb === 'stop' ? 'stopping' : `${verb}ing`, () =>
        r.callResults('POST', `/api/${verb}`, ResultsJson, { patterns: r.positionals, wait }),
      );
      // without waiting, what was accepted: "stopping", or what drover said of it ("stops once …")
      const accepted = verb === 'stop' ? 'stopping' : 'starting';
      return printOutcomes(r, body, done, verb, wait ? undefined : (o) => o.message ?? accepted);
    },
  });
}

export const start = verbCommand('start', 'started', 'Start processes.');
export const stop = verbCommand('stop', 'stopped', 'Stop processes (their stopsignal, then SIGKILL after stopwaitsecs).');
export const restart = verbCommand('restart', 'restarted', 'Stop processes (waiting), then start them again.');

export const signal = remoteCommand({
  name: 'signal',
  help: `usage: drover signal SIG PATTERN... [--json]

Deliver a signal (name such as HUP or SIGHUP, or a number) to running processes; their state does not
change. ${PATTERNS}.
`,
  run: async (r) => {
    const [sig, ...pats] = r.positionals;
    if (sig === undefined || pats.length === 0) throw new UsageError('signal needs a signal and at least one PATTERN');
    const num = deliverableSignal(sig);
    if (num === null) {
      throw new UsageError(`unknown signal ${JSON.stringify(sig)}; expected a name such as ${allSignalNames().slice(0, 15).join(', ')}, … or a number`);
    }
    const body = await r.callResults('POST', '/api/signal', ResultsJson, { patterns: pats, signal: sig });
    // by name, however it was given: `signal 19 web` says "SIGSTOP (19) sent"
    const shown = /^\+?\d+$/.test(sig.trim()) ? `SIG${signalName(num) ?? ''} (${num})` : `SIG${sig.trim().toUpperCase().replace(/^SIG/, '')}`;
    return printOutcomes(r, body, num === 0 ? 'signal 0 sent (it is there)' : `${shown} sent`, 'signal');
  },
});

/** Prints per-process outcomes (or the JSON) and returns the exit code: 1 if any failed. */
export function printOutcomes(
  r: Remote,
  body: ResultsJson,
  done: string,
  verb: string,
  doneText: (o: OutcomeJson) => string = () => done,
): number {
  const outcomes = body.results;
  // start of a running process, stop of a stopped one and add of an active group reach what was asked:
  // not failures (supervisorctl exits 0 for each too)
  const benign = (o: OutcomeJson): string | null => {
    // restart: another start came between its stop and its start; the process runs, as asked
    if ((verb === 'start' || verb === 'restart') && o.code === 'E_ALREADY_STARTED') return 'already started';
    if (verb === 'stop' && o.code === 'E_NOT_RUNNING') return 'not running';
    if (verb === 'add' && o.code === 'E_ALREADY_ADDED') return 'already active';
    return null;
  };
  const failed = outcomes.filter((o) => !o.ok && benign(o) === null);
  if (r.json) {
    r.printJson({ ok: failed.length === 0, results: outcomes });
  } else {
    for (const o of outcomes) {
      const name = shownKey(o.key);
      if (o.ok) r.out(`${name}: ${doneText(o)}\n`);
      else r.out(`${name}: ${benign(o) ?? `ERROR ${o.code ?? ''} (${o.message ?? 'failed'})`}\n`);
    }
  }
  if (failed.length > 0) {
    const groups = verb === 'add' || verb === 'remove';
    if (!r.json) r.err(`${groups ? plural(failed.length, 'group') : plural(failed.length, 'process', 'processes')} failed`);
    return EXIT.FAILURE;
  }
  return EXIT.OK;
}

/**
 * Runs `work` while showing progress on a terminal (when `wait`, not --json). The line is cleared
 * before the caller prints results.
 */
export async function withProgress<T>(r: Remote, wait: boolean, label: string, work: () => Promise<T>): Promise<T> {
  // the line is rewritten in place: without a terminal that takes that (TERM=dumb), the results alone are shown
  if (!wait || r.json || !isCapableTerminal(r.ctx)) return work();
  const progress = await Progress.open(r, label, { type: 'busy' });
  try {
    return await work();
  } finally {
    progress.finish(null);
  }
}
