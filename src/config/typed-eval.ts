// The typed-config evaluator, run in a child Node by config/typed.ts: import the config module, resolve
// its default export (an object, a promise of one, or defineConfig's function of { env }), and write it
// as JSON to fd 3. A fresh process per evaluation means a reload sees the files as they are now (no module
// cache to outwit), and the config's code never runs in the master. Values JSON cannot carry (functions,
// class instances, NaN, cycles) are sent as { "\u0000": "what it was" }, so that the loader names them.
import { spawnSync } from 'node:child_process';
import * as nodeModule from 'node:module';
import { writeSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { initialize, load, loadedModules, resolve } from './typed-hooks.js';

const ANSWER_FD = 3;
/** the key of a value JSON cannot carry */
export const UNSUPPORTED = '\u0000';
const MAX_DEPTH = 32;
/** room for the URLs of the modules a config loads (typed-hooks.ts remember) */
const LOADED_BYTES = 64 * 1024;
/** how many imported modules a syntax error is looked for in, one `node --check` each */
const MAX_SYNTAX_CHECKS = 20;

type Plain = string | number | boolean | null | Plain[] | { [k: string]: Plain };

interface Answer {
  readonly ok: boolean;
  readonly value?: Plain;
  readonly message?: string;
  readonly line?: number;
}

function answer(a: Answer): void {
  writeSync(ANSWER_FD, JSON.stringify(a));
}

/** The value as JSON can carry it, each unsupported part replaced by its description. */
function toPlain(v: unknown, depth: number, seen: Set<object>): Plain | undefined {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (v === undefined) return undefined;
  if (typeof v === 'number') return Number.isFinite(v) ? v : { [UNSUPPORTED]: String(v) };
  if (typeof v !== 'object') return { [UNSUPPORTED]: typeof v === 'function' ? 'a function' : `a ${typeof v}` };
  if (seen.has(v)) return { [UNSUPPORTED]: 'a reference to itself (a cycle)' };
  if (depth >= MAX_DEPTH) return { [UNSUPPORTED]: `nested more than ${MAX_DEPTH} levels deep` };
  seen.add(v);
  try {
    if (Array.isArray(v)) return v.map((x) => toPlain(x, depth + 1, seen) ?? null);
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      return { [UNSUPPORTED]: `a ${(v as { constructor?: { name?: string } }).constructor?.name ?? 'class'} object` };
    }
    const out: { [k: string]: Plain } = {};
    for (const [k, x] of Object.entries(v)) {
      const p = toPlain(x, depth + 1, seen);
      if (p !== undefined) out[k] = p;
    }
    return out;
  } finally {
    seen.delete(v);
  }
}

/**
 * What the config threw, as one message. An error from the loader hooks' thread (Node 20) may arrive as a
 * plain object with a message rather than an Error: its fields are read all the same.
 */
function describeThrown(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  const o = err as { name?: unknown; message?: unknown } | null;
  if (typeof o === 'object' && o !== null && typeof o.message === 'string') return `${typeof o.name === 'string' ? o.name : 'Error'}: ${o.message}`;
  return `threw ${typeof err === 'object' ? JSON.stringify(err) : String(err)}`;
}

/**
 * The line of a syntax error in a JavaScript config: Node's import error does not carry it (only its
 * printed form does), so `node --check` is asked, at the cost of one Node start, and only on this failure.
 */
function syntaxErrorLine(err: unknown, file: string): number {
  if (!(err instanceof SyntaxError) || !/\.[cm]?js$/.test(file)) return 0;
  return checkedSyntaxErrorLine(file, null);
}

/** The line `node --check` finds a syntax error on in `file` (with `message`, when given), else 0. */
function checkedSyntaxErrorLine(file: string, message: string | null): number {
  const r = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8', timeout: 10_000 });
  const stderr = r.stderr ?? '';
  if (message !== null && !stderr.includes(message)) return 0;
  const m = new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:(\\d+)$`, 'm').exec(stderr);
  return m ? Number(m[1]) : 0;
}

/**
 * Where an error the config did not throw itself comes from, as " (thrown at FILE:LINE:COLUMN)": a module it
 * imports threw, at its top level or in a function the config called (the config's own line, if any, is
 * the error's line). A syntax error in an imported module has no such frame: its file is found by asking
 * `node --check` about the modules loaded (`loaded`, newest first), as Node prints it only when it is fatal.
 * Empty when the config threw it, or when nothing says where.
 */
function whereThrown(err: unknown, file: string, loaded: readonly string[]): string {
  const stack = typeof (err as { stack?: unknown } | null)?.stack === 'string' ? (err as { stack: string }).stack : '';
  const own = fileURLToPath(new URL('../', import.meta.url));
  for (const m of stack.matchAll(/^\s+at (?:.*\()?((?:file:\/\/)?\/[^()\s]*?):(\d+):(\d+)\)?$/gm)) {
    const path = (m[1] as string).startsWith('file:') ? fileURLToPath(m[1] as string) : (m[1] as string);
    if (path.startsWith(own)) continue; // drover's own code (the evaluator, defineConfig)
    return path === file ? '' : ` (thrown at ${path}:${m[2]}:${m[3]})`;
  }
  if (!(err instanceof SyntaxError)) return '';
  const candidates = loaded.map((u) => fileURLToPath(u)).filter((p) => p !== file && /\.[cm]?js$/.test(p));
  for (const path of candidates.reverse().slice(0, MAX_SYNTAX_CHECKS)) {
    const line = checkedSyntaxErrorLine(path, err.message);
    if (line > 0) return ` (in ${path}:${line})`;
  }
  return '';
}

/**
 * Why a .js config written as an ES module fails as a syntax error: Node reads a .js file as the nearest
 * package.json's "type" says ("commonjs", what `npm init -y` writes from npm 11), and drover leaves .js to
 * Node's rule (a .ts or .mjs config is an ES module whatever "type" says). Empty for any other error.
 */
function commonJsHint(err: unknown, file: string): string {
  if (!file.endsWith('.js') || !(err instanceof SyntaxError)) return '';
  if (!/Cannot use import statement outside a module|Unexpected token 'export'/.test(err.message)) return '';
  return ' (Node reads this .js file as CommonJS, as the nearest package.json does not say "type": "module": name the config .mjs or .ts, or write it as CommonJS with module.exports = …)';
}

/** The line of the config file an error points at, from its stack (0 when it names none). */
function lineOf(err: unknown, file: string): number {
  const o = err as { stack?: unknown; message?: unknown } | null;
  // an error from the hooks' thread may be a plain object: its stack or message may still name the line
  const stack = err instanceof Error ? (err.stack ?? '') : typeof o?.stack === 'string' ? o.stack : typeof o?.message === 'string' ? o.message : '';
  const url = pathToFileURL(file).href;
  for (const where of [url, file]) {
    const m = new RegExp(`${where.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:(\\d+)`).exec(stack);
    if (m) return Number(m[1]);
  }
  return 0;
}

async function main(): Promise<void> {
  const file = process.argv[2] as string;
  const strip = process.argv[3] === 'strip';
  const hooks = nodeModule as { registerHooks?: (h: object) => void; register?: (url: string, opts: object) => void };
  const loaded = new SharedArrayBuffer(LOADED_BYTES);
  if (hooks.registerHooks) {
    initialize({ strip, loaded });
    hooks.registerHooks({ resolve, load });
  } else if (hooks.register) {
    hooks.register(new URL('./typed-hooks.js', import.meta.url).href, { data: { strip, loaded } });
  }
  let value: unknown;
  try {
    const mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
    if (!('default' in mod) || mod.default === undefined) {
      answer({ ok: false, message: 'the module has no default export (write export default defineConfig({ ... }))' });
      return;
    }
    value = mod.default;
    if (typeof value === 'function') value = await (value as (ctx: { env: Record<string, string | undefined> }) => unknown)({ env: { ...process.env } });
    else value = await value;
  } catch (err) {
    const line = lineOf(err, file) || syntaxErrorLine(err, file);
    answer({ ok: false, message: `${describeThrown(err)}${commonJsHint(err, file)}${whereThrown(err, file, line > 0 ? [] : loadedModules(loaded))}`, line });
    return;
  }
  answer({ ok: true, value: toPlain(value, 0, new Set()) ?? null });
}

// The evaluation never outlives the drover that waits for it (the time limit is that drover's): a module
// that keeps itself running (a timer of its own, a server) would otherwise run on, re-parented, once that
// drover has exited or been killed.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(1);
}, 250).unref();

main().then(
  // the config's own timers or sockets must not keep the evaluation alive
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`drover: evaluating the config failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
