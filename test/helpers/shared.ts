// Worker modules written by tests import 'drover' by name: link the package into the temp dir.
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './paths.js';

/** Makes `import ... from 'drover'` resolve to this repository from modules in `dir`. */
export function linkDrover(dir: string): void {
  mkdirSync(join(dir, 'node_modules'), { recursive: true });
  symlinkSync(repoRoot, join(dir, 'node_modules', 'drover'));
}
