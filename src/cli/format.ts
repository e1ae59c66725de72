// Text output helpers for the CLI: whether to colour (only on a terminal, never with NO_COLOR), elapsed
// times, plurals. State words, durations, sizes and aligned tables are in control/status-text.ts, which
// the daemon writes the status table with too. ANSI codes only; no dependency.
import type { CommandContext } from './command.js';

/** Whether to colour output: stdout is a terminal and NO_COLOR is unset or empty (no-color.org). */
export function useColor(ctx: Pick<CommandContext, 'isTTY' | 'env'>): boolean {
  return ctx.isTTY && !ctx.env['NO_COLOR'];
}

/** Wraps text in an SGR code when `color`. */
export function paint(text: string, code: string, color: boolean): string {
  return color ? `\x1b[${code}m${text}\x1b[0m` : text;
}

/** Seconds with one decimal: "2.3s". */
export function formatElapsed(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/** "1 process" / "3 processes". */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

/** A process as `status` and supervisorctl show it: `name` where its group is named after it, else `group:name`. */
export function shownKey(key: string): string {
  const colon = key.indexOf(':');
  return colon > 0 && key.slice(0, colon) === key.slice(colon + 1) ? key.slice(colon + 1) : key;
}
