// A bounded HTTP load for tests: a few client loops with keep-alive connections, counting every failed
// request (connection errors, resets, non-200 answers) and which pids answered. Unlike autocannon it honours
// `Connection: close`, so a graceful drain shows as zero failures.
import { Agent, request } from 'node:http';

export interface LoadResult {
  readonly ok: number;
  readonly failed: number;
  /** the first few failure messages */
  readonly errors: readonly string[];
  /** how many answers each pid gave */
  readonly byPid: ReadonlyMap<string, number>;
}

export interface Load {
  /** requests answered so far */
  readonly answered: () => number;
  /** resolves once `n` more requests have been answered (bounded by `timeoutMs`) */
  readonly waitForMore: (n: number, timeoutMs?: number) => Promise<void>;
  readonly stop: () => Promise<LoadResult>;
}

/**
 * Starts `concurrency` request loops against 127.0.0.1:port; they run until stop() (or `maxMs`). With
 * `newConnections`, every request opens its own connection (and asks `Connection: close`), so each one goes
 * through the listen backlog (wrk's -H 'Connection: close').
 */
export function startLoad(port: number, opts: { concurrency?: number; path?: string; maxMs?: number; newConnections?: boolean } = {}): Load {
  const agent = new Agent({ keepAlive: !opts.newConnections, maxSockets: opts.concurrency ?? 3 });
  let ok = 0;
  let failed = 0;
  const errors: string[] = [];
  const byPid = new Map<string, number>();
  let running = true;
  const hardStop = setTimeout(() => (running = false), opts.maxMs ?? 60_000);
  const waiters: { target: number; resolve: () => void }[] = [];
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const headers = opts.newConnections ? { connection: 'close' } : {};
      const req = request({ host: '127.0.0.1', port, path: opts.path ?? '/', agent, headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          if (res.statusCode === 200) {
            ok += 1;
            byPid.set(body, (byPid.get(body) ?? 0) + 1);
          } else {
            failed += 1;
            if (errors.length < 10) errors.push(`HTTP ${res.statusCode ?? '?'}: ${body.slice(0, 100)}`);
          }
          for (const w of [...waiters]) {
            if (ok >= w.target) {
              waiters.splice(waiters.indexOf(w), 1);
              w.resolve();
            }
          }
          resolve();
        });
        res.on('error', (err) => {
          failed += 1;
          if (errors.length < 10) errors.push(`response: ${err.message}`);
          resolve();
        });
      });
      req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')));
      req.on('error', (err) => {
        failed += 1;
        if (errors.length < 10) errors.push(`request: ${err.message}`);
        resolve();
      });
      req.end();
    });
  const loops = Array.from({ length: opts.concurrency ?? 3 }, async () => {
    while (running) await one();
  });
  return {
    answered: () => ok,
    waitForMore: (n, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const target = ok + n;
        const t = setTimeout(() => reject(new Error(`load: fewer than ${n} more answers in ${timeoutMs} ms (ok ${ok}, failed ${failed}: ${errors.join('; ')})`)), timeoutMs);
        waiters.push({
          target,
          resolve: () => {
            clearTimeout(t);
            resolve();
          },
        });
      }),
    stop: async () => {
      running = false;
      clearTimeout(hardStop);
      await Promise.all(loops);
      agent.destroy();
      return { ok, failed, errors, byPid };
    },
  };
}
