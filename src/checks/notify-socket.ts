// `ready = notify`: each such process gets its own NOTIFY_SOCKET, a unix datagram socket in the abstract
// namespace that drover binds (through the native layer: Node cannot receive unix datagrams) and reads
// without blocking on a timer. A READY=1 counts when its sender is the program's process or one in its
// session, as systemd's NotifyAccess=all counts the processes of the service's cgroup; others are logged and
// ignored. The kernel stamps each datagram with its sender's pid (SO_PASSCRED), so no process can pose as
// another; systemd-notify keeps itself alive until its message is read (its BARRIER=1), so its session is
// still known then.
import { closeFd } from '../os/native.js';
import { bindDatagramSocket, receiveDatagram } from '../os/native-net.js';
import { readStat } from '../os/proc.js';
import { randomHex } from '../os/random.js';

/** Longest notify message read; systemd's own limit for one datagram is larger, but READY=1 is tiny. */
const MAX_MESSAGE_BYTES = 4096;
/** Messages taken from one socket per read, so one chatty program cannot hold up the master. */
const MAX_MESSAGES_PER_READ = 64;

/** What a process sent to its NOTIFY_SOCKET, from one read. */
export interface NotifyRead {
  /** pid that sent READY=1, when a process of the program did; null otherwise */
  readonly readyFrom: number | null;
  /** the last STATUS= it sent, or null */
  readonly status: string | null;
  /** messages ignored, with why (for drover's log) */
  readonly ignored: readonly string[];
}

export class NotifySocket {
  /** "@drover-notify-…": what the program finds in NOTIFY_SOCKET */
  readonly address: string;
  /** the bound socket; -1 once closed */
  private fd: number;

  constructor() {
    // abstract: nothing on disk to clean up, and no directory the program's user must be able to reach
    this.address = `@drover-notify-${process.pid}-${randomHex(8)}`;
    this.fd = bindDatagramSocket(this.address);
  }

  /** Throws away what is queued (left by an earlier process of the same program). */
  discard(): void {
    for (let i = 0; i < 1024 && this.fd >= 0 && receiveDatagram(this.fd, 16) !== null; i++);
  }

  /** Reads what is queued; `mainPid` is the program's current process (null when it has none). */
  read(mainPid: number | null): NotifyRead {
    let readyFrom: number | null = null;
    let status: string | null = null;
    const ignored: string[] = [];
    for (let i = 0; i < MAX_MESSAGES_PER_READ && this.fd >= 0; i++) {
      const d = receiveDatagram(this.fd, MAX_MESSAGE_BYTES);
      if (d === null) break;
      const fields = parseFields(d.data.toString('utf8'));
      if (!fields.has('READY') && !fields.has('STATUS')) continue; // BARRIER=1, WATCHDOG=1, …: nothing drover acts on
      const refusal = senderRefusal(d.pid, mainPid);
      if (refusal !== null) {
        ignored.push(`${[...fields.keys()].join(', ')} ${refusal}`);
        continue;
      }
      if (fields.get('READY') === '1') readyFrom ??= d.pid;
      status = fields.get('STATUS') ?? status;
    }
    return { readyFrom, status, ignored };
  }

  close(): void {
    if (this.fd < 0) return;
    closeFd(this.fd);
    this.fd = -1;
  }
}

// --- internal ---

/** KEY=VALUE lines (sd_notify(3)); a line without "=" is skipped, as systemd skips it. */
function parseFields(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return out;
}

/** Why a message from `pid` does not speak for the program whose process is `mainPid`; null when it does. */
function senderRefusal(pid: number | null, mainPid: number | null): string | null {
  if (mainPid === null) return 'arrived while the program has no process';
  if (pid === null) return 'came without the sender\'s credentials';
  if (pid === mainPid) return null;
  const sender = readStat(pid);
  const main = readStat(mainPid);
  if (sender === null) return `from pid ${pid}, which had exited before drover read it (send from the program, or use systemd-notify without --no-block)`;
  if (main !== null && sender.session === main.session) return null;
  return `from pid ${pid}, which is not a process of the program (session ${sender.session}, the program's is ${main?.session ?? '?'})`;
}
