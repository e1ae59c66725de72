// A private redis-server for a test file: Debian's redis-server on a unix socket in a temp directory, no
// persistence. Started per file so tests never share state with a system Redis or with each other.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { TIMEOUT_SCALE } from './drover.js';

export interface RedisServer {
  /** the `shared_backend` value that reaches it */
  readonly url: string;
  readonly socket: string;
  readonly pid: number;
  stop(): Promise<void>;
}

// "Ready to accept connections tcp" with a port; "…now ready to accept connections at PATH" with only a socket
const READY = /ready to accept connections/i;

/** Starts redis-server in `dir` and resolves once it accepts connections (bounded; prints its log on failure). */
export async function startRedis(dir: string, timeoutMs = 10_000 * TIMEOUT_SCALE): Promise<RedisServer> {
  const socket = join(dir, 'redis.sock');
  const bin = process.env['DROVER_TEST_REDIS_SERVER'] ?? 'redis-server';
  const child: ChildProcess = spawn(bin, ['--port', '0', '--unixsocket', socket, '--unixsocketperm', '700', '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`redis-server did not become ready in ${timeoutMs} ms`)), timeoutMs);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${err.message}\n--- redis-server output ---\n${output}`));
    };
    child.on('error', (err: NodeJS.ErrnoException) =>
      fail(err.code === 'ENOENT' ? new Error(`${bin} not found: install Debian's redis-server (scripts/install-test-deps.sh)`) : err),
    );
    const exitedEarly = (code: number | null, signal: NodeJS.Signals | null): void => fail(new Error(`redis-server exited (${code ?? signal}) before it was ready`));
    child.on('exit', exitedEarly);
    for (const s of [child.stdout, child.stderr]) {
      s?.setEncoding('utf8').on('data', (d: string) => {
        output += d;
        if (READY.test(output)) {
          clearTimeout(timer);
          child.removeListener('exit', exitedEarly);
          resolve();
        }
      });
    }
  });
  return {
    url: `unix:${socket}`,
    socket,
    pid: child.pid as number,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export interface RedisRelay {
  /** the `shared_backend` value that reaches Redis through the relay */
  readonly url: string;
  /**
   * Cuts the next connection that sends a SUBSCRIBE, before Redis sees it, and stops listening (a connect
   * then fails, as to a server that is down) until `accept()`: a drop at the one moment a reconnect is not
   * yet subscribed again. Resolves once the cut is made.
   */
  cutAtNextSubscribe(): Promise<void>;
  /** listens again */
  accept(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A unix-socket relay in front of a redis-server that a test can have cut a connection at a chosen point
 * (what a network drop does, at a moment a killed server cannot be timed to).
 */
export async function startRedisRelay(dir: string, target: RedisServer): Promise<RedisRelay> {
  const socket = join(dir, 'relay.sock');
  const open = new Set<Socket>();
  let armed: (() => void) | null = null;
  const server = createServer((client) => {
    const upstream = connect(target.socket);
    for (const s of [client, upstream]) {
      open.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        open.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (d: Buffer) => {
      if (armed && /subscribe/i.test(d.toString('latin1'))) {
        const cut = armed;
        armed = null;
        server.close();
        client.destroy();
        upstream.destroy();
        cut();
        return;
      }
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => client.write(d));
  });
  const listen = (): Promise<void> => new Promise<void>((resolve, reject) => server.once('error', reject).listen(socket, () => {
    server.off('error', reject);
    resolve();
  }));
  await listen();
  return {
    url: `unix:${socket}`,
    cutAtNextSubscribe: () => new Promise<void>((resolve) => (armed = resolve)),
    accept: listen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        if (!server.listening) return resolve();
        server.close(() => resolve());
      }),
  };
}
