// Checking logs written from test/fixtures/programs/numbered-lines.mjs: every line present exactly once, none torn.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';

/** The payload length numbered-lines.mjs writes for line n. */
export function payloadLength(n: number, longEvery = 0, longBytes = 0): number {
  return longEvery > 0 && n % longEvery === 0 ? longBytes : ((n * 7) % 90) + 1;
}

export interface LineCheck {
  /** lines seen, by number */
  readonly seen: Map<number, number>;
  /** lines that do not match the fixture's format (torn or merged) */
  readonly torn: string[];
  /** numbers missing in 1..count */
  readonly missing: number[];
  /** numbers seen more than once */
  readonly duplicated: number[];
}

/** Checks the text of all files together; `strip` removes a prefix (a timestamp) before matching. */
export function checkNumberedLines(texts: readonly string[], count: number, opts: { longEvery?: number; longBytes?: number; strip?: RegExp } = {}): LineCheck {
  const seen = new Map<number, number>();
  const torn: string[] = [];
  for (const text of texts) {
    if (text.length > 0 && !text.endsWith('\n')) torn.push(`(file does not end with a newline: …${text.slice(-40)})`);
    for (const raw of text.split('\n')) {
      if (raw === '') continue;
      const line = opts.strip ? raw.replace(opts.strip, '') : raw;
      const m = /^L(\d+) ([a-j]+)$/.exec(line);
      const n = m ? Number(m[1]) : NaN;
      if (!m || (m[2] ?? '').length !== payloadLength(n, opts.longEvery, opts.longBytes)) {
        torn.push(line.length > 80 ? `${line.slice(0, 80)}…` : line);
        continue;
      }
      seen.set(n, (seen.get(n) ?? 0) + 1);
    }
  }
  const missing: number[] = [];
  const duplicated: number[] = [];
  for (let n = 1; n <= count; n++) {
    const c = seen.get(n) ?? 0;
    if (c === 0) missing.push(n);
    if (c > 1) duplicated.push(n);
  }
  return { seen, torn, missing, duplicated };
}

/** A log file and its backups (file.1 …, gzipped or not), oldest first, live file last. */
export function logAndBackups(file: string): string[] {
  const dir = dirname(file);
  const base = basename(file);
  const backups = readdirSync(dir)
    .map((f) => ({ f, m: new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(\\d+)(\\.gz)?$`).exec(f) }))
    .filter((x) => x.m !== null)
    .sort((a, b) => Number(b.m?.[1]) - Number(a.m?.[1]))
    .map((x) => join(dir, x.f));
  return existsSync(file) ? [...backups, file] : backups;
}

/** The text of a log file, gunzipped when it ends in .gz. */
export function readLogText(file: string): string {
  const data = readFileSync(file);
  return (file.endsWith('.gz') ? gunzipSync(data) : data).toString('utf8');
}

/** Short summary of a LineCheck for assertion messages. */
export function describeCheck(c: LineCheck): string {
  return `missing ${c.missing.length} (first ${c.missing.slice(0, 5).join(',')}), duplicated ${c.duplicated.length} (first ${c.duplicated.slice(0, 5).join(',')}), torn ${c.torn.length} (first ${JSON.stringify(c.torn.slice(0, 3))})`;
}
