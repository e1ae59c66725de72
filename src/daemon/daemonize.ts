// `drover up -d`: one detached spawn of the master (new session, no controlling terminal, stdio away from
// the terminal) with an IPC channel used once: the child reports "ready" or "failed", then the channel
// closes and the launching CLI exits with the result. The child's parent becomes init.
import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';

export type DaemonReport =
  | { readonly type: 'ready'; readonly pid: number; readonly urls: readonly string[]; readonly processes: number }
  | { readonly type: 'failed'; readonly message: string; readonly exitCode: number };

/** Spawns the daemon child and waits for its report (bounded). */
export function spawnDaemon(opts: {
  readonly cliArgs: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** where the child's stderr goes (a crash before its logger exists lands here); null: /dev/null */
  readonly stderrFile: string | null;
  readonly timeoutMs: number;
}): Promise<DaemonReport> {
  return new Promise((resolve) => {
    // O_NOCTTY is implied: the child calls setsid() (detached) before it could acquire a terminal, and it
    // never opens a tty; stderr goes to a regular file.
    const errFd = opts.stderrFile ? openSync(opts.stderrFile, 'a', 0o600) : 'ignore';
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1] ?? '', 'up', ...opts.cliArgs, '--daemon-child'], {
      cwd: opts.cwd,
      env: opts.env,
      detached: true,
      stdio: ['ignore', 'ignore', errFd, 'ipc'],
    });
    if (typeof errFd === 'number') closeSync(errFd);
    let settled = false;
    const finish = (r: DaemonReport): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.connected) child.disconnect();
      child.unref();
      resolve(r);
    };
    const timer = setTimeout(
      () => finish({ type: 'failed', message: `drover up: the daemon did not report within ${opts.timeoutMs} ms (pid ${child.pid ?? '?'})`, exitCode: 1 }),
      opts.timeoutMs,
    );
    child.on('message', (m: unknown) => {
      const r = m as DaemonReport;
      if (r && (r.type === 'ready' || r.type === 'failed')) finish(r);
    });
    child.on('exit', (code, signal) =>
      finish({
        type: 'failed',
        message: `drover up: the daemon exited before it was ready (${signal ? `signal ${signal}` : `exit status ${code ?? '?'}`})`,
        exitCode: code && code > 0 ? code : 1,
      }),
    );
    child.on('error', (err) => finish({ type: 'failed', message: `drover up: cannot start the daemon: ${err.message}`, exitCode: 1 }));
  });
}

/** In the daemon child: send the report to the launcher, then drop the channel so nothing ties us to it. */
export function reportToLauncher(r: DaemonReport): void {
  if (!process.send || !process.connected) return;
  process.send(r, () => {
    if (process.connected) process.disconnect();
  });
}
