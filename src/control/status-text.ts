// The table `drover status` prints, and the text helpers it is made of. It lives here, beside the wire
// types, because two sides write it: drover answers GET /api/status with it, so the CLI prints a table of
// 1000 processes without parsing 0.4 MB of JSON for it; and the CLI writes it from /api/processes when the
// drover it talks to predates that endpoint. One function for both keeps the two tables the same.
import type { ProcessJson } from './wire.js';

/** What a status row is made of: the fields of a process object the table shows. */
export type StatusSource = Pick<
  ProcessJson,
  'name' | 'group' | 'process' | 'state' | 'pid' | 'uptime_ms' | 'restarts' | 'cpu_percent' | 'rss_bytes' | 'exit_status' | 'exit_signal' | 'spawn_error' | 'stopped_at' | 'waiting' | 'health' | 'role'
>;

/** The status table of `procs` ("no processes" for none); state words in colour when `color`. */
export function statusText(procs: readonly StatusSource[], color: boolean): string {
  return statusTable(procs.map((p) => ({ cells: statusCells(p, color), uptimeMs: p.uptime_ms })));
}

/** One row of the table: its cells but the uptime, which moves with the clock, and the uptime. */
export interface StatusRow {
  /** what statusCells returns; a caller may keep it while the process does not change */
  readonly cells: readonly string[];
  readonly uptimeMs: number | null;
}

/** The cells of a process's row in column order, the uptime left out. */
export function statusCells(p: StatusSource, color: boolean): readonly string[] {
  return [
    p.group === p.process ? p.process : p.name,
    paintState(p.state, color),
    p.pid === null ? '-' : String(p.pid),
    String(p.restarts),
    p.cpu_percent === null ? '-' : p.cpu_percent.toFixed(1),
    p.rss_bytes === null ? '-' : formatBytes(p.rss_bytes),
    detail(p),
  ];
}

/** The table of `rows` under its header line ("no processes" for none). */
export function statusTable(rows: readonly StatusRow[]): string {
  if (rows.length === 0) return 'no processes\n';
  const lines: string[][] = [['NAME', 'STATE', 'PID', 'UPTIME', 'RESTARTS', 'CPU%', 'RSS', '']];
  for (const { cells: c, uptimeMs } of rows) {
    lines.push([c[0], c[1], c[2], uptimeMs === null ? '-' : formatDuration(uptimeMs), c[3], c[4], c[5], c[6]] as string[]);
  }
  return table(lines);
}

const SGR: Record<string, string> = {
  running: '32', // green
  starting: '36', // cyan
  stopping: '36',
  backoff: '31', // red
  fatal: '1;31', // bold red
  unknown: '1;31',
  exited: '33', // yellow
  stopped: '2', // dim
};

/** A state word, coloured when `color`. */
export function paintState(state: string, color: boolean): string {
  const code = SGR[state];
  return color && code ? `\x1b[${code}m${state}\x1b[0m` : state;
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
  // One measure per cell, kept, and padding cut from one string of spaces: the daemon lays out a row per
  // process for every `drover status`, in lite mode (no optimizing compiler), where this takes 2.5 ms for
  // 1000 rows against 3.9 ms padding each cell with padEnd (a unit test compares it with that plain form).
  const widths: number[] = [];
  const lengths: number[] = [];
  for (const r of rows) {
    for (let i = 0; i < r.length; i++) {
      const n = visibleLength(r[i] as string);
      lengths.push(n);
      const w = widths[i];
      if (w === undefined || w < n) widths[i] = n;
    }
  }
  const spaces = ' '.repeat(Math.max(0, ...widths) + 2);
  let out = '';
  let at = 0;
  for (const r of rows) {
    const last = r.length - 1;
    let line = '';
    for (let i = 0; i < last; i++) line += (r[i] as string) + spaces.slice(0, (widths[i] as number) - (lengths[at + i] as number) + 2);
    at += r.length;
    out += `${(last >= 0 ? line + (r[last] as string) : line).trimEnd()}\n`;
  }
  return out;
}

// --- internal ---


/** The last column: why a process is as it is, when there is more to say than its state. */
function detail(p: StatusSource): string {
  // a spare is loaded and accepts nothing until a worker leaves; its state stays supervisor's word
  if (p.role === 'spare' && p.state !== 'stopped' && p.state !== 'fatal') return 'spare (accepts nothing until it takes over)';
  if (p.waiting) return p.waiting;
  if (p.state === 'unknown') return 'its stop signal was refused (EPERM): out of drover\'s reach';
  if (p.health && (p.state === 'running' || p.state === 'stopping')) return p.health;
  if (p.spawn_error && (p.state === 'fatal' || p.state === 'backoff')) return p.spawn_error;
  if ((p.state === 'exited' || p.state === 'fatal' || p.state === 'backoff') && p.exit_status !== null) {
    // supervisor reports a death by signal as exit status -1; say which signal
    return p.exit_signal ? `terminated by SIG${p.exit_signal}` : `exit status ${p.exit_status}`;
  }
  if (p.state === 'stopped' && p.stopped_at) return `since ${p.stopped_at.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}`;
  return '';
}
