// `drover unit [-c FILE] [--user] [--name NAME] [--watchdog SECS]`: print a systemd unit that runs
// `drover up` for this config as a Type=notify service (docs/systemd.md).
import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CONFIG_FILE_NAMES, ConfigProblems, findConfigFile, loadConfig } from '../../config/load.js';
import type { Config } from '../../config/types.js';
import { checkUnitName, renderSystemdUnit, stopBudgetSecs, userUnitWarnings } from '../../daemon/systemd-unit.js';
import { lookupUser } from '../../os/users.js';
import { ConfigError, formatConfigProblem } from '../../errors.js';
import type { Command } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { negativeNumbersAsValues } from '../argv.js';
import { printJson } from '../format.js';
import { droverVersion } from '../version.js';

const HELP = `usage: drover unit [-c FILE] [--user] [--name NAME] [--watchdog SECS] [--json]

Print a systemd service unit that runs \`drover up -c FILE\` (Type=notify, reload through
\`drover reload\`, an orderly stop, TimeoutStopSec from the programs' stopwaitsecs, LimitNOFILE from
minfds). Install it with
  drover unit -c FILE > /etc/systemd/system/drover.service
  systemctl daemon-reload && systemctl enable --now drover.service

options:
  -c, --configuration FILE  the config (default: ${CONFIG_FILE_NAMES.join(', ')} in the current directory)
      --user                a user unit (systemctl --user; WantedBy=default.target)
      --name NAME           the unit's name, without .service (default: drover)
      --watchdog SECS       WatchdogSec=SECS: systemd restarts drover when its event loop stops for that long
      --json                print {"ok": true, "unit": TEXT} (errors: {"ok": false, "code", "message"})
  -h, --help                this help
`;

export const unit: Command = async (ctx) => {
  let values;
  try {
    const options = {
      configuration: { type: 'string', short: 'c' },
      user: { type: 'boolean' },
      name: { type: 'string' },
      watchdog: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    } as const;
    ({ values } = parseArgs({
      args: negativeNumbersAsValues(ctx.argv, options),
      options,
      allowPositionals: false,
      strict: true,
    }));
  } catch (err) {
    const message = (err as Error).message;
    ctx.stderr.write(`drover unit: ${message}\n\n${HELP}`);
    // --json asks for errors on stdout too, even when the rest of the line could not be read
    if (ctx.argv.includes('--json')) printJson(ctx, { ok: false, code: 'E_USAGE', message });
    return EXIT.USAGE;
  }
  if (values.help) {
    ctx.stdout.write(HELP);
    return EXIT.OK;
  }
  const json = values.json === true;
  /** A refusal: the message on stderr and, with --json, `{ ok: false, code, message }` on stdout. */
  const refuse = (message: string, exitCode: number, code: string, prefix = true): number => {
    ctx.stderr.write(`${prefix ? 'drover unit: ' : ''}${message}\n`);
    if (json) printJson(ctx, { ok: false, code, message });
    return exitCode;
  };
  const usage = (message: string): number => refuse(message, EXIT.USAGE, 'E_USAGE');
  const name = (values.name ?? 'drover').replace(/\.service$/, '');
  const badName = checkUnitName(name);
  if (badName) return usage(badName);
  let watchdogSecs: number | null = null;
  if (values.watchdog !== undefined) {
    if (!/^[1-9]\d{0,5}$/.test(values.watchdog)) return usage(`--watchdog must be a whole number of seconds from 1, got "${values.watchdog}"`);
    watchdogSecs = Number(values.watchdog);
  }
  const file = values.configuration !== undefined ? resolve(ctx.cwd, values.configuration) : findConfigFile(ctx.cwd);
  if (file === null) return usage(`no config file found in ${ctx.cwd} (looked for ${CONFIG_FILE_NAMES.join(', ')}); use -c FILE`);
  let config: Config;
  try {
    config = loadConfig(file, { env: ctx.env });
  } catch (err) {
    // the unit would only start a drover that refuses this config: say so now
    if (err instanceof ConfigProblems) return refuse(err.problems.map(formatConfigProblem).join('\n'), EXIT.USAGE, 'E_CONFIG', false);
    if (err instanceof ConfigError) return refuse(err.message, EXIT.USAGE, 'E_CONFIG', false);
    throw err;
  }
  // this installation's own launcher: dist/src/cli/commands/unit.js → bin/drover.js
  const droverPath = fileURLToPath(new URL('../../../../bin/drover.js', import.meta.url));
  if (!existsSync(droverPath)) return refuse(`drover's launcher is not at ${droverPath}; is this installation complete?`, EXIT.FAILURE, 'E_FAILED');
  const text = renderSystemdUnit({
    name,
    user: values.user === true,
    nodePath: process.execPath,
    droverPath,
    configPath: config.file,
    workingDirectory: config.supervisord.directory ?? dirname(config.file),
    minfds: config.supervisord.minfds,
    stopTimeoutSecs: stopBudgetSecs(config),
    watchdogSecs,
    version: droverVersion(),
  });
  if (values.user === true) {
    // the unit is still printed (exit 0): it may be meant for another machine, or the config edited next
    const uid = process.getuid?.() ?? 0;
    // a container's uid may have no passwd entry (userInfo throws): the uid stands for the name then
    let name = String(uid);
    try {
      name = userInfo().username;
    } catch {
      // no entry: keep the uid
    }
    const self = { uid, name };
    for (const w of userUnitWarnings(config.processes, self, (u) => lookupUser(u)?.uid ?? null)) ctx.stderr.write(`drover unit: warning: ${w}\n`);
  }
  if (json) printJson(ctx, { ok: true, unit: text });
  else ctx.stdout.write(text);
  return EXIT.OK;
};
