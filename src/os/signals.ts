// Signal names and numbers on this platform (Linux), from Node's own table.
import { constants } from 'node:os';

// Node's table has no real-time signals; glibc's SIGRTMIN is 34 (32 and 33 are taken by its threads) and
// SIGRTMAX 64 on Linux, and process.kill takes the numbers. supervisor accepts them by name, so must we.
// SIGCLD, an old name of SIGCHLD that Python's signal module (and so supervisor) knows, Node's table does not.
const BY_NAME: Readonly<Record<string, number>> = { ...(constants.signals as Readonly<Record<string, number>>), SIGRTMIN: 34, SIGRTMAX: 64, SIGCLD: constants.signals.SIGCHLD };
const BY_NUMBER = new Map<number, string>();
for (const [name, num] of Object.entries(BY_NAME)) {
  // Several names share a number (SIGIOT/SIGABRT, SIGPOLL/SIGIO): keep the first, the conventional one.
  if (!BY_NUMBER.has(num)) BY_NUMBER.set(num, name.slice(3));
}

/** The number of a signal given as "TERM", "SIGTERM" or "15" (or "+15", as Python's int() reads it); null when unknown. */
export function signalNumber(nameOrNumber: string): number | null {
  const s = nameOrNumber.trim().toUpperCase();
  if (/^\+?\d+$/.test(s)) {
    const n = Number(s);
    // the real-time ones between the ends have no name in Node's table: RTMIN+1 and 35 are one signal
    return BY_NUMBER.has(n) || (n >= RTMIN && n <= RTMAX) ? n : null;
  }
  const full = s.startsWith('SIG') ? s : `SIG${s}`;
  const rt = /^SIGRT(MIN\+|MAX-)(\d{1,2})$/.exec(full);
  if (rt !== null) {
    const n = rt[1] === 'MIN+' ? RTMIN + Number(rt[2]) : RTMAX - Number(rt[2]);
    return n >= RTMIN && n <= RTMAX ? n : null;
  }
  return BY_NAME[full] ?? null;
}

/** SIGRTMIN and SIGRTMAX as glibc has them on Linux */
const RTMIN = 34;
const RTMAX = 64;

/**
 * What `drover signal`, the JSON API and XML-RPC's signalProcess deliver: a signal as signalNumber takes it,
 * or 0 (kill(pid, 0): nothing is sent, the call checks that the process is there), which supervisord takes
 * too. Config keys such as stopsignal use signalNumber, where 0 would stop nothing.
 */
export function deliverableSignal(nameOrNumber: string): number | null {
  return /^\s*\+?0+\s*$/.test(nameOrNumber) ? 0 : signalNumber(nameOrNumber);
}

/**
 * The name without SIG ("TERM") of a signal number, or null. A real-time signal between the two ends is
 * named as kill -l names it: RTMIN+1 … RTMIN+15, RTMAX-14 … RTMAX-1.
 */
export function signalName(num: number): string | null {
  const named = BY_NUMBER.get(num);
  if (named !== undefined || !Number.isInteger(num) || num <= RTMIN || num >= RTMAX) return named ?? null;
  return num - RTMIN <= (RTMAX - RTMIN) / 2 ? `RTMIN+${num - RTMIN}` : `RTMAX-${RTMAX - num}`;
}

/** All signal names without SIG, for messages. */
export function allSignalNames(): string[] {
  return [...BY_NUMBER.values()];
}

