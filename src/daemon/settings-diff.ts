// What a reload does with the config outside the programs: which settings it applies in place (the control
// listeners' credentials, mode, owner and host names; identifier) and which wait for drover's next start
// (everything drover sets up once: its listeners' addresses, runtime directory, hooks, shared backend…).
// supervisord rebuilds most of these at SIGHUP; drover keeps its processes and sockets across a reload, so
// it says, key by key, what it did not apply (docs/config.md, "What a reload applies").
import type { Config, SupervisordSpec } from '../config/types.js';
import { controlSocketPath } from './paths.js';

export interface SettingChange {
  /** one line for the log and the CLI, naming the section, the key and (unless secret) both values */
  readonly line: string;
  /** true: the reload applies it; false: it waits for the next start of drover */
  readonly applied: boolean;
}

/** What a USR2 re-exec and a restart apply that a reload does not. */
export const AT_NEXT_START = 'applies at the next start of drover (USR2 re-execs it without stopping the programs)';

/**
 * [supervisord] keys drover sets up once, as the config names them and as Config holds them (the own-log
 * keys, environment and identifier are handled apart: reload.ts, the launcher, and the reload itself).
 */
const AT_START_KEYS: readonly (readonly [string, keyof SupervisordSpec])[] = [
  ['pidfile', 'pidfile'],
  ['umask', 'umask'],
  ['minfds', 'minfds'],
  ['minprocs', 'minprocs'],
  ['nocleanup', 'nocleanup'],
  ['childlogdir', 'childlogdir'],
  ['user', 'user'],
  ['directory', 'directory'],
  ['silent', 'silent'],
  ['runtime_dir', 'runtimeDir'],
  ['hooks', 'hooks'],
  ['journal', 'journal'],
  ['journal_fsync', 'journalFsync'],
  ['shared_backend', 'sharedBackend'],
  ['shared_prefix', 'sharedPrefix'],
  ['shared_liveness', 'sharedLivenessMs'],
  ['reexec_timeout', 'reexecTimeoutMs'],
  ['shared_max_bytes', 'sharedMaxBytes'],
];

/**
 * The settings `file` changes. `started`: the config drover started with (what waits for the next start is
 * compared with it, so a reload keeps saying so); `current`: the one the last reload applied (or `started`).
 */
export function diffSettings(started: Config, current: Config, file: Config): SettingChange[] {
  const out: SettingChange[] = [];
  const pending = (what: string): void => void out.push({ line: `${what}: ${AT_NEXT_START}`, applied: false });
  const applied = (what: string, how = 'applied'): void => void out.push({ line: `${what}: ${how}`, applied: true });
  for (const [key, field] of AT_START_KEYS) {
    const was = started.supervisord[field];
    const now = file.supervisord[field];
    if (was !== now) pending(`[supervisord] ${key} changed (${show(was)} → ${show(now)})`);
  }
  if (current.supervisord.identifier !== file.supervisord.identifier) {
    applied(`[supervisord] identifier changed (${show(current.supervisord.identifier)} → ${show(file.supervisord.identifier)})`, 'applied (getIdentification, /metrics and event headers use it now; AUTO log names keep the one drover started with)');
  }
  // [unix_http_server]: the socket stays where it was bound; its settings follow when the path is the same
  const pathWas = controlSocketPath(started);
  const pathNow = controlSocketPath(file);
  if (pathWas !== pathNow) {
    pending(`[unix_http_server] file changed (${pathWas} → ${pathNow}); drover answers at ${pathWas} until then`);
  } else {
    const was = current.unixHttpServer;
    const now = file.unixHttpServer;
    const keys: string[] = [];
    if ((was?.chmod ?? 0o600) !== (now?.chmod ?? 0o600)) keys.push(`chmod (${octal(was?.chmod ?? 0o600)} → ${octal(now?.chmod ?? 0o600)})`);
    if ((was?.chown ?? null) !== (now?.chown ?? null)) keys.push(`chown (${show(was?.chown ?? null)} → ${show(now?.chown ?? null)})`);
    keys.push(...credentialChanges(was, now), ...hostChanges(was, now));
    for (const k of keys) applied(`[unix_http_server] ${k} changed`, 'applied (from the next request)');
  }
  // [inet_http_server]: a listener a reload neither opens, closes nor moves; its settings follow in place
  const inetWas = started.inetHttpServer;
  const inetNow = file.inetHttpServer;
  if (inetWas === null && inetNow !== null) pending(`[inet_http_server] added (port ${address(inetNow)})`);
  else if (inetWas !== null && inetNow === null) pending(`[inet_http_server] removed (port ${address(inetWas)}); drover listens there until then`);
  else if (inetWas !== null && inetNow !== null && address(inetWas) !== address(inetNow)) {
    pending(`[inet_http_server] port changed (${address(inetWas)} → ${address(inetNow)})`);
  } else if (inetNow !== null) {
    const was = current.inetHttpServer;
    for (const k of [...credentialChanges(was, inetNow), ...hostChanges(was, inetNow)]) applied(`[inet_http_server] ${k} changed`, 'applied (from the next request)');
  }
  return out;
}

// --- internal ---

type Server = { readonly username: string | null; readonly password: string | null; readonly allowedHosts: readonly string[] } | null;

/** username and password changes; a password is never shown */
function credentialChanges(was: Server, now: Server): string[] {
  const out: string[] = [];
  if ((was?.username ?? null) !== (now?.username ?? null)) out.push(`username (${show(was?.username ?? null)} → ${show(now?.username ?? null)})`);
  const pw = was?.password ?? null;
  const np = now?.password ?? null;
  if (pw !== np) out.push(pw === null ? 'password (none → set)' : np === null ? 'password (set → none)' : 'password');
  return out;
}

function hostChanges(was: Server, now: Server): string[] {
  const a = (was?.allowedHosts ?? []).join(',');
  const b = (now?.allowedHosts ?? []).join(',');
  return a === b ? [] : [`allowed_hosts (${a || 'none'} → ${b || 'none'})`];
}

function address(s: { readonly host: string; readonly port: number }): string {
  return `${s.host.includes(':') ? `[${s.host}]` : s.host}:${s.port}`;
}

function octal(mode: number): string {
  return `0${mode.toString(8)}`;
}

function show(v: unknown): string {
  return v === null || v === undefined ? 'unset' : typeof v === 'string' ? v : JSON.stringify(v);
}
