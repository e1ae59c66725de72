// [supervisord] minfds and minprocs: the fewest open files and processes drover may have, raised at start
// as supervisord raises them (every program inherits drover's limits). A limit that cannot be raised that
// far fails the start, as it does under supervisord: the programs would fail later, one by one.
import { getRlimit, RLIMIT, setRlimit } from '../os/native.js';
import { NativeError } from '../os/libc.js';

/** Raises RLIMIT_NOFILE to `minfds` and RLIMIT_NPROC to `minprocs` where they are lower; null, or why not. */
export function raiseToMinimums(sv: { readonly minfds: number; readonly minprocs: number }): string | null {
  const wanted = [
    { key: 'minfds', resource: RLIMIT.NOFILE, min: sv.minfds, what: 'open files', where: 'ulimit -n, systemd LimitNOFILE=, docker --ulimit nofile=' },
    { key: 'minprocs', resource: RLIMIT.NPROC, min: sv.minprocs, what: 'processes', where: 'ulimit -u, systemd LimitNPROC=, docker --ulimit nproc=' },
  ];
  for (const w of wanted) {
    const { soft, hard } = getRlimit(w.resource);
    if (soft >= w.min) continue;
    try {
      // the soft limit up to the hard one needs no privilege; past it, root's CAP_SYS_RESOURCE (and, for
      // open files, no more than fs.nr_open)
      setRlimit(w.resource, { soft: w.min, hard: Math.max(hard, w.min) });
    } catch (err) {
      if (!(err instanceof NativeError)) throw err;
      return `[supervisord] ${w.key} = ${w.min}: this environment allows at most ${hard} ${w.what}, and raising that failed (${err.code}); raise the limit where drover starts (${w.where}) or lower ${w.key}`;
    }
  }
  return null;
}
