// Where drover looks for its config when none is given. Kept free of the loader, so that the CLI can find
// a running drover without loading the whole config reader.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** The names drover looks for in a directory, in order: a typed config first, then the INI names. */
export const CONFIG_FILE_NAMES = ['drover.config.ts', 'drover.config.mts', 'drover.config.mjs', 'drover.config.js', 'drover.ini', 'drover.conf', 'supervisord.conf'] as const;

/** The file name endings of a typed config (a module whose default export is the config). */
export const TYPED_CONFIG_EXTENSIONS = ['.ts', '.mts', '.mjs', '.js'] as const;

/** Whether `file` is a typed config (by its name); anything else is read as INI. */
export function isTypedConfigFile(file: string): boolean {
  return TYPED_CONFIG_EXTENSIONS.some((ext) => file.endsWith(ext));
}

/** The first of CONFIG_FILE_NAMES in `cwd`, or null. */
export function findConfigFile(cwd: string): string | null {
  for (const name of CONFIG_FILE_NAMES) {
    const p = join(cwd, name);
    if (existsSync(p)) return p;
  }
  return null;
}
