// Looking up users for `user =`: name or numeric uid → uid, gid, home. Uses getent so NSS sources
// (LDAP, sssd) work as they do for supervisor's pwd.getpwnam.
import { createRequire } from 'node:module';

// child_process is required on the first lookup, not when this module loads: the CLI's lean config reading
// imports this module (through config/datatypes.ts) and looks someone up only for a `~user` path, and
// child_process, with the dgram and socket modules it loads, took ~1 ms of every `drover status`
const requireBuiltin = createRequire(import.meta.url);

/**
 * `getent DB KEY`'s output; throws as execFileSync does (status 2: no such key). Where there is no getent
 * (a minimal image: distroless, busybox without it), the entry is read from /etc/passwd or /etc/group,
 * which is all such an image has.
 */
function getent(db: 'passwd' | 'group', key: string): string {
  const { execFileSync } = requireBuiltin('node:child_process') as typeof import('node:child_process');
  try {
    return execFileSync('getent', [db, key], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return fileEntry(db, key);
  }
}

/** The line of /etc/DB whose name (or, for a number, whose id) is `key`; throws with status 2 if none. */
function fileEntry(db: 'passwd' | 'group', key: string): string {
  const { readFileSync } = requireBuiltin('node:fs') as typeof import('node:fs');
  const lines = readFileSync(`/etc/${db}`, 'utf8').split('\n');
  // getent matches a name first, then a number as an id (field 3 of both files)
  const byName = lines.find((l) => l.split(':')[0] === key);
  const byId = /^\d+$/.test(key) ? lines.find((l) => l.split(':')[2] === key) : undefined;
  const line = byName ?? byId;
  if (line !== undefined) return `${line}\n`;
  throw Object.assign(new Error(`no ${db} entry ${JSON.stringify(key)} in /etc/${db}`), { status: 2 });
}

export interface UserInfo {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  readonly shell: string;
}

const cache = new Map<string, UserInfo | null>();

/** Resolves a user name or uid; null when there is no such user. */
export function lookupUser(nameOrUid: string): UserInfo | null {
  const hit = cache.get(nameOrUid);
  if (hit !== undefined) return hit;
  let line: string;
  try {
    line = getent('passwd', nameOrUid);
  } catch (err) {
    // getent exits 2 when the key is not found; that is the "no such user" answer
    if ((err as { status?: number }).status === 2) {
      cache.set(nameOrUid, null);
      return null;
    }
    throw err;
  }
  const f = line.trim().split(':');
  const info: UserInfo = {
    name: f[0] ?? nameOrUid,
    uid: Number(f[2]),
    gid: Number(f[3]),
    home: f[5] ?? '/',
    shell: f[6] ?? '/bin/sh',
  };
  cache.set(nameOrUid, info);
  return info;
}

const groupCache = new Map<string, number | null>();

/** Whether a group name or gid exists. */
export function lookupGroup(nameOrGid: string): boolean {
  return lookupGroupId(nameOrGid) !== null;
}

/** The gid of a group name or numeric gid (0 included); null when there is no such group. */
export function lookupGroupId(nameOrGid: string): number | null {
  const hit = groupCache.get(nameOrGid);
  if (hit !== undefined) return hit;
  let gid: number | null;
  try {
    const line = getent('group', nameOrGid);
    // name:password:gid:members
    gid = Number(line.trim().split(':')[2]);
  } catch (err) {
    // getent exits 2 when the key is not found
    if ((err as { status?: number }).status !== 2) throw err;
    gid = null;
  }
  groupCache.set(nameOrGid, gid);
  return gid;
}

/**
 * Runs `fn` with the effective uid, gid and groups of `nameOrUid` (when set, and when this process is
 * root), then gives root's back: files and directories `fn` makes are that user's, and it can reach only
 * what that user can (a link they planted leads nowhere root could write). For `up -d` with `[supervisord]
 * user`, whose launcher makes the runtime directory and daemon.stderr the daemon will own.
 */
export function asUserForFiles<T>(nameOrUid: string | null, fn: () => T): T {
  const u = nameOrUid === null ? null : lookupUser(nameOrUid);
  if (u === null || process.geteuid?.() !== 0 || u.uid === 0) return fn();
  const p = process as NodeJS.Process & { initgroups?: (user: string, extraGroup: number) => void };
  if (!p.initgroups || !p.setgroups || !p.getgroups || !p.setegid || !p.seteuid) return fn();
  const groups = p.getgroups();
  const gid = process.getegid?.() ?? 0;
  p.initgroups(u.name, u.gid);
  p.setegid(u.gid);
  p.seteuid(u.uid);
  try {
    return fn();
  } finally {
    p.seteuid(0);
    p.setegid(gid);
    p.setgroups(groups);
  }
}

/**
 * Makes this process `nameOrUid` (its uid, primary gid and supplementary groups), as supervisord's
 * drop_privileges does for its own `[supervisord] user`: nothing to do when it already runs as that user.
 * Returns null when done, or why it cannot be (no such user; not root), in supervisord's words.
 */
export function switchToUser(nameOrUid: string): string | null {
  const u = lookupUser(nameOrUid);
  if (u === null) return /^\d+$/.test(nameOrUid) ? `Can't find uid ${nameOrUid}` : `Can't find username ${JSON.stringify(nameOrUid)}`;
  const current = process.getuid?.() ?? -1;
  if (current === u.uid) return null;
  if (current !== 0) return "Can't drop privilege as nonroot user";
  // POSIX only, and missing from @types/node 20's Process
  const p = process as NodeJS.Process & { initgroups?: (user: string, extraGroup: number) => void };
  if (!p.initgroups || !p.setgid || !p.setuid) return 'switching users is not supported on this platform';
  // groups and gid first: once the uid is not root, neither can change
  p.initgroups(u.name, u.gid);
  p.setgid(u.gid);
  p.setuid(u.uid);
  return null;
}
