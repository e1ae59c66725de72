// [supervisord] minfds and minprocs: the fewest open files and processes drover may have, raised at start
// as supervisord raises them (every program inherits drover's limits). A limit that cannot be raised that
// far fails the start, as it does under supervisord: the programs would fail later, one by one.
import { getRlimit, RLIMIT, setRlimit } from '../os/native.js';
import { NativeError } from '../os/libc.js';
import type { ProcessSpec } from '../config/types.js';

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

/**
 * Descriptors drover keeps for itself beside its programs' log files: Node's own (about 20), the instance
 * lock, its log, the control sockets, the orphan scan's and the status sampler's reads, and room to spare.
 */
const OWN_FDS = 64;

/**
 * Why the open-file limit cannot hold what drover keeps open for its whole life, or null. Every process's
 * log files are opened at start and held, its program stopped or not (docs/logs.md); a limit below that made
 * the start fail deep inside (each log file that did not open, then an internal error at the next open),
 * where supervisord, which opens a program's logs when it spawns it, runs the same config. The soft limit is
 * raised to the hard one first (Node does so at its own start), and past it where drover may, as minfds is.
 */
export function descriptorShortage(processes: readonly ProcessSpec[]): string | null {
  const held = logFilesHeld(processes);
  const need = held + OWN_FDS;
  const { soft, hard } = getRlimit(RLIMIT.NOFILE);
  if (need <= soft) return null;
  try {
    // up to the hard limit as Node raises it; past it as minfds is raised (root, up to fs.nr_open)
    setRlimit(RLIMIT.NOFILE, need <= hard ? { soft: hard, hard } : { soft: need, hard: need });
    return null;
  } catch (err) {
    if (!(err instanceof NativeError)) throw err;
  }
  return `the ${processes.length} processes of this config keep ${held} log files open while drover runs (a stopped program's too), and drover needs about ${OWN_FDS} descriptors of its own and 3 or 4 for each running process: at least ${need} open files, more than this environment allows (${hard}); raise the limit where drover starts (ulimit -n, systemd LimitNOFILE=, docker --ulimit nofile=) and minfds with it, or give programs that seldom run stdout_logfile = NONE`;
}

/** How many distinct log files the processes' logs are: an AUTO log is its own, a named path may be shared. */
function logFilesHeld(processes: readonly ProcessSpec[]): number {
  const named = new Set<string>();
  let auto = 0;
  for (const p of processes) {
    for (const target of p.redirectStderr ? [p.stdoutLogfile] : [p.stdoutLogfile, p.stderrLogfile]) {
      if (target === 'NONE' || target === 'syslog' || target === '/dev/stdout' || target === '/dev/stderr') continue;
      if (target === 'AUTO') auto++;
      else named.add(target);
    }
  }
  return auto + named.size;
}
