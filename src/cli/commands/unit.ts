// `drover unit [-c FILE] [--user] [--name NAME] [--watchdog SECS]`: print a systemd unit that runs
// `drover up` for this config as a Type=notify service (docs/systemd.md).
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CONFIG_FILE_NAMES, ConfigProblems, findConfigFile, loadConfig } from '../../config/load.js';
import type { Config } from '../../config/types.js';
import { checkUnitName, renderSystemdUnit, stopBudgetSecs } from '../../daemon/systemd-unit.js';
import { ConfigError, formatConfigProblem } from '../../errors.js';
import type { Command } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { droverVersion } from '../version.js';

const HELP = `usage: drover unit [-c FILE] [--user] [--name NAME] [--watchdog SECS]

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
  -h, --help                this help
`;

export const unit: Command = async (ctx) => {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...ctx.argv],
      options: {
        configuration: { type: 'string', short: 'c' },
        user: { type: 'boolean' },
        name: { type: 'string' },
        watchdog: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
      strict: true,
    }));
  } catch (err) {
    ctx.stderr.write(`drover unit: ${(err as Error).message}\n\n${HELP}`);
    return EXIT.USAGE;
  }
  if (values.help) {
    ctx.stdout.write(HELP);
    return EXIT.OK;
  }
  const usage = (message: string): number => {
    ctx.stderr.write(`drover unit: ${message}\n`);
    return EXIT.USAGE;
  };
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
    if (err instanceof ConfigProblems) {
      for (const p of err.problems) ctx.stderr.write(`${formatConfigProblem(p)}\n`);
      return EXIT.USAGE;
    }
    if (err instanceof ConfigError) {
      ctx.stderr.write(`${err.message}\n`);
      return EXIT.USAGE;
    }
    throw err;
  }
  // this installation's own launcher: dist/src/cli/commands/unit.js → bin/drover.js
  const droverPath = fileURLToPath(new URL('../../../../bin/drover.js', import.meta.url));
  if (!existsSync(droverPath)) {
    ctx.stderr.write(`drover unit: drover's launcher is not at ${droverPath}; is this installation complete?\n`);
    return EXIT.FAILURE;
  }
  ctx.stdout.write(
    renderSystemdUnit({
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
    }),
  );
  return EXIT.OK;
};
