// `drover queue push|stats|dead|retry-dead`: producers and inspection of the shared task queues from
// outside the workers, through the JSON API (/api/queue/…; docs/shared.md).
import { DeadLettersJson, PushedJson, QueuesJson, RetriedJson } from '../../control/wire.js';
import { UsageError } from '../../errors.js';
import { taskShapeProblem } from '../../primitives/queue-core.js';
import { EXIT } from '../exit-codes.js';
import { CommandFailed, remoteCommand } from '../remote.js';

const HELP = `usage: drover queue push NAME JSON [--priority N] [--delay MS] [--max-attempts N]
       drover queue stats [NAME]
       drover queue dead NAME [--limit N]
       drover queue retry-dead NAME

Work with the task queues the master holds for its workers (ctx.queue(NAME) in a job worker).
  push        add one task; JSON is its data (any JSON value, at most 64 levels deep and 1 MiB);
              prints the task id
  stats       ready, delayed, leased, dead and waiting counts and totals, per queue; and a line
              when the journal cannot be written (the queues are then in memory only)
  dead        the dead-letter list: tasks whose attempts ran out, with the reason and last error
  retry-dead  move the dead-letter list back to the queue with fresh attempts

options:
      --priority N           higher is taken first (default 0)
      --delay MS             not taken before MS milliseconds from now
      --max-attempts N       deliveries before the task is dead-lettered (default 5)
      --limit N              dead: at most N tasks (default 100)
`;

export const queue = remoteCommand({
  name: 'queue',
  help: HELP,
  options: {
    priority: { type: 'string' },
    delay: { type: 'string' },
    'max-attempts': { type: 'string' },
    limit: { type: 'string' },
  },
  run: async (r) => {
    const [verb, name, ...rest] = r.positionals;
    // checked here, in the option's own words: the API would name its field (delay_ms), not --delay
    const int = (opt: string, min: number): number | undefined => {
      const v = r.values[opt];
      if (v === undefined) return undefined;
      if (typeof v !== 'string' || !/^-?\d+$/.test(v) || !Number.isSafeInteger(Number(v)) || Number(v) < min) {
        throw new UsageError(`--${opt} must be an integer${min > -Number.MAX_SAFE_INTEGER ? ` ≥ ${min}` : ''}, got ${JSON.stringify(v)}`);
      }
      return Number(v);
    };
    switch (verb) {
      case 'push': {
        const [text, ...extra] = rest;
        if (name === undefined || text === undefined || extra.length > 0) throw new UsageError('queue push needs NAME and JSON');
        let task: unknown;
        try {
          task = JSON.parse(text);
        } catch {
          throw new UsageError(`the task is not valid JSON: ${text}`);
        }
        // before sending: a task too deep would overflow this process's own JSON.stringify
        const problem = taskShapeProblem(task);
        if (problem !== null) throw new CommandFailed(`queue ${JSON.stringify(name)}: ${problem}`, EXIT.USAGE, 'E_BAD_ARGUMENTS');
        const body: Record<string, unknown> = { queue: name, task };
        for (const [opt, key, min] of [['priority', 'priority', -Number.MAX_SAFE_INTEGER], ['delay', 'delay_ms', 0], ['max-attempts', 'max_attempts', 1]] as const) {
          const v = int(opt, min);
          if (v !== undefined) body[key] = v;
        }
        const out = await r.call('POST', '/api/queue/push', PushedJson, body);
        if (r.json) r.printJson(out);
        else r.out(`${out.id}\n`);
        return 0;
      }
      case 'stats': {
        if (rest.length > 0) throw new UsageError('queue stats takes at most one NAME');
        const out = await r.call('GET', `/api/queue/stats${name === undefined ? '' : `?queue=${encodeURIComponent(name)}`}`, QueuesJson);
        // a journal that cannot be written is a failure a script must see: the stats are printed, and exit 1
        const code = out.journal?.degraded === true ? EXIT.FAILURE : EXIT.OK;
        if (r.json) {
          r.printJson(out);
          return code;
        }
        const cols = ['name', 'ready', 'delayed', 'leased', 'dead', 'waiting', 'pushed', 'acked', 'nacked', 'lost'] as const;
        const rows = out.queues.map((q) => cols.map((c) => String(q[c])));
        const widths = cols.map((c, i) => Math.max(c.length, ...rows.map((row) => (row[i] ?? '').length)));
        for (const row of [[...cols], ...rows]) r.out(`${row.map((v, i) => (i === 0 ? v.padEnd(widths[i] ?? 0) : v.padStart(widths[i] ?? 0))).join('  ')}\n`);
        // the table alone would look healthy while nothing of it is durable
        const j = out.journal;
        if (j?.degraded) {
          r.out(`journal ${j.file}: cannot be written since ${j.since ?? '?'} (${j.error ?? 'unknown error'}): queues and state are in memory only, not durable; drover retries\n`);
        }
        return code;
      }
      case 'dead': {
        if (name === undefined || rest.length > 0) throw new UsageError('queue dead needs NAME');
        const limit = int('limit', 0) ?? 100;
        const out = await r.call('GET', `/api/queue/dead?queue=${encodeURIComponent(name)}&limit=${limit}`, DeadLettersJson);
        if (r.json) r.printJson(out);
        else {
          for (const t of out.tasks) {
            r.out(`${t.id}  ${t.dead_at}  ${t.reason} after ${t.attempts}  ${JSON.stringify(t.task)}${t.error ? `  (${t.error})` : ''}\n`);
          }
        }
        return 0;
      }
      case 'retry-dead': {
        if (name === undefined || rest.length > 0) throw new UsageError('queue retry-dead needs NAME');
        const out = await r.call('POST', '/api/queue/retry-dead', RetriedJson, { queue: name });
        if (r.json) r.printJson(out);
        else r.out(`${out.moved} task(s) back in ${name}\n`);
        return 0;
      }
      default:
        throw new UsageError(verb === undefined ? 'queue needs push, stats, dead or retry-dead' : `unknown queue command "${verb}"`);
    }
  },
});
