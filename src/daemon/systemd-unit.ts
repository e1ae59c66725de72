// The systemd unit `drover unit` prints for a config, and the stop budget that both the unit's
// TimeoutStopSec and a Kubernetes pod's terminationGracePeriodSeconds must cover. Pure: paths come in
// resolved, text comes out (docs/systemd.md explains each line).
import type { GroupSpec, ProcessSpec } from '../config/types.js';

/**
 * A warning for each program whose `user =` is not `self` (who prints the user unit): a user manager runs
 * drover as its own user, who cannot switch to another, so the program would end fatal and READY=1 never
 * come. Root is warned too: a user unit printed as root is mostly installed for another user's manager
 * (/etc/systemd/user, sudo). `uidOf` resolves a name or uid (null: unknown).
 */
export function userUnitWarnings(
  processes: readonly ProcessSpec[],
  self: { readonly uid: number; readonly name: string },
  uidOf: (user: string) => number | null,
): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const p of processes) {
    if (p.user === null || seen.has(p.programName)) continue;
    seen.add(p.programName);
    if (uidOf(p.user) === self.uid) continue;
    out.push(
      `program "${p.programName}" has user = ${p.user}, but a user manager runs drover as its own user (you: ${self.name}), ` +
        `who cannot switch users: "${p.programName}" would end fatal, READY=1 would never come, and systemd would fail ` +
        `the start after TimeoutStartSec. Print a system unit (without --user), or remove that user =`,
    );
  }
  return out;
}

/** Added to the stop budget: drover's own exit after the last program (control server grace, log flush). */
export const STOP_MARGIN_SECS = 10;

/** systemd's default hard RLIMIT_NOFILE (since v240); kept so programs may still raise their own soft limit. */
const SYSTEMD_DEFAULT_NOFILE_HARD = 524288;

export interface UnitOptions {
  /** unit name without ".service", e.g. "drover" */
  readonly name: string;
  /** a user unit (`systemctl --user`) instead of a system one */
  readonly user: boolean;
  /** absolute path of the node binary */
  readonly nodePath: string;
  /** absolute path of drover's bin/drover.js */
  readonly droverPath: string;
  /** absolute path of the config file */
  readonly configPath: string;
  /** WorkingDirectory= */
  readonly workingDirectory: string;
  /** [supervisord] minfds */
  readonly minfds: number;
  /** TimeoutStopSec=, seconds */
  readonly stopTimeoutSecs: number;
  /** WatchdogSec=, seconds; null for none */
  readonly watchdogSecs: number | null;
  /** drover's version, for the header comment */
  readonly version: string;
}

/**
 * Seconds a graceful shutdown may take at most: drover stops one level (group priority, priority) at a
 * time, each level ends by its largest stopwaitsecs at the latest (then SIGKILL), so the levels' maxima add
 * up; plus a margin.
 */
export function stopBudgetSecs(config: {
  readonly processes: readonly Pick<ProcessSpec, 'group' | 'priority' | 'stopWaitSecs'>[];
  readonly groups?: readonly Pick<GroupSpec, 'name' | 'priority'>[];
}): number {
  const groupPriority = new Map((config.groups ?? []).map((g) => [g.name, g.priority]));
  const perLevel = new Map<string, number>();
  for (const p of config.processes) {
    const level = `${groupPriority.get(p.group) ?? p.priority}/${p.priority}`;
    perLevel.set(level, Math.max(perLevel.get(level) ?? 0, p.stopWaitSecs));
  }
  let total = 0;
  for (const secs of perLevel.values()) total += secs;
  return Math.ceil(total) + STOP_MARGIN_SECS;
}

/** The unit file's text. */
export function renderSystemdUnit(o: UnitOptions): string {
  const drover = (...args: string[]): string => [o.nodePath, o.droverPath, ...args].map((a, i) => quoteExecArg(a, i === 0)).join(' ');
  const nofileHard = Math.max(o.minfds, SYSTEMD_DEFAULT_NOFILE_HARD);
  const scope = o.user ? '--user ' : '';
  const dir = o.user ? '~/.config/systemd/user' : '/etc/systemd/system';
  const lines = [
    `# ${o.name}.service: drover for ${o.configPath}`,
    `# written by \`drover unit\` (drover ${o.version}); docs/systemd.md explains each setting. Install with`,
    `#   drover unit -c ${o.configPath}${o.user ? ' --user' : ''} --name ${o.name} > ${dir}/${o.name}.service`,
    `#   systemctl ${scope}daemon-reload && systemctl ${scope}enable --now ${o.name}.service`,
    '',
    '[Unit]',
    `Description=drover process supervisor (${escapeSpecifiers(o.configPath)})`,
    // a user manager has no network targets; a system service's programs usually bind or connect at start
    ...(o.user ? [] : ['After=network-online.target', 'Wants=network-online.target']),
    '',
    '[Service]',
    // drover sends READY=1 once every autostart program runs, RELOADING=1 … READY=1 around a reload,
    // STOPPING=1 at shutdown and, after a USR2 re-exec, MAINPID= from the new master: hence NotifyAccess=all
    'Type=notify',
    'NotifyAccess=all',
    `ExecStart=${drover('up', '-c', o.configPath)}`,
    // synchronous: `systemctl reload` returns once the reload is applied, and fails when it failed
    `ExecReload=${drover('reload', '-c', o.configPath)}`,
    // SIGTERM to drover alone, which stops the programs in reverse priority with their own stopsignal;
    // SIGKILL to everything left in the cgroup once TimeoutStopSec has passed
    'KillMode=mixed',
    `TimeoutStopSec=${o.stopTimeoutSecs}`,
    'Restart=on-failure',
    'RestartSec=1s',
    `LimitNOFILE=${o.minfds >= nofileHard ? String(o.minfds) : `${o.minfds}:${nofileHard}`}`,
    ...(o.watchdogSecs !== null ? [`WatchdogSec=${o.watchdogSecs}`] : []),
    `WorkingDirectory=${escapeSpecifiers(o.workingDirectory)}`,
    `SyslogIdentifier=${o.name}`,
    '',
    '[Install]',
    `WantedBy=${o.user ? 'default.target' : 'multi-user.target'}`,
    '',
  ];
  return lines.join('\n');
}

/** A valid unit name (without ".service") or an error message saying why not. */
export function checkUnitName(name: string): string | null {
  if (!/^[A-Za-z0-9:_.\\-]+$/.test(name) || name.length > 200) {
    return `--name must be a unit name of letters, digits and ":_.\\-" (at most 200), got ${JSON.stringify(name)}`;
  }
  return null;
}

// --- internal ---

/** `%` starts a specifier in every unit setting; `%%` is a literal percent sign. */
function escapeSpecifiers(s: string): string {
  return s.replace(/%/g, '%%');
}

/**
 * One word of an Exec*= line: as is when plain, else double-quoted with C escapes (systemd.service(5),
 * "Command lines"). `%` is doubled everywhere (specifiers are expanded inside quotes too); `$` is doubled in
 * the arguments only, since systemd expands no variable in the executable's path (it passes "$$" on as is).
 */
function quoteExecArg(arg: string, isExecutable: boolean): string {
  const literal = isExecutable ? arg.replace(/%/g, '%%') : arg.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (/^[A-Za-z0-9_@+=:,./%$-]+$/.test(literal)) return literal;
  return `"${literal.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\t/g, '\\t')}"`;
}
