// Locations the tests need, independent of where the compiled test file lives (dist/test/...).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRepoRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'src'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no repository root above ${start}`);
    dir = parent;
  }
}

/** the repository root (holds package.json, src/, test/) */
export const repoRoot = findRepoRoot(dirname(fileURLToPath(import.meta.url)));
/** test/fixtures in the source tree (fixtures are not compiled) */
export const fixturesDir = join(repoRoot, 'test', 'fixtures');
/** the drover launcher */
export const droverBin = join(repoRoot, 'bin', 'drover.js');
