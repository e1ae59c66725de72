// Program output to syslog (`stdout_syslog = true`, `stderr_syslog = true`, and the deprecated
// `stdout_logfile = syslog`): each line is one datagram to /dev/log, `<14>` (facility user, level info),
// the local time as RFC 3164 writes it, `drover[PID]:`, then the process name and the line, as supervisord
// sends `NAME LINE` through the C library's syslog(3). The socket never blocks: a syslog daemon that is
// not there (a container without /dev/log) or that cannot keep up loses lines, which are counted and
// reported at most once a minute in drover's own log, never silently.
import { steadyNowMs } from '../os/clock.js';
import { closeFd } from '../os/native.js';
import { datagramSocket, sendDatagramFrom } from '../os/native-net.js';
import { NativeError } from '../os/libc.js';

/** Where syslog(3) sends (glibc and musl alike). */
export const SYSLOG_SOCKET = '/dev/log';
/** facility user (1 << 3) | level info (6) */
const PRIORITY = 14;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const NL = 0x0a;
/** between two reports of lost lines */
const REPORT_EVERY_MS = 60_000;

export class Syslog {
  /** the sending socket, made at the first line; null before, and after close() */
  private fd: number | null = null;
  private lost = 0;
  private lastReportMs = 0;

  constructor(private readonly opts: { readonly onError: (message: string) => void; readonly path?: string; readonly now?: () => number }) {}

  /** Sends each complete line of `lines` (newline-terminated) as `NAME LINE`, or as `LINE` for a null name (drover's own log). */
  send(name: string | null, lines: Buffer): void {
    const now = this.opts.now?.() ?? Date.now();
    // one head for every line of the read: this runs for each read of a program's pipe
    const head = Buffer.from(`<${PRIORITY}>${stamp(new Date(now))} drover[${process.pid}]: ${name === null ? '' : `${name} `}`);
    let from = 0;
    while (from < lines.length) {
      let end = lines.indexOf(NL, from);
      if (end < 0) end = lines.length;
      this.datagram(Buffer.concat([head, lines.subarray(from, end)]), steadyNowMs());
      from = end + 1;
    }
  }

  close(): void {
    if (this.fd !== null) closeFd(this.fd);
    this.fd = null;
  }

  /** `now`: steadyNowMs(), for the pace of the reports */
  private datagram(data: Buffer, now: number): void {
    const path = this.opts.path ?? SYSLOG_SOCKET;
    try {
      this.fd ??= datagramSocket();
      sendDatagramFrom(this.fd, path, data);
    } catch (err) {
      if (!(err instanceof NativeError)) throw err;
      this.lost += 1;
      if (now - this.lastReportMs < REPORT_EVERY_MS && this.lastReportMs !== 0) return;
      this.lastReportMs = now;
      this.opts.onError(`syslog: cannot send to ${path} (${err.code}); ${this.lost} line(s) lost so far`);
    }
  }
}

/** RFC 3164's timestamp, local time: `Dec  5 02:46:06`. */
function stamp(d: Date): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}
