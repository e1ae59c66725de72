// Server hooks in the manner of gunicorn's: a JS module named by `[supervisord] hooks =`, loaded into the
// master, whose exported functions are called at fixed points. A hook that throws or rejects is logged and
// never stops drover (except on_starting, whose failure aborts the start-up: it runs before anything else).
import { pathToFileURL } from 'node:url';
import type { Logger } from '../logs/logger.js';

/** What a hook learns about drover itself. */
export interface ServerInfo {
  readonly pid: number;
  readonly configFile: string;
  readonly processes: number;
}

type HookFn = (...args: unknown[]) => unknown;

export const HOOK_NAMES = ['on_starting', 'when_ready', 'pre_spawn', 'post_spawn', 'worker_exit', 'on_reload', 'on_exit'] as const;
export type HookName = (typeof HOOK_NAMES)[number];

/** How long drover waits for on_starting (docs/config.md, `hooks`); `up -d`'s launcher waits this long more. */
export const ON_STARTING_MS = 30_000;

export class Hooks {
  private constructor(
    private readonly fns: Partial<Record<HookName, HookFn>>,
    private readonly logger: Logger,
    /** the module's file URL; null for no hooks */
    private readonly url: string | null,
  ) {}

  /** No hooks at all. */
  static none(logger: Logger): Hooks {
    return new Hooks({}, logger, null);
  }

  /**
   * Whether an error nothing caught comes from the hooks module (its stack names the module): a hook's
   * promise it did not await, or a timer it set. drover stops everything as for its own errors, but says
   * whose it was. An error raised inside Node on the hook's behalf names no file and is not recognised.
   */
  threw(err: unknown): boolean {
    const stack = err instanceof Error ? err.stack : undefined;
    return this.url !== null && typeof stack === 'string' && stack.includes(this.url);
  }

  /** Loads the module; names may be snake_case (gunicorn's) or camelCase. */
  static async load(path: string, logger: Logger): Promise<Hooks> {
    const url = pathToFileURL(path).href;
    const mod = (await import(url)) as Record<string, unknown> & { default?: Record<string, unknown> };
    const source = { ...(mod.default && typeof mod.default === 'object' ? mod.default : {}), ...mod };
    const fns: Partial<Record<HookName, HookFn>> = {};
    for (const name of HOOK_NAMES) {
      const camel = name.replace(/_(\w)/g, (_m, c: string) => c.toUpperCase());
      const fn = source[name] ?? source[camel];
      if (typeof fn === 'function') fns[name] = fn as HookFn;
    }
    return new Hooks(fns, logger, url);
  }

  /** Whether the module defines this hook. */
  has(name: HookName): boolean {
    return this.fns[name] !== undefined;
  }

  /** Calls a hook and waits for it (bounded); failures are logged. Returns false if it threw. */
  async run(name: HookName, timeoutMs: number, ...args: unknown[]): Promise<boolean> {
    return (await this.runUnless(name, timeoutMs, null, ...args)) !== 'failed';
  }

  /**
   * As run(), but stops waiting when `interrupted` resolves (a Ctrl-C: the hook itself runs on, unawaited).
   * Returns 'done', 'failed' (threw, rejected or ran out of time: logged) or 'interrupted'.
   */
  async runUnless(name: HookName, timeoutMs: number, interrupted: Promise<unknown> | null, ...args: unknown[]): Promise<'done' | 'failed' | 'interrupted'> {
    const fn = this.fns[name];
    if (!fn) return 'done';
    // The timer holds the event loop until the hook settles: a hook that waits on something which does not
    // (a signal, an unref'd timer) would otherwise leave drover's start-up with nothing to wait for, and Node
    // would end the process there, silently, with nothing started
    let timer: NodeJS.Timeout | undefined;
    const INTERRUPTED = Symbol('interrupted');
    try {
      const how = await Promise.race([
        Promise.resolve(fn(...args)),
        new Promise((_r, reject) => {
          timer = setTimeout(() => reject(new Error(`did not finish within ${timeoutMs} ms`)), timeoutMs);
        }),
        ...(interrupted ? [interrupted.then(() => INTERRUPTED)] : []),
      ]);
      return how === INTERRUPTED ? 'interrupted' : 'done';
    } catch (err) {
      this.logger.error(`hook ${name} failed: ${(err as Error).stack ?? String(err)}`);
      return 'failed';
    } finally {
      clearTimeout(timer);
    }
  }

  /** Calls a hook without waiting (from the supervisor's synchronous event handling). */
  fire(name: HookName, ...args: unknown[]): void {
    if (this.fns[name]) void this.run(name, 10_000, ...args);
  }
}
