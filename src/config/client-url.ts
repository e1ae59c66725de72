// `[supervisorctl] serverurl`, read the same by the full loader and by the CLI's short reading of the
// control sections: a file of its own, so neither of them imports the other for it.
import { resolve } from 'node:path';
import { expandUser } from './datatypes.js';

/**
 * `[supervisorctl] serverurl` as the CLI uses it: null for unset or AUTO (then the config's own control
 * socket), a unix:// path made absolute against the config's directory (supervisor's normalize_path, and
 * drover's rule for relative paths), anything else as written.
 */
export function clientServerUrl(value: string | null, here: string): string | null {
  if (value === null || value.trim().toUpperCase() === 'AUTO') return null;
  return value.startsWith('unix://') ? `unix://${resolve(here, expandUser(value.slice('unix://'.length)))}` : value;
}
