// Text output helpers for the CLI: whether to colour (only on a terminal, never with NO_COLOR or TERM=dumb), elapsed
// times, plurals. State words, durations, sizes and aligned tables are in control/status-text.ts, which
// the daemon writes the status table with too. ANSI codes only; no dependency.
import type { CommandContext } from './command.js';

/** Whether to colour output: stdout is a terminal that is not TERM=dumb, and NO_COLOR is unset or empty (no-color.org). */
export function useColor(ctx: Pick<CommandContext, 'isTTY' | 'env'>): boolean {
  return isCapableTerminal(ctx) && !ctx.env['NO_COLOR'];
}

/**
 * Whether stdout is a terminal that takes escape sequences (a progress line rewritten in place with
 * `\r\x1b[2K`): a terminal, and not one that says it is dumb (TERM=dumb: Emacs' shell buffer, some CI
 * consoles and editors' output panes print the codes as text).
 */
export function isCapableTerminal(ctx: Pick<CommandContext, 'isTTY' | 'env'>): boolean {
  return ctx.isTTY && ctx.env['TERM'] !== 'dumb';
}

/** Prints a value as --json prints it: indented JSON and a newline, on stdout (cli/remote.ts's printJson). */
export function printJson(ctx: Pick<CommandContext, 'stdout'>, value: unknown): void {
  ctx.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
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
