// Text output helpers for the CLI: state colours (only on a terminal, never with NO_COLOR), durations,
// sizes and aligned tables. ANSI codes only; no dependency.
import type { CommandContext } from './command.js';

/** Whether to colour output: stdout is a terminal and NO_COLOR is unset or empty (no-color.org). */
export function useColor(ctx: Pick<CommandContext, 'isTTY' | 'env'>): boolean {
  return ctx.isTTY && !ctx.env['NO_COLOR'];
}

const SGR: Record<string, string> = {
  running: '32', // green
  starting: '36', // cyan
  stopping: '36',
  backoff: '31', // red
  fatal: '1;31', // bold red
  exited: '33', // yellow
  stopped: '2', // dim
};

/** A state word, coloured when `color`. */
export function paintState(state: string, color: boolean): string {
  const code = SGR[state];
  return color && code ? `\x1b[${code}m${state}\x1b[0m` : state;
}

/** Wraps text in an SGR code when `color`. */
export function paint(text: string, code: string, color: boolean): string {
  return color ? `\x1b[${code}m${text}\x1b[0m` : text;
}

/** "3d 4h", "2h 5m", "4m 2s", "12s", "850ms". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** Seconds with one decimal: "2.3s". */
export function formatElapsed(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/** "1.6M", "512K", "3.2G" (binary units, as ps and top print them). */
export function formatBytes(n: number): string {
  const units = ['B', 'K', 'M', 'G', 'T'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${i === 0 || v >= 100 ? Math.round(v) : v.toFixed(1)}${units[i] as string}`;
}

/** Length of a string as shown: ANSI codes take no columns. */
export function visibleLength(s: string): number {
  return s.includes('\x1b') ? s.replace(/\x1b\[[0-9;]*m/g, '').length : s.length;
}

/** Lays out rows in columns separated by two spaces; the last column is not padded. */
export function table(rows: readonly (readonly string[])[]): string {
  // plain loops and one measure per cell: `drover status` lays out a row per process, thousands of them
  const widths: number[] = [];
  for (const r of rows) {
    for (let i = 0; i < r.length; i++) {
      const n = visibleLength(r[i] as string);
      if (!((widths[i] ?? 0) >= n)) widths[i] = n;
    }
  }
  let out = '';
  for (const r of rows) {
    let line = '';
    for (let i = 0; i < r.length; i++) {
      const c = r[i] as string;
      if (i > 0) line += '  ';
      line += i === r.length - 1 ? c : c.padEnd((widths[i] as number) + c.length - visibleLength(c));
    }
    out += `${line.trimEnd()}\n`;
  }
  return out;
}

/** "1 process" / "3 processes". */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}
