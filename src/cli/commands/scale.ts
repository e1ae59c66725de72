// `drover scale PROGRAM N`: run N processes of a program. New processes are built from the program's
// section in the config file with numprocs = N; scaling down stops and removes the highest-numbered.
import { MAX_SCALE, ResultsJson } from '../../control/wire.js';
import { UsageError } from '../../errors.js';
import { printOutcomes, withProgress } from './control.js';
import { remoteCommand } from '../remote.js';

const HELP = `usage: drover scale PROGRAM N [--no-wait] [--json]

Change the number of processes of PROGRAM to N (1 to ${MAX_SCALE}) while drover runs. New processes come from
the program's section in the config file as it is now, with numprocs = N (so process_name needs
%(process_num)); scaling down stops the highest-numbered processes and removes them. Processes that stay
are not restarted. This is a runtime change: \`drover reload\` or \`update\` go back to the file's numprocs.

options:
      --no-wait              return once new processes are spawned (removed ones are always waited for)
`;

export const scale = remoteCommand({
  name: 'scale',
  help: HELP,
  options: { 'no-wait': { type: 'boolean' } },
  run: async (r) => {
    const [program, n, ...extra] = r.positionals;
    if (program === undefined || n === undefined || extra.length > 0) throw new UsageError('scale needs PROGRAM and N');
    // checked here, in the CLI's words: the API's refusal would name its field ("count"), not N
    if (!/^\d+$/.test(n) || Number(n) < 1 || Number(n) > MAX_SCALE) throw new UsageError(`N must be an integer from 1 to ${MAX_SCALE}, got ${JSON.stringify(n)}`);
    const wait = r.values['no-wait'] !== true;
    const body = await withProgress(r, wait, `scaling ${program} to ${n}`, () =>
      r.callResults('POST', '/api/scale', ResultsJson, { program, count: Number(n), wait }),
    );
    if (!r.json && body.results.length === 0) r.out(`${program}: already ${n} process${n === '1' ? '' : 'es'}\n`);
    // "added" / "removed" are the per-process messages of a successful scale
    return printOutcomes(r, body, 'done', 'scale', (o) => o.message ?? 'done');
  },
});
