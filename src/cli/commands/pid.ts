// `drover pid [NAME...]`: drover's own pid, or the pid of each named process.
import { InfoJson, ProcessesJson } from '../../control/wire.js';
import { EXIT } from '../exit-codes.js';
import { remoteCommand } from '../remote.js';

export const pid = remoteCommand({
  name: 'pid',
  help: `usage: drover pid [PATTERN...] [--json]

Without PATTERN: drover's own pid. With PATTERN (name, group:name, group:*, all): the pid of each matched
process — just the number for one process, "name pid" lines for several. A process without a pid (not
running) prints "-" (never 0, which \`kill\` would read as the caller's own process group) and makes the
exit code 1.
`,
  run: async (r) => {
    if (r.positionals.length === 0) {
      const info = await r.call('GET', '/api/info', InfoJson);
      if (r.json) r.printJson({ ok: true, pid: info.pid });
      else r.out(`${info.pid}\n`);
      return EXIT.OK;
    }
    const { processes: procs } = await r.call('GET', `/api/processes?patterns=${encodeURIComponent(r.positionals.join(','))}`, ProcessesJson);
    const missing = procs.filter((p) => p.pid === null);
    if (r.json) {
      r.printJson({ ok: missing.length === 0, processes: procs.map((p) => ({ name: p.name, state: p.state, pid: p.pid })) });
    } else if (procs.length === 1 && r.positionals.length === 1 && !r.positionals[0]?.includes('*') && r.positionals[0] !== 'all') {
      r.out(`${procs[0]?.pid ?? '-'}\n`);
    } else {
      for (const p of procs) r.out(`${p.name} ${p.pid ?? '-'}\n`);
    }
    for (const p of missing) r.err(`${p.name} is ${p.state}: no pid`);
    return missing.length === 0 ? EXIT.OK : EXIT.FAILURE;
  },
});
