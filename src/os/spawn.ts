// The only place that creates processes and sends them signals.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants as fsConstants, existsSync, openSync, readSync, statSync } from 'node:fs';
import { Socket } from 'node:net';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { recordSpawned } from './children.js';
import { guardChannel } from './ipc-guard.js';
import { nativeAvailable } from './libc.js';
import { descriptorsExhausted, readStat } from './proc.js';
import { closeOutputPipes, outputPipe, PipeReader, type OutputPipe, type OutputStream } from './pipe-reader.js';
import { deliverableSignal } from './signals.js';
import { ChildStdin } from './stdin-pipe.js';
import type { UserInfo } from './users.js';

/** how a child ended, a real-time signal included (exit-peek.ts): the launcher's one import from src/os for it */
import { watchExit } from './exit-peek.js';
export { childExit } from './exit-peek.js';

export interface SpawnRequest {
  /** argv[0] as written; searched on PATH from `env` when it has no slash */
  readonly argv: readonly string[];
  /** the complete environment of the child */
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string | null;
  readonly umask: number | null;
  /** drop to this user (only when running as root) */
  readonly user: UserInfo | null;
  /** ask the kernel to send SIGTERM to the child when drover dies (setpriv --pdeathsig) */
  readonly pdeathsig: boolean;
  /** when true, stdin is a pipe kept open by drover; else /dev/null */
  readonly stdinPipe: boolean;
  /** an fd given to the child as its stdin (fd 0) instead (a FastCGI program's listening socket) */
  readonly stdinFd?: number;
  /** listening sockets passed as fds 3, 4, … with LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES */
  readonly listenFds?: readonly { readonly fd: number; readonly name: string }[];
  /** open a Node IPC channel (after the socket fds) */
  readonly ipc?: boolean;
  /**
   * fd 2 is a second descriptor of fd 1's pipe, as `2>&1` makes it (supervisor's redirect_stderr): the lines
   * keep the order the program wrote them in, and `stderr` in the result is null. Only with the native layer.
   */
  readonly mergeStderr?: boolean;
}

export type SpawnResult =
  | {
      readonly ok: true;
      readonly child: ChildProcess;
      readonly pid: number;
      readonly executable: string;
      /** the program's stdin when the request asked for a pipe (os/stdin-pipe.ts) */
      readonly stdin: ChildStdin | null;
      /** the program's stdout and stderr as the master reads them (pipes, see os/pipe-reader.ts) */
      readonly stdout: OutputStream | null;
      readonly stderr: OutputStream | null;
    }
  | { readonly ok: false; readonly reason: string; readonly message: string };

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p)) ?? null;
const ENV = ['/usr/bin/env', '/bin/env'].find((p) => existsSync(p)) ?? null;

/** Whether parent-death signals are available (util-linux setpriv). */
export function hasPdeathsig(): boolean {
  return SETPRIV !== null;
}

/**
 * Why the kernel cannot run `file` although it may execute it, or null: a `#!` script whose absolute
 * interpreter does not exist (ENOENT, which would read as the script itself missing), or a text file with no
 * `#!` line at all (ENOEXEC). execvp, which setpriv and Node use, runs the latter with /bin/sh instead; then
 * drover would signal that shell and not what it runs, and supervisord, which execs it itself, fails it.
 */
function scriptProblem(file: string): { reason: string; message: string } | null {
  let head: Buffer;
  let fd: number | null = null;
  try {
    fd = openSync(file, 'r');
    head = Buffer.alloc(256);
    head = head.subarray(0, readSync(fd, head, 0, head.length, 0));
  } catch {
    return null; // unreadable for us (execute-only): the kernel will say
  } finally {
    if (fd !== null) closeSync(fd);
  }
  if (head[0] !== 0x23 || head[1] !== 0x21) {
    // a binary of a format the kernel may know (ELF, or one registered with binfmt_misc) holds NUL bytes
    if (head.length > 0 && head.includes(0)) return null;
    return { reason: 'ENOEXEC', message: `${file} is neither a binary nor a script with a #! line (ENOEXEC): begin it with #!/bin/sh, or name its interpreter in command` };
  }
  const interpreter = head.toString('latin1', 2).split('\n')[0]?.trim().split(/[ \t]/)[0] ?? '';
  return interpreter.startsWith('/') && !existsSync(interpreter) ? { reason: 'ENOENT', message: `${file}: its interpreter ${interpreter} (the #! line) does not exist` } : null;
}

/**
 * Resolves a command the way execvp would, so that a missing or non-executable program is reported
 * with a clear message before anything is spawned (supervisor checks the same way in get_execv_args).
 */
export function resolveExecutable(
  command: string,
  env: Readonly<Record<string, string>>,
  cwd: string | null,
): { ok: true; path: string } | { ok: false; reason: string; message: string } {
  const candidates: string[] = [];
  if (command.includes('/')) {
    candidates.push(isAbsolute(command) ? command : resolve(cwd ?? process.cwd(), command));
  } else {
    const path = env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin';
    for (const dir of path.split(delimiter)) candidates.push(join(dir || '.', command));
  }
  // the messages are supervisord's (its spawnerr, which scripts match), with the PATH searched added
  let denied: string | null = null;
  /** why `denied` cannot be run, given its quoted name */
  let why = (q: string): string => `no permission to run command ${q}`;
  for (const file of candidates) {
    let st;
    try {
      st = statSync(file);
    } catch (err) {
      // ENOENT/ENOTDIR: not in this PATH entry; keep looking as execvp does
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') continue;
      if (code === 'EACCES') {
        denied ??= file;
        continue;
      }
      throw err;
    }
    if (st.isDirectory()) {
      if (denied === null) [denied, why] = [file, (q) => `command at ${q} is a directory`];
      continue;
    }
    try {
      accessSync(file, fsConstants.X_OK);
      const problem = scriptProblem(file);
      return problem === null ? { ok: true, path: file } : { ok: false, ...problem };
    } catch (err) {
      // EACCES: exists but not executable for us: no x bit at all, or none that applies to drover's user
      if ((err as NodeJS.ErrnoException).code !== 'EACCES') throw err;
      if (denied === null) {
        denied = file;
        if ((st.mode & 0o111) === 0) why = (q) => `command at ${q} is not executable`;
      }
    }
  }
  if (denied !== null) {
    return { ok: false, reason: 'EACCES', message: why(pyRepr(denied)) };
  }
  const where = command.includes('/') ? '' : ` on PATH (${env['PATH'] ?? ''})`;
  return { ok: false, reason: 'ENOENT', message: `can't find command ${pyRepr(command)}${where}` };
}

/** A string quoted as Python's repr() quotes it (supervisord's messages use %r): 'x', or "x" when x holds a ' and no ". */
function pyRepr(text: string): string {
  const q = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = '';
  for (const ch of text) {
    const c = ch.codePointAt(0) as number;
    if (ch === '\\' || ch === q) out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return q + out + q;
}

/**
 * Spawns a program in its own session and process group (detached), so that a terminal's Ctrl-C does not
 * reach it and it can be signalled as a group. Returns a failure instead of throwing for every error a
 * config can cause (missing command, bad directory, no permission).
 */
export function spawnProcess(req: SpawnRequest): SpawnResult {
  const [command, ...args] = req.argv;
  if (command === undefined || command === '') {
    return { ok: false, reason: 'EINVAL', message: 'empty command' };
  }
  if (req.cwd !== null) {
    let st;
    try {
      st = statSync(req.cwd);
    } catch {
      // any stat failure (ENOENT, ENOTDIR, EACCES) means the program cannot run there; say which directory
      // ENOTDIR, not ENOENT: it is the directory that is missing, not the command (supervisor: SPAWN_ERROR)
      return { ok: false, reason: 'ENOTDIR', message: `directory ${req.cwd} does not exist or cannot be read` };
    }
    if (!st.isDirectory()) return { ok: false, reason: 'ENOTDIR', message: `${req.cwd} is not a directory` };
  }
  const exe = resolveExecutable(command, req.env, req.cwd);
  if (!exe.ok) return exe;

  let file: string;
  let fileArgs: string[];
  let argv0: string | undefined;
  const listen = req.listenFds ?? [];
  let env = req.env;
  const enterAsUser = req.user !== null && req.cwd !== null;
  // the shell wrappers below would lose what a shell cannot hold (see throughShell)
  let target = listen.length > 0 || enterAsUser ? throughShell(env, [exe.path, ...args], enterAsUser) : [exe.path, ...args];
  if (listen.length > 0) {
    // systemd's convention wants LISTEN_PID to be the program's own pid, unknown before the fork: a shell
    // sets it from $$ and execs the program, which keeps that pid.
    env = { ...env, LISTEN_FDS: String(listen.length), LISTEN_FDNAMES: listen.map((l) => l.name).join(':') };
    target = ['/bin/sh', '-c', 'LISTEN_PID=$$; export LISTEN_PID; exec "$@"', 'sh', ...target];
  }
  if (enterAsUser) {
    // As supervisord: the directory is entered as the program's user, once privileges are dropped. The
    // spawn enters it as root first, which could take the program into a directory its user may not enter;
    // a shell (exec'd, so the pid stays the program's) checks again as that user and fails the start if not.
    target = ['/bin/sh', '-c', 'cd -- "$1" || exit 127; shift; exec "$@"', 'sh', req.cwd, ...target];
  }
  if (SETPRIV !== null && (req.pdeathsig || req.user !== null)) {
    // setpriv sets the parent-death signal (and drops privileges) then execs the program with the same
    // pid, so the pid drover records is the program's. It searches PATH itself with the env we pass.
    // a program of drover's own user (drover itself runs as `[supervisord] user`): nothing to switch
    const priv = req.user && req.user.uid !== process.getuid?.()
      ? ['--reuid', String(req.user.uid), '--regid', String(req.user.gid), '--init-groups']
      : [];
    const death = req.pdeathsig ? ['--pdeathsig', 'TERM'] : [];
    file = SETPRIV;
    fileArgs = [...death, ...priv, '--', ...target];
    argv0 = undefined;
  } else {
    [file, ...fileArgs] = target as [string, ...string[]];
    argv0 = listen.length > 0 || enterAsUser ? undefined : command;
  }

  // stdout and stderr are pipes the master made (Node's own 'pipe' is a socketpair, which a program cannot
  // open as /dev/stdout, and which costs more per line); without the native layer, Node's socketpair
  let outPipe: OutputPipe | null = null;
  let errPipe: OutputPipe | null = null;
  let inPipe: OutputPipe | null = null;
  if (nativeAvailable()) {
    try {
      outPipe = outputPipe(req.user);
      if (!req.mergeStderr) errPipe = outputPipe(req.user);
      // the same kind of pipe, read by the child (given to its user too, for open("/dev/stdin"))
      if (req.stdinPipe && req.stdinFd === undefined) inPipe = outputPipe(req.user);
    } catch (err) {
      // EMFILE/ENFILE: out of descriptors (many programs, a low `minfds`); counted as a failed start
      closeOutputPipes([outPipe, errPipe]);
      const code = (err as NodeJS.ErrnoException).code ?? 'EPIPE';
      return { ok: false, reason: code, message: `cannot make its output pipes: ${(err as Error).message}` };
    }
  }
  // Node has no umask option for spawn; the umask is inherited through fork, so set it around the
  // synchronous spawn call and restore it at once. Nothing else runs in between (single thread).
  const oldUmask = req.umask !== null ? process.umask(req.umask) : null;
  let child: ChildProcess;
  try {
    child = spawn(file, fileArgs, {
      ...(argv0 !== undefined ? { argv0 } : {}),
      env,
      cwd: req.cwd ?? undefined,
      detached: true,
      stdio: [
        req.stdinFd ?? inPipe?.readFd ?? (req.stdinPipe ? 'pipe' : 'ignore'),
        outPipe?.writeFd ?? 'pipe',
        errPipe?.writeFd ?? (req.mergeStderr ? outPipe?.writeFd : undefined) ?? 'pipe',
        ...listen.map((l) => l.fd),
        ...(req.ipc ? ['ipc' as const] : []),
      ],
      ...(req.user && SETPRIV === null ? { uid: req.user.uid, gid: req.user.gid } : {}),
    });
  } catch (err) {
    closeOutputPipes([outPipe, errPipe, inPipe]);
    const code = (err as NodeJS.ErrnoException).code ?? 'ESPAWN';
    return { ok: false, reason: code, message: `spawn failed: ${(err as Error).message}` };
  } finally {
    if (oldUmask !== null) process.umask(oldUmask);
  }
  if (child.pid === undefined) {
    // counted while the pipes are open, as they were when the spawn needed its own
    const exhausted = descriptorsExhausted();
    closeOutputPipes([outPipe, errPipe, inPipe]);
    // libuv reports exec failures synchronously; Node then emits 'error' on the next tick. Swallowing it
    // here is safe because the failure is returned to the caller.
    child.once('error', () => undefined);
    if (exhausted !== null) return { ok: false, reason: 'EMFILE', message: `could not spawn ${exe.path}: out of file descriptors (EMFILE; ${exhausted})` };
    return { ok: false, reason: 'ESPAWN', message: `could not spawn ${exe.path}` };
  }
  recordSpawned(child);
  // before anything is read from it: what a worker writes there is untrusted (os/ipc-guard.ts)
  if (req.ipc) guardChannel(child);
  watchExit(child.pid);
  trimChild(child);
  // the child has its copies now; the master's write ends must go, or the pipes never reach their end
  const stdout = outPipe ? adoptReadEnd(outPipe) : child.stdout;
  const stderr = errPipe ? adoptReadEnd(errPipe) : outPipe ? null : child.stderr;
  let stdin: ChildStdin | null = null;
  if (inPipe) {
    closeSync(inPipe.readFd);
    stdin = new ChildStdin(inPipe.writeFd);
  } else if (child.stdin instanceof Socket) stdin = new ChildStdin(child.stdin);
  return { ok: true, child, pid: child.pid, executable: exe.path, stdin, stdout, stderr };
}

/**
 * Node builds a child's `spawnargs` and `stdio` arrays by growing them one element at a time, so each keeps
 * room for ~20 more for the child's life (~0.35 KiB a process); exact copies hold the same (bench/RESULTS.md,
 * fifteenth session).
 */
function trimChild(child: ChildProcess): void {
  const c = child as { spawnargs: string[]; stdio: unknown[] };
  c.spawnargs = c.spawnargs.slice();
  c.stdio = c.stdio.slice();
}

/** Closes the master's write end of a pipe handed to a child and reads the read end. */
function adoptReadEnd(p: OutputPipe): OutputStream {
  closeSync(p.writeFd);
  return new PipeReader(p.readFd);
}

/**
 * Sends a signal to a process, or to its whole process group. 'gone' when there was nothing to signal
 * (ESRCH): that changes no state, since death is learned only from the exit event. 'denied' when the kernel
 * refused (EPERM: the process, or every member of the group, now runs as a user drover may not signal,
 * as a setuid program that took root as its real uid does when drover is not root).
 */
export function sendSignal(pid: number, signal: string, toGroup: boolean): 'sent' | 'gone' | 'denied' {
  const num = deliverableSignal(signal);
  if (num === null) throw new Error(`unknown signal ${signal}`);
  try {
    process.kill(toGroup ? -pid : pid, num);
    return 'sent';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // ESRCH: already gone (or the group is empty); the exit event is on its way or already handled
    if (code === 'ESRCH') return 'gone';
    if (code === 'EPERM') return 'denied';
    throw err;
  }
}

/**
 * Whether a process has ended: gone, or a zombie waiting for its parent (an init that reaps slowly — as
 * some container inits do — keeps an exited daemon visible to kill(pid, 0) for a while).
 */
export function processEnded(pid: number): boolean {
  if (!pidExists(pid)) return true;
  // null: reaped since the kill(0), before the open (ENOENT) or between the open and the read (ESRCH)
  const stat = readStat(pid);
  return stat === null || stat.state === 'Z';
}

/** Whether a pid exists (EPERM means it exists but belongs to someone else). */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EPERM') return true;
    if (code === 'ESRCH') return false;
    throw err;
  }
}

/** Whether a process group still has members (signal 0 to -pgid: ESRCH when it is empty). */
export function groupHasMembers(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    // ESRCH: no process left in the group; EPERM: members exist but belong to another user
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') return false;
    if (code === 'EPERM') return true;
    throw err;
  }
}

/**
 * `program` (a command and its arguments) as run from a `sh -c '… exec "$@"'` wrapper, with what the shell
 * would lose put back by env(1) just before the program: variables whose names are not shell identifiers
 * (`spring.profiles.active`, `my-var`: dash drops them), and, after the wrapper's `cd`, PWD and OLDPWD as
 * the program was given them (the shell sets both). supervisord passes all of these unchanged. Unchanged
 * where nothing needs it, where there is no env(1), or for a command path with "=" (env would take it for
 * a variable).
 */
function throughShell(env: Readonly<Record<string, string | undefined>>, program: readonly string[], cds: boolean): string[] {
  const fixes: string[] = [];
  if (cds) for (const k of ['PWD', 'OLDPWD']) if (env[k] === undefined) fixes.push('-u', k);
  for (const [k, v] of Object.entries(env)) {
    if (v !== undefined && !k.startsWith('-') && (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) || (cds && (k === 'PWD' || k === 'OLDPWD')))) fixes.push(`${k}=${v}`);
  }
  if (fixes.length === 0 || ENV === null || (program[0] ?? '').includes('=')) return [...program];
  return [ENV, ...fixes, ...program];
}
