// Rewrites tsc's JavaScript in dist/src without comments and in plain ASCII, keeping one statement per line
// and source maps back to src/ (esbuild reads tsc's maps and composes them). Run by `npm run build` after tsc.
//
// Why: V8 keeps the source text of every module it loads for the life of the process, and stores a text
// with even one character beyond Latin-1 (an arrow or a dash in a comment) at two bytes per character.
// drover's comments are a quarter of its JavaScript and 77 of its files had such a character, so a daemon
// held ~1.3 MiB of source text; it now holds about a third of that (bench/RESULTS.md, fourteenth session).
// Identifiers are kept, so stack traces still name drover's functions. esbuild keeps doc comments (/** */):
// with every string and regular expression escaped to ASCII, a character beyond ASCII that is left can only
// be in one of those, and becomes '?' (one UTF-16 unit for one, so the source maps' columns still hold).
import { build } from 'esbuild';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../dist/src/', import.meta.url));
const files = readdirSync(root, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.js'))
  .map((f) => join(root, f));

const { outputFiles } = await build({
  entryPoints: files,
  write: false,
  outdir: root,
  outbase: root,
  allowOverwrite: true,
  bundle: false,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  charset: 'ascii',
  legalComments: 'none',
  sourcemap: 'linked',
  logLevel: 'warning',
});
for (const out of outputFiles) writeFileSync(out.path, out.path.endsWith('.js') ? out.text.replace(/[^\x00-\x7f]/g, '?') : out.text);
