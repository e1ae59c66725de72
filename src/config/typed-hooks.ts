// Module hooks of the typed-config evaluator (typed-eval.ts): `import … from 'drover'` resolves to the
// running drover, wherever the config lives and however drover was installed (globally, with npx); and
// on a Node without type stripping (20, 22.0–22.5) a .ts/.mts module is stripped with amaro, the package
// of Node's own type stripper, so that a config runs the same on every supported Node. The same functions
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
let amaro: { transformSync: (code: string, opts: { mode: string; filename: string }) => { code: string } } | null = null;

/** module.register's initialize; registerHooks callers call it directly. */
export function initialize(data: { strip: boolean }): void {
  strip = data.strip;
}

export function resolve(specifier: string, context: unknown, next: NextResolve): ResolveResult | Promise<ResolveResult> {
  if (specifier === 'drover') return { url: DROVER_ENTRY, format: 'module', shortCircuit: true };
  return next(specifier, context);
}

export function load(url: string, context: unknown, next: NextLoad): LoadResult | Promise<LoadResult> {
  if (!strip || !url.startsWith('file:') || !/\.m?ts$/.test(new URL(url).pathname)) return next(url, context);
  const filename = fileURLToPath(url);
  if (amaro === null) {
    try {
      amaro = createRequire(import.meta.url)('amaro') as typeof amaro;
    } catch (err) {
      // MODULE_NOT_FOUND: installed without optional dependencies
      if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
      throw new Error(`Node ${process.versions.node} cannot strip TypeScript types by itself, and the amaro package (an optional dependency of drover) is not installed: run npm install amaro, use Node ≥ 22.6, or write the config as .mjs`);
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
  return { format: 'module', source: code, shortCircuit: true };
}

/** Of amaro's snippet (the file around the error), the line in error and the ^ marks under it. */
function pointedLine(snippet: string): string {
  const lines = snippet.split('\n');
  const marks = lines.findIndex((l) => /^\s*\^+\s*$/.test(l));
  return marks > 0 ? `${lines[marks - 1]}\n${lines[marks]}` : snippet.trimEnd();
}
