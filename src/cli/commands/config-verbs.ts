// Applying config changes to a running drover: `reload` (re-read and apply what changed, restarting only
// processes whose own config changed), supervisor's two-step `reread` / `update`, and `avail`, `add`,
// `remove`; `reload --logs` reopens the log files.
import { table } from '../../control/status-text.js';
import { AvailJson, OkJson, ReloadJson, RereadJson, ResultsJson } from '../../control/wire.js';
import { UsageError } from '../../errors.js';
import { EXIT } from '../exit-codes.js';
import { formatElapsed } from '../format.js';
import { Progress } from '../progress.js';
import { remoteCommand, type Remote } from '../remote.js';
import { printOutcomes } from './control.js';

/** How long `reload` follows restarted processes before it stops waiting for them. */
const RELOAD_SETTLE_MS = 60_000;

export const reload = remoteCommand({
  name: 'reload',
  help: `usage: drover reload [PATTERN...] [--no-wait] [--json]
       drover reload --logs

Re-read the config file and apply what changed (to the groups PATTERN names: group, group:* or
group:name all mean the group; default every group). Only processes whose own config changed are
restarted; added ones start (if autostart), removed ones stop. Same as SIGHUP to drover.
Waits until restarted processes are running (or failed) unless --no-wait.

options:
      --logs                 reopen every log file instead (logrotate's postrotate; same as SIGUSR1)
      --no-wait              do not wait for restarted processes
`,
  options: { logs: { type: 'boolean' }, 'no-wait': { type: 'boolean' } },
  run: async (r) => {
    if (r.values['logs'] === true) {
      if (r.positionals.length > 0) throw new UsageError('reload --logs takes no PATTERN');
      await r.call('POST', '/api/logs/reopen', OkJson, {});
      if (r.json) r.printJson({ ok: true });
      else r.out('log files reopened\n');
      return EXIT.OK;
    }
    // "all", as in supervisorctl, is every group
    const groups = r.positionals.length > 0 && !r.positionals.includes('all') ? r.positionals.map((p) => p.split(':')[0] as string) : null;
    const wait = r.values['no-wait'] !== true;
    const progress = wait ? await Progress.open(r, 'reloading', { type: 'busy' }) : null;
    let body: ReloadJson;
    try {
      body = await r.callResults('POST', '/api/update', ReloadJson, groups ? { groups } : {});
      // a reload cut short by a shutdown starts nothing more: there is nothing to wait for
      if (progress && !cutShort(body)) await progress.waitUntil(() => progress.busy().length === 0, RELOAD_SETTLE_MS);
    } catch (err) {
      progress?.finish(null);
      throw err;
    }
    const outcomes = body.results;
    const failedStarts = progress ? progress.failed() : [];
    const ok = outcomes.every((o) => o.ok) && failedStarts.length === 0;
    if (r.json) {
      progress?.finish(null);
      r.printJson({ ...body, ok, failed: failedStarts });
      return ok ? EXIT.OK : EXIT.FAILURE;
    }
    // worker pools are rolled whether their config changed or not (as gunicorn's HUP): the summary says so,
    // and names a pool whose new workers did not get ready (its old ones serve on; its result is an ERROR)
    const kept = body.kept ?? [];
    const rolled = `${body.rolled.length > 0 ? `; ${body.rolled.length} pool(s) rolled: ${body.rolled.join(', ')}` : ''}${kept.length > 0 ? `; kept the old workers of ${kept.join(', ')}: the new ones did not get ready` : ''}`;
    // a pool whose keys changed (spare_workers, max_requests, worker =) is not in the processes' diff
    const pools = body.changed_pools ?? [];
    const poolsChanged = pools.length > 0 ? `${pools.length} pool${pools.length > 1 ? 's' : ''} changed: ${pools.join(', ')}` : '';
    const processChanges = !outcomes.every((o) => o.code === 'E_KEPT_OLD_WORKERS');
    const summary =
      !processChanges && poolsChanged !== ''
        ? `reload: ${poolsChanged}${rolled}`
        : !processChanges
        ? `reload: no changes${rolled ? ' to the config' : (body.settings?.length ?? 0) > 0 ? ' to the programs' : ''}${rolled}`
        : `reload: ${[
            `${body.processes.changed.length} changed`,
            `${body.processes.added.length} added`,
            `${body.processes.removed.length} removed`,
            ...(poolsChanged !== '' ? [poolsChanged] : []),
          ].join(', ')}${rolled}${progress ? `; ${progress.describeCounts()} in ${formatElapsed(progress.elapsedMs())}` : ''}${cutShortNote(body)}`;
    progress?.finish(null);
    printWarnings(r, body);
    for (const line of body.settings ?? []) r.out(`${line}\n`);
    for (const o of outcomes) {
      r.out(o.ok ? `${o.key}: ${o.message ?? 'done'}\n` : `${o.key}: ERROR ${o.code ?? ''} (${o.message ?? 'failed'})\n`);
    }
    for (const k of failedStarts) r.out(`${k}: ERROR (${progress?.states.get(k) ?? '?'}: ${progress?.reasons.get(k) ?? ''})\n`);
    r.out(`${summary}\n`);
    return ok ? EXIT.OK : EXIT.FAILURE;
  },
});

/** The config's warnings, on stderr as `drover check` prints them. */
function printWarnings(r: Remote, body: { readonly warnings?: readonly string[] }): void {
  for (const w of body.warnings ?? []) r.ctx.stderr.write(`${w}\n`);
}

/**
 * Whether a shutdown cut the reload short (or kept it from beginning): an outcome says E_SHUTTING_DOWN, or
 * E_REEXEC when the master stopped because a new one (USR2) took over.
 */
function cutShort(body: ReloadJson): boolean {
  return body.results.some((o) => o.code === 'E_SHUTTING_DOWN' || o.code === 'E_REEXEC');
}

/** The summary's note on why the reload was cut short; empty when it was not. */
function cutShortNote(body: ReloadJson): string {
  if (body.results.some((o) => o.code === 'E_REEXEC')) return '; cut short by a re-exec (USR2): the new master read the config file when it started';
  return cutShort(body) ? '; cut short: drover is shutting down' : '';
}

export const reread = remoteCommand({
  name: 'reread',
  help: `usage: drover reread [--json]

Re-read the config file and report what differs from what runs (supervisorctl reread); nothing is
applied until \`drover update\` (or \`add\` / \`remove\`).
`,
  run: async (r) => {
    if (r.positionals.length > 0) throw new UsageError('reread takes no arguments');
    const d = await r.call('POST', '/api/reread', RereadJson, {});
    if (r.json) {
      r.printJson(d);
      return EXIT.OK;
    }
    printWarnings(r, d);
    const lines = [
      ...d.added.map((g) => `${g}: available`),
      ...d.changed.map((g) => `${g}: changed`),
      ...d.removed.map((g) => `${g}: disappeared`),
    ];
    r.out(lines.length > 0 ? `${lines.join('\n')}\n` : 'No config updates to processes\n');
    // what a reload would apply outside the programs, and what waits for drover's next start
    for (const line of d.settings ?? []) r.out(`${line.replace(/: applied( \(|$)/, ': a reload applies it$1')}\n`);
    return EXIT.OK;
  },
});

export const update = remoteCommand({
  name: 'update',
  help: `usage: drover update [GROUP...] [--json]

Re-read the config file and apply it to GROUP (default: every group): groups that appeared are added,
groups that disappeared are stopped and removed, and in changed groups only the processes whose own
config changed are restarted (supervisor restarts the whole group).
`,
  run: async (r) => {
    const groups = r.positionals.length > 0 && !r.positionals.includes('all') ? [...r.positionals] : null;
    const d = await r.callResults('POST', '/api/update', ReloadJson, groups ? { groups } : {});
    const outcomes = d.results;
    const ok = outcomes.every((o) => o.ok);
    if (r.json) {
      r.printJson(d);
      return ok ? EXIT.OK : EXIT.FAILURE;
    }
    printWarnings(r, d);
    const inScope = (g: string): boolean => groups === null || groups.includes(g);
    for (const g of d.removed.filter(inScope)) r.out(`${g}: stopped\n${g}: removed process group\n`);
    for (const g of d.changed.filter(inScope)) {
      // a process given only a new depends_on or essential was not restarted: say what --json and reload say
      // ("changed (…: applied without a restart)"), not "updated", which reads as a restart
      const mine = outcomes.filter((o) => o.key.startsWith(`${g}:`));
      const unrestarted = mine.filter((o) => o.ok && o.message?.startsWith('changed (') === true);
      if (unrestarted.length === 0 || unrestarted.length < mine.length) r.out(`${g}: updated process group\n`);
      for (const o of unrestarted) r.out(`${o.key}: ${o.message ?? ''}\n`);
    }
    for (const g of d.added.filter(inScope)) r.out(`${g}: added process group\n`);
    // a worker pool whose keys changed rolled onto them; the group diff leaves pools out
    for (const p of (d.changed_pools ?? []).filter((k) => !(d.kept ?? []).includes(k))) r.out(`${p}: updated worker pool\n`);
    for (const o of outcomes.filter((x) => !x.ok)) r.out(`${o.key}: ERROR ${o.code ?? ''} (${o.message ?? 'failed'})\n`);
    return ok ? EXIT.OK : EXIT.FAILURE;
  },
});

export const avail = remoteCommand({
  name: 'avail',
  help: `usage: drover avail [--json]

List the groups of the config as last read (at start, or by the last reread that loaded: one that failed
leaves it): "in use" when active, "avail" when they could be added.
`,
  run: async (r) => {
    if (r.positionals.length > 0) throw new UsageError('avail takes no arguments');
    const body = await r.call('GET', '/api/avail', AvailJson);
    if (r.json) {
      r.printJson(body);
      return EXIT.OK;
    }
    r.out(table(body.groups.map((g) => [g.name, g.active ? 'in use' : 'avail', String(g.priority)])));
    return EXIT.OK;
  },
});

function groupCommand(verb: 'add' | 'remove', done: string, help: string) {
  return remoteCommand({
    name: verb,
    help,
    run: async (r: Remote) => {
      if (r.positionals.length === 0) throw new UsageError(`${verb} needs at least one GROUP`);
      const body = await r.callResults('POST', `/api/${verb}`, ResultsJson, { groups: r.positionals });
      // remove's warning (other programs depend on the group) goes with its line
      return printOutcomes(r, body, done, verb, (o) => (o.message !== undefined && o.message !== '' ? `${done} (${o.message})` : done));
    },
  });
}

export const add = groupCommand(
  'add',
  'added process group',
  `usage: drover add GROUP... [--json]

Activate groups of the config file that are not active yet (see \`drover avail\`), from the config read
by the last \`reread\` (or read now); their autostart processes start.
`,
);

export const remove = groupCommand(
  'remove',
  'removed process group',
  `usage: drover remove GROUP... [--json]

Deactivate groups whose processes are all stopped (stop them first). A group other programs depend on
(depends_on) is removed with a warning naming them: their next start fails until it is added again.
`,
);
