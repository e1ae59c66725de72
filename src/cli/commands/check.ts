// `drover check [-c FILE] [--json]`: parse and validate a config, print the resolved processes.
// Problems go to stderr as FILE:LINE: [section] key: message (got …, expected …) and exit 2.
import { parseArgs } from 'node:util';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Command, CommandContext } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { ConfigError, formatConfigProblem } from '../../errors.js';
import { CONFIG_FILE_NAMES, ConfigProblems, findConfigFile, loadConfig } from '../../config/load.js';
import { formatConfigWarning } from '../../config/sources.js';
import { ListenerConfigError, listenerSpecs } from '../../daemon/listeners.js';
import { runtimeDirLinkProblem } from '../../daemon/runtime-dir.js';
import type { Config, ProcessSpec } from '../../config/types.js';

const USAGE = `usage: drover check [-c FILE] [--json]

Parse and validate a config file and print the processes it resolves to.
  -c, --configuration FILE  config file (default: ${CONFIG_FILE_NAMES.join(', ')} in the current directory)
      --json                print {"ok": true, "processes": [...]} with supervisor's option names
  -h, --help                show this help
`;

export const check: Command = async (ctx: CommandContext): Promise<number> => {
  let values: { configuration?: string | undefined; config?: string | undefined; json?: boolean | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args: [...ctx.argv],
      options: {
        // --configuration as in every other command (and supervisord); --config, which check had alone, still works
        configuration: { type: 'string', short: 'c' },
        config: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
      strict: true,
    }));
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    ctx.stderr.write(`drover check: ${message}\n\n${USAGE}`);
    if (ctx.argv.includes('--json')) ctx.stdout.write(`${JSON.stringify({ ok: false, code: 'E_USAGE', message }, null, 2)}\n`);
    return EXIT.USAGE;
  }
  if (values.help) {
    ctx.stdout.write(USAGE);
    return EXIT.OK;
  }
  /** A config that does not pass: each problem on stderr and, with --json, all of them on stdout too. */
  const refuse = (code: 'E_USAGE' | 'E_CONFIG', problems: readonly string[]): number => {
    for (const p of problems) ctx.stderr.write(`${p}\n`);
    if (values.json) ctx.stdout.write(`${JSON.stringify({ ok: false, code, message: problems.join('\n'), problems }, null, 2)}\n`);
    return EXIT.USAGE;
  };
  let file: string | null;
  const given = values.configuration ?? values.config;
  if (given !== undefined) file = isAbsolute(given) ? given : resolve(ctx.cwd, given);
  else file = findConfigFile(ctx.cwd);
  if (file === null) return refuse('E_USAGE', [`drover check: no config file found in ${ctx.cwd} (looked for ${CONFIG_FILE_NAMES.join(', ')}); use -c FILE`]);
  let config: Config;
  try {
    config = loadConfig(file, { env: ctx.env });
  } catch (e) {
    if (e instanceof ConfigProblems) {
      for (const w of e.warnings) ctx.stderr.write(`${formatWarning(w)}\n`);
      return refuse('E_CONFIG', e.problems.map(formatConfigProblem));
    }
    if (e instanceof ConfigError) return refuse('E_CONFIG', [e.message]);
    throw e;
  }
  for (const w of config.warnings) ctx.stderr.write(`${formatWarning(w)}\n`);
  // the control listeners `up` would open: what it refuses (a TCP port without credentials, an unknown
  // chown user) is reported here too
  try {
    listenerSpecs(config);
  } catch (e) {
    if (!(e instanceof ListenerConfigError)) throw e;
    return refuse('E_CONFIG', [`${config.file}: ${e.message}`]);
  }
  // a runtime_dir that is a symbolic link, which `up` refuses (exit 2); checked without creating anything
  const linkProblem = runtimeDirLinkProblem(config.supervisord.runtimeDir);
  if (linkProblem !== null) return refuse('E_CONFIG', [`${config.file}: ${linkProblem}`]);
  if (values.json) {
    ctx.stdout.write(`${JSON.stringify({ ok: true, processes: config.processes.map(toSupervisorJson) }, null, 2)}\n`);
  } else {
    ctx.stdout.write(renderText(config));
  }
  return EXIT.OK;
};

/** A config warning as check, up and reload print it. */
export const formatWarning = formatConfigWarning;

/** One process under supervisor's option names: the shape the differential test compares. */
export function toSupervisorJson(p: ProcessSpec): Record<string, unknown> {
  return {
    group: p.group,
    name: p.name,
    command: p.command,
    priority: p.eventListener?.processPriority ?? p.priority,
    autostart: p.autostart,
    autorestart: p.autorestart,
    startsecs: p.startSecs,
    startretries: p.startRetries,
    exitcodes: [...p.exitCodes],
    stopsignal: p.stopSignal,
    stopwaitsecs: p.stopWaitSecs,
    stopasgroup: p.stopAsGroup,
    killasgroup: p.killAsGroup,
    directory: p.directory,
    umask: p.umask,
    user: p.user,
    environment: { ...p.environment },
    redirect_stderr: p.redirectStderr,
    stdout_logfile: p.stdoutLogfile,
    stdout_logfile_maxbytes: p.stdoutLogfileMaxBytes,
    stdout_logfile_backups: p.stdoutLogfileBackups,
    stderr_logfile: p.stderrLogfile,
    stderr_logfile_maxbytes: p.stderrLogfileMaxBytes,
    stderr_logfile_backups: p.stderrLogfileBackups,
    // fcgi-program processes only (supervisor's FastCGIGroupConfig.socket_config), so other shapes stay as they were
    ...(p.fcgiSocket === null
      ? {}
      : {
          socket: p.fcgiSocket.url,
          socket_backlog: p.fcgiSocket.backlog,
          socket_mode: p.fcgiSocket.mode,
          socket_owner: p.fcgiSocket.owner === null ? null : [p.fcgiSocket.owner.uid, p.fcgiSocket.owner.gid],
        }),
    ...(p.eventListener ? { events: [...p.eventListener.events], buffer_size: p.eventListener.bufferSize } : {}),
  };
}

// --- internal ---

function renderText(config: Config): string {
  const lines: string[] = [`config: ${config.file}`];
  if (config.files.length > 1) lines.push(`included: ${config.files.slice(1).join(', ')}`);
  lines.push(`runtime directory: ${config.supervisord.runtimeDir}`, '');
  const rows = config.processes.map((p) => [
    p.group === p.name ? p.name : `${p.group}:${p.name}`,
    String(p.priority),
    p.autostart ? 'yes' : 'no',
    p.autorestart,
    p.command,
  ]);
  const header = ['PROCESS', 'PRIORITY', 'AUTOSTART', 'AUTORESTART', 'COMMAND'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const fmt = (r: string[]): string => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] as number))).join('  ');
  lines.push(fmt(header), ...rows.map(fmt));
  lines.push('', ...renderLogs(config));
  const fcgi = renderFcgiSockets(config);
  if (fcgi.length > 0) lines.push('', ...fcgi);
  const counts = `${config.processes.length} process${config.processes.length === 1 ? '' : 'es'} in ${config.groups.length} group${config.groups.length === 1 ? '' : 's'}`;
  const warnings = config.warnings.length ? ` (${config.warnings.length} warning${config.warnings.length === 1 ? '' : 's'})` : '';
  // "config OK" only when drover will act on every section it read
  const ignored = [...new Set(config.warnings.filter((w) => w.sectionIgnored).map((w) => `[${w.section}]`))];
  const verdict = ignored.length > 0 ? `config read, but ${ignored.length === 1 ? 'a section is' : `${ignored.length} sections are`} ignored: ${ignored.join(', ')}` : 'config OK';
  lines.push('', `${counts}; ${verdict}${warnings}`);
  return `${lines.join('\n')}\n`;
}

/** Where each process's output goes, with %(program_name)s and friends expanded, as supervisord resolves it. */
function renderLogs(config: Config): string[] {
  const here = dirname(config.file);
  // an AUTO log's name gets random characters at start (NAME-stdout---supervisor-XXXXXXXX.log)
  const auto = `AUTO in ${config.supervisord.childlogdir}`;
  const where = (target: string): string => (target === 'AUTO' ? auto : target === 'NONE' ? 'NONE' : resolve(here, target));
  const rows = config.processes.map((p) => [
    p.group === p.name ? p.name : `${p.group}:${p.name}`,
    where(p.stdoutLogfile),
    p.redirectStderr ? '(into stdout)' : where(p.stderrLogfile),
  ]);
  const header = ['PROCESS', 'STDOUT LOG', 'STDERR LOG'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const fmt = (r: string[]): string => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] as number))).join('  ');
  return [fmt(header), ...rows.map(fmt)];
}

/** Each fcgi-program's socket: created at its first process's start, closed after its last one's stop. */
function renderFcgiSockets(config: Config): string[] {
  const seen = new Map<string, ProcessSpec>();
  for (const p of config.processes) if (p.fcgiSocket !== null && !seen.has(p.group)) seen.set(p.group, p);
  return [...seen.values()].map((p) => {
    const s = p.fcgiSocket;
    if (s === null) return '';
    const extra = [`backlog ${s.backlog ?? 'SOMAXCONN'}`];
    if (s.mode !== null) extra.push(`mode ${s.mode.toString(8).padStart(4, '0')}`);
    if (s.owner !== null) extra.push(`owner ${s.owner.uid}:${s.owner.gid === -1 ? '(unchanged)' : s.owner.gid}`);
    return `fcgi-program ${p.group}: socket ${s.url} (${extra.join(', ')}) as stdin of its ${p.numprocs} process${p.numprocs === 1 ? '' : 'es'}`;
  });
}
