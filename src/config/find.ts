// Where drover looks for its config when none is given. Kept free of the loader, so that the CLI can find
// a running drover without loading the whole config reader.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** The names drover looks for in a directory, in order. */
export const CONFIG_FILE_NAMES = ['drover.ini', 'drover.conf', 'supervisord.conf'] as const;

/** The first of drover.ini, drover.conf, supervisord.conf in `cwd`, or null. */
export function findConfigFile(cwd: string): string | null {
  for (const name of CONFIG_FILE_NAMES) {
    const p = join(cwd, name);
    if (existsSync(p)) return p;
  }
  return null;
}
