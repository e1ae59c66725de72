// A reload's [socket:x] sections (part of the one reload, src/daemon/reload.ts). Before the programs change,
// a socket the file adds is bound and one whose settings changed is bound anew beside the old; a socket that
// cannot be bound fails the reload for the programs that name it, and nothing else. A program that uses a
// changed socket counts as changed: it is restarted (a pool is rolled) onto the new socket. The old socket,
// and one the file removed, is closed once those programs have moved or stopped. An unchanged socket is
// left exactly as it is, so nothing queued on it is lost.
import type { Config, ProcessSpec, SocketSpec } from '../config/types.js';
import { processKey, type ProcessChange } from '../config/diff.js';
import { STOPPED_STATES } from '../core/states.js';
import type { Supervisor } from '../core/supervisor.js';
import type { CommandOutcome } from '../core/types.js';
import type { Logger } from '../logs/logger.js';
import { SocketBindError, type SocketSet } from '../prefork/sockets.js';

export interface SocketChanges {
  readonly added: readonly string[];
  /** bound anew: their settings changed */
  readonly changed: readonly string[];
  readonly removed: readonly string[];
  /** added or changed sockets that could not be bound: name → why (the old one, if any, stays) */
  readonly failed: ReadonlyMap<string, string>;
}

/** Binds the sockets `config` adds or changes and retires those it removes; says what it did in the log. */
export function bindSocketChanges(sockets: SocketSet, config: Config, logger: Logger, cause: string): SocketChanges {
  const now = new Map(sockets.list().map((s) => [s.spec.name, s.spec]));
  const added: string[] = [];
  const changed: string[] = [];
  const failed = new Map<string, string>();
  for (const spec of config.sockets) {
    const was = now.get(spec.name);
    if (was !== undefined && sameSocket(was, spec)) continue;
    try {
      sockets.rebind(spec);
    } catch (err) {
      if (!(err instanceof SocketBindError)) throw err;
      failed.set(spec.name, err.message);
      logger.error(`${cause}: ${err.message}${was ? '; it stays as it was' : ''}`);
      continue;
    }
    (was ? changed : added).push(spec.name);
    logger.info(`${cause}: socket ${spec.name}: ${was ? 'bound anew' : 'listening'} on ${sockets.get(spec.name)?.address ?? '?'} (${was ? 'changed' : 'added'})`);
  }
  const removed = [...now.keys()].filter((name) => !config.sockets.some((s) => s.name === name));
  for (const name of removed) {
    sockets.remove(name);
    logger.info(`${cause}: socket ${name}: removed; closed once the programs that used it have stopped`);
  }
  return { added, changed, removed, failed };
}

/**
 * Binds the sockets that `group`'s programs name and that are not bound yet (supervisor's addProcessGroup,
 * after a reread that no reload followed); what is already bound is left as it is.
 */
export function bindForGroup(sockets: SocketSet, config: Config, group: string, logger: Logger, cause: string): void {
  const named = new Set(config.processes.filter((p) => p.group === group).flatMap((p) => p.sockets));
  for (const spec of config.sockets) {
    if (!named.has(spec.name) || sockets.get(spec.name) !== undefined) continue;
    try {
      sockets.rebind(spec);
      logger.info(`${cause}: socket ${spec.name}: listening on ${sockets.get(spec.name)?.address ?? '?'} (added with group ${group})`);
    } catch (err) {
      // its programs then fail to start, saying their socket is not bound
      if (!(err instanceof SocketBindError)) throw err;
      logger.error(`${cause}: ${err.message}`);
    }
  }
}

/**
 * The config a reload applies when some sockets failed: a program naming one keeps the spec it runs with
 * (one the reload would add is left out, its group too if that leaves it empty), and each gets a failed
 * outcome (the reload exits 1). A failed socket no program names gets one of its own.
 */
export function withoutFailedSockets(config: Config, changes: SocketChanges, running: ReadonlyMap<string, ProcessSpec>): { config: Config; outcomes: CommandOutcome[] } {
  if (changes.failed.size === 0) return { config, outcomes: [] };
  const outcomes: CommandOutcome[] = [];
  const named = new Set<string>();
  const processes: ProcessSpec[] = [];
  for (const p of config.processes) {
    const bad = p.sockets.find((name) => changes.failed.has(name));
    if (bad === undefined) {
      processes.push(p);
      continue;
    }
    named.add(bad);
    const was = running.get(processKey(p));
    if (was) processes.push(was);
    const what = was ? 'not changed, it runs on as it was' : 'not added';
    outcomes.push({ key: processKey(p), ok: false, code: 'E_SPAWN', message: `${what}: its socket ${bad} could not be bound: ${changes.failed.get(bad) ?? ''}` });
  }
  for (const [name, why] of changes.failed) if (!named.has(name)) outcomes.push({ key: `socket:${name}`, ok: false, code: 'E_SPAWN', message: why });
  const groups = config.groups.filter((g) => processes.some((p) => p.group === g.name) || !config.processes.some((p) => p.group === g.name));
  return { config: { ...config, processes, groups }, outcomes };
}

/** The processes of `config` that name a socket bound anew, with their running spec: they move onto it. */
export function usersOfChanged(config: Config, changes: SocketChanges, running: ReadonlyMap<string, ProcessSpec>): ProcessChange[] {
  if (changes.changed.length === 0) return [];
  return config.processes.flatMap((after) => {
    const before = running.get(processKey(after));
    return before && after.sockets.some((name) => changes.changed.includes(name)) ? [{ before, after }] : [];
  });
}

/** Restarts the processes among `keys` that are up (a stopped one gets the new socket at its next start). */
export async function restartOntoNewSockets(supervisor: Supervisor, keys: readonly string[]): Promise<CommandOutcome[]> {
  const up = supervisor
    .snapshot()
    .filter((p) => keys.includes(p.key) && !STOPPED_STATES.has(p.record.state))
    .map((p) => p.key);
  if (up.length === 0) return [];
  await supervisor.command({ type: 'stop', keys: up, wait: true, forRestart: true });
  const started = await supervisor.command({ type: 'start', keys: up, wait: false });
  return up.map((key) => started.find((o) => o.key === key && !o.ok) ?? { key, ok: true, message: 'restarted: its socket changed' });
}

/** Whether two [socket:x] sections would bind the same socket (their place in the file and their label do not count). */
export function sameSocket(a: SocketSpec, b: SocketSpec): boolean {
  return JSON.stringify({ ...a, source: null, label: null }) === JSON.stringify({ ...b, source: null, label: null });
}
