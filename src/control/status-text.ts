// The table `drover status` prints, and the text helpers it is made of. It lives here, beside the wire
// types, because two sides write it: drover answers GET /api/status with it, so the CLI prints a table of
// 1000 processes without parsing 0.4 MB of JSON for it; and the CLI writes it from /api/processes when the
// drover it talks to predates that endpoint. One function for both keeps the two tables the same.
import type { ProcessJson } from './wire.js';

/** What a status row is made of: the fields of a process object the table shows. */
export type StatusSource = Pick<
  ProcessJson,
  'name' | 'group' | 'process' | 'state' | 'pid' | 'uptime_ms' | 'restarts' | 'cpu_percent' | 'rss_bytes' | 'exit_status' | 'spawn_error' | 'stopped_at' | 'waiting' | 'health' | 'role'
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

/** The table of `rows` under its header line ("no processes" for none): what `table` lays out, written column by column. */
export function statusTable(rows: readonly StatusRow[]): string {
  if (rows.length === 0) return 'no processes\n';
  // The daemon writes this per request for every process, in lite mode (no optimizing compiler): laid out
  // here with one measure per cell and no row arrays, it takes half the time `table` takes (1000 rows:
  // ~1.9 against ~3.9 ms in a fresh Node with the daemon's flags); a unit test compares the two on random rows.
  const uptimes: string[] = [];
  const widths = STATUS_HEADER.map((h) => h.length);
  const measured: number[] = [];
  for (const { cells, uptimeMs } of rows) {
    const uptime = uptimeMs === null ? '-' : formatDuration(uptimeMs);
    uptimes.push(uptime);
    for (let i = 0; i < 7; i++) {
      const n = visibleLength(i === 3 ? uptime : (cells[i < 3 ? i : i - 1] as string));
      measured.push(n);
      if (n > (widths[i] as number)) widths[i] = n;
    }
  }
  const spaces = ' '.repeat(Math.max(...widths) + 2);
  let out = '';
  for (let k = -1; k < rows.length; k++) {
    // cell i of line k: the header for k = -1; column 3 is the uptime, the others the kept cells
    const c = k < 0 ? null : (rows[k] as StatusRow).cells;
    let line = '';
    for (let i = 0; i < 7; i++) {
      const cell = c === null ? (STATUS_HEADER[i] as string) : i === 3 ? (uptimes[k] as string) : (c[i < 3 ? i : i - 1] as string);
      const n = c === null ? cell.length : (measured[k * 7 + i] as number);
      line += cell + spaces.slice(0, (widths[i] as number) - n + 2);
    }
    out += `${(line + (c === null ? '' : (c[6] as string))).trimEnd()}\n`;
  }
  return out;
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

// --- internal ---

const STATUS_HEADER = ['NAME', 'STATE', 'PID', 'UPTIME', 'RESTARTS', 'CPU%', 'RSS', ''];


/** The last column: why a process is as it is, when there is more to say than its state. */
function detail(p: StatusSource): string {
  // a spare is loaded and accepts nothing until a worker leaves; its state stays supervisor's word
  if (p.role === 'spare' && p.state !== 'stopped' && p.state !== 'fatal') return 'spare (accepts nothing until it takes over)';
  if (p.waiting) return p.waiting;
  if (p.health && (p.state === 'running' || p.state === 'stopping')) return p.health;
  if (p.spawn_error && (p.state === 'fatal' || p.state === 'backoff')) return p.spawn_error;
  if ((p.state === 'exited' || p.state === 'fatal' || p.state === 'backoff') && p.exit_status !== null) {
    return `exit status ${p.exit_status}`;
  }
  if (p.state === 'stopped' && p.stopped_at) return `since ${p.stopped_at.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}`;
  return '';
}
