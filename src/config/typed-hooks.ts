// Module hooks of the typed-config evaluator (typed-eval.ts): `import … from 'drover'` resolves to the
// running drover, wherever the config lives and however drover was installed (globally, with npx); and
// on a Node without type stripping (20, 22.0–22.5) a .ts/.mts/.cts module is stripped with amaro, the
// package of Node's own type stripper, so that a config runs the same on every supported Node: a .ts or .mts
// is an ES module there and on every Node, whatever package.json "type" says; a .cts is CommonJS. The same functions
// serve module.registerHooks (synchronous, in-thread) and module.register (off-thread).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

interface ResolveResult {
  url: string;
  format?: string | null;
  shortCircuit?: boolean;
}
interface LoadResult {
  format: string;
  source?: string | Uint8Array | null;
  shortCircuit?: boolean;
}
type NextResolve = (specifier: string, context?: unknown) => ResolveResult | Promise<ResolveResult>;
type NextLoad = (url: string, context?: unknown) => LoadResult | Promise<LoadResult>;

/** drover's public entry point (dist/src/index.js beside this file's dist/src/config/) */
const DROVER_ENTRY = new URL('../index.js', import.meta.url).href;

/** set by initialize: strip types here (Node lacks it) */
let strip = false;
/**
 * set by initialize: where the file: URLs of the modules loaded so far are written (a length, then the
 * URLs one a line), shared with the evaluator's thread — for Node 20's off-thread hooks the only memory both
 * see — so that a syntax error in an imported module, which Node reports without its file, can be placed
 */
let loaded: { readonly length: Int32Array; readonly bytes: Uint8Array } | null = null;
let amaro: { transformSync: (code: string, opts: { mode: string; filename: string }) => { code: string } } | null = null;

/** module.register's initialize; registerHooks callers call it directly. */
export function initialize(data: { strip: boolean; loaded?: SharedArrayBuffer }): void {
  strip = data.strip;
  if (data.loaded !== undefined) loaded = { length: new Int32Array(data.loaded, 0, 1), bytes: new Uint8Array(data.loaded, 4) };
}

/** The file: URLs `initialize`'s buffer holds, in the order their modules were loaded. */
export function loadedModules(buffer: SharedArrayBuffer): string[] {
  const used = Atomics.load(new Int32Array(buffer, 0, 1), 0);
  return new TextDecoder().decode(new Uint8Array(buffer, 4, used)).split('\n').filter((u) => u !== '');
}

export function resolve(specifier: string, context: unknown, next: NextResolve): ResolveResult | Promise<ResolveResult> {
  if (specifier === 'drover') return { url: DROVER_ENTRY, format: 'module', shortCircuit: true };
  return next(specifier, context);
}

export function load(url: string, context: unknown, next: NextLoad): LoadResult | Promise<LoadResult> {
  if (url.startsWith('file:')) remember(url);
  const typescript = url.startsWith('file:') ? /\.([cm]?)ts$/.exec(new URL(url).pathname) : null;
  if (typescript === null) return next(url, context);
  if (!strip) return typescript[1] === 'c' ? next(url, context) : loadAsModule(url, context, next);
  const filename = fileURLToPath(url);
  if (amaro === null) {
    try {
      amaro = createRequire(import.meta.url)('amaro') as typeof amaro;
    } catch (err) {
      // MODULE_NOT_FOUND: a dependency of drover's left out (a copied dist/, an install that pruned it)
      if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
      throw new Error(`Node ${process.versions.node} cannot strip TypeScript types by itself, and the amaro package (a dependency of drover) is not installed beside drover: reinstall drover with its dependencies (npm install amaro), use Node ≥ 22.6, or write the config as .mjs`);
    }
  }
  let code: string;
  try {
    ({ code } = (amaro as NonNullable<typeof amaro>).transformSync(readFileSync(filename, 'utf8'), { mode: 'strip-only', filename }));
  } catch (err) {
    // amaro throws a plain object ({ code, message, startLine, startColumn, snippet }), which would reach the
    // evaluation as "[object Object]": a SyntaxError naming file:line:column says what and where
    if (err instanceof Error || typeof (err as { message?: unknown } | null)?.message !== 'string') throw err;
    const e = err as { message: string; code?: unknown; startLine?: unknown; startColumn?: unknown; snippet?: unknown };
    const at = typeof e.startLine === 'number' ? `:${e.startLine}${typeof e.startColumn === 'number' ? `:${e.startColumn + 1}` : ''}` : '';
    throw new SyntaxError(`${e.message} (${typeof e.code === 'string' ? `${e.code} at ` : ''}${filename}${at})${typeof e.snippet === 'string' ? `\n${pointedLine(e.snippet)}` : ''}`);
  }
  // a .cts module is CommonJS, as Node ≥ 22.6 makes it (Node 20 takes a CommonJS module's source from a hook
  // since 20.6, and sends its require calls through these hooks: a .cts it requires is stripped too)
  return { format: typescript[1] === 'c' ? 'commonjs' : 'module', source: code, shortCircuit: true };
}

/**
 * A .ts/.mts module stripped by Node itself (≥ 22.6), as an ES module. Node takes a .ts file's format from
 * the nearest package.json "type": under "commonjs" (what `npm init -y` writes from npm 11) it would be
 * CommonJS TypeScript, where `import` is a syntax error, while the amaro path above, Node 20's, always makes
 * it an ES module; so a config Node 20 accepts would be refused on 22 and 24. The format is asked of Node's
 * own load (it reads the file as one) and, should a Node not heed the request, set on its answer. `.cts`
 * never comes here: it stays CommonJS.
 */
function loadAsModule(url: string, context: unknown, next: NextLoad): LoadResult | Promise<LoadResult> {
  const asModule = (r: LoadResult): LoadResult => (r.format === 'commonjs-typescript' ? { ...r, format: 'module-typescript' } : r);
  const result = next(url, { ...(context as object), format: 'module-typescript' });
  return result instanceof Promise ? result.then(asModule) : asModule(result);
}

/** Adds a module's URL to the shared buffer; past its end, the rest are left out (only a hint is lost). */
function remember(url: string): void {
  if (loaded === null) return;
  const line = new TextEncoder().encode(`${url}\n`);
  const used = Atomics.load(loaded.length, 0);
  if (used + line.length > loaded.bytes.length) return;
  loaded.bytes.set(line, used);
  Atomics.store(loaded.length, 0, used + line.length);
}

/** Of amaro's snippet (the file around the error), the line in error and the ^ marks under it. */
function pointedLine(snippet: string): string {
  const lines = snippet.split('\n');
  const marks = lines.findIndex((l) => /^\s*\^+\s*$/.test(l));
  return marks > 0 ? `${lines[marks - 1]}\n${lines[marks]}` : snippet.trimEnd();
}
