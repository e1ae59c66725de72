// FastCGI programs ([fcgi-program:x]) as a kind of process (src/core/kind.ts): drover creates the program's
// socket and every process of the program gets it as its stdin (fd 0), which is where a FastCGI
// responder (php-cgi, a flup or fcgi-based app) accepts its connections. As supervisor's SocketManager
// does, the socket is reference-counted by process: created when the first process starts, closed when
// the last one has exited, so a stopped program leaves no listener that would queue requests nobody
// answers. Unlike supervisor, closing also removes a unix socket's file (clients then get ENOENT instead
// of ECONNREFUSED; see docs/decisions.md).
import type { ChildProcess } from 'node:child_process';
import type { Config, FcgiSocketSpec, ProcessSpec } from '../config/types.js';
import type { KindContext, LaunchPlan, LaunchRefusal, ProcessKind } from '../core/kind.js';
import type { ProcessEntry } from '../core/table.js';
import type { Logger } from '../logs/logger.js';
import { closeListening, ListenError, openListening, type ListenSpec } from './sockets.js';

/** supervisor listens with socket.SOMAXCONN when socket_backlog is unset (the kernel caps it at net.core.somaxconn). */
const SOMAXCONN = 4096;

/** One open FastCGI socket and the processes holding it. */
interface SharedSocket {
  readonly spec: FcgiSocketSpec;
  readonly fd: number;
  /** processes spawned with it, plus launches prepared and not yet spawned */
  refs: number;
}

export class FastCgiSockets implements ProcessKind {
  readonly name = 'fcgi';
  private ctx: KindContext | null = null;
  /** the open sockets, by URL (the config gives each fcgi-program an address of its own) */
  private readonly open = new Map<string, SharedSocket>();
  /** the socket each live process holds, by pid */
  private readonly held = new Map<number, string>();

  constructor(private readonly logger: Logger) {}

  /**
   * Creates and closes each fcgi-program's socket once, as supervisord does when it builds the group, so a
   * port that is taken or a path that cannot be bound stops drover at start instead of failing each spawn.
   * Returns what went wrong, or null.
   */
  static tryEach(config: Config): string | null {
    const tried = new Set<string>();
    for (const spec of config.processes) {
      const s = spec.fcgiSocket;
      if (s === null || tried.has(s.url)) continue;
      tried.add(s.url);
      try {
        const { fd } = openListening(listenSpec(s));
        closeListening(fd, listenSpec(s));
      } catch (err) {
        if (!(err instanceof ListenError)) throw err;
        return `[fcgi-program:${spec.programName}] cannot create its socket ${s.url}: ${err.message}`;
      }
    }
    return null;
  }

  /** Closes every socket still open (drover is exiting; its processes are gone or being killed). */
  closeAll(): void {
    for (const s of this.open.values()) this.close(s);
    this.open.clear();
    this.held.clear();
  }

  // --- ProcessKind ---

  claims(spec: ProcessSpec): boolean {
    return spec.fcgiSocket !== null;
  }

  bind(ctx: KindContext): void {
    this.ctx = ctx;
  }

  prepare(spec: ProcessSpec): LaunchPlan | LaunchRefusal {
    const s = spec.fcgiSocket as FcgiSocketSpec;
    let shared = this.open.get(s.url);
    if (!shared) {
      try {
        const { fd } = openListening(listenSpec(s));
        shared = { spec: s, fd, refs: 0 };
      } catch (err) {
        if (!(err instanceof ListenError)) throw err;
        return { refused: true, reason: err.code, message: `cannot create its socket ${s.url}: ${err.message}` };
      }
      this.open.set(s.url, shared);
      this.log().info(`${spec.programName}: created socket ${s.url} (fd ${shared.fd})`);
    }
    shared.refs++;
    return { argv: spec.argv, env: {}, ipc: false, stdinFd: shared.fd };
  }

  abandon(spec: ProcessSpec): void {
    if (spec.fcgiSocket) this.release(spec.fcgiSocket.url, spec.programName);
  }

  attach(entry: ProcessEntry, _child: ChildProcess, pid: number): void {
    if (entry.spec.fcgiSocket) this.held.set(pid, entry.spec.fcgiSocket.url);
  }

  handle(): void {
    // this kind queues no events of its own
  }

  detach(key: string, pid: number): void {
    const url = this.held.get(pid);
    if (url === undefined) return;
    this.held.delete(pid);
    this.release(url, key.slice(0, key.indexOf(':')));
  }

  // --- internal ---

  private log(): Logger {
    return this.ctx?.logger ?? this.logger;
  }

  /** One process (or launch) less on the socket; the last one closes it. */
  private release(url: string, program: string): void {
    const shared = this.open.get(url);
    if (!shared) return;
    shared.refs--;
    if (shared.refs > 0) return;
    this.open.delete(url);
    this.close(shared);
    this.log().info(`${program}: closed socket ${url} (its last process has exited)`);
  }

  private close(s: SharedSocket): void {
    try {
      closeListening(s.fd, listenSpec(s.spec));
    } catch (err) {
      // the fd is closed by then; a socket file someone else removed or replaced is not ours to mourn
      this.log().warn(`cannot remove the socket file of ${s.spec.url}: ${(err as Error).message}`);
    }
  }
}

function listenSpec(s: FcgiSocketSpec): ListenSpec {
  return { bind: s.bind, backlog: s.backlog ?? SOMAXCONN, mode: s.mode, owner: s.owner };
}
