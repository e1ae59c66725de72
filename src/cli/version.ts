// drover's version, read once from package.json.
import { readFileSync } from 'node:fs';

let cached: string | null = null;

/** The version in package.json. */
export function droverVersion(): string {
  if (cached === null) {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    cached = pkg.version;
  }
  return cached;
}
