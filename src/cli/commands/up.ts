// `drover up [-c FILE]`: run the supervisor in the foreground until TERM/INT/QUIT.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { findConfigFile, loadConfig } from '../../config/load.js';
import type { Config } from '../../config/types.js';
import { Supervisor } from '../../core/supervisor.js';
import { ConfigError } from '../../errors.js';
import { createLogger } from '../../logs/logger.js';
import { LogSink } from '../../logs/sink.js';
import { OrphanGuard } from '../../os/guard.js';
import { hasPdeathsig } from '../../os/spawn.js';
import type { Command } from '../command.js';
import { EXIT } from '../exit-codes.js';

/** Signals the master listens to; each becomes a `signalReceived` event on the supervisor's queue. */
const MASTER_SIGNALS = ['USR1', 'TERM', 'INT', 'QUIT', 'HUP', 'USR2', 'TTIN', 'TTOU', 'WINCH'] as const;

const HELP = `usage: drover up [-c FILE]

Start the supervisor in the foreground with FILE (default: drover.ini, drover.conf or
supervisord.conf in the current directory). SIGTERM or Ctrl-C stops every program gracefully in
reverse priority order; a second Ctrl-C or SIGQUIT kills every process group at once.

options:
  -c, --configuration FILE   the config file
  -h, --help                 this help
`;

export const up: Command = async (ctx) => {
  // USR1 first: until a listener exists, Node's default action for SIGUSR1 is to start the inspector.
  const queued: string[] = [];
  let deliver = (sig: string): void => void queued.push(sig);
  const listeners = MASTER_SIGNALS.map((sig) => {
    const fn = (): void => deliver(sig);
    process.on(`SIG${sig}`, fn);
    return [sig, fn] as const;
  });
  const removeListeners = (): void => {
    for (const [sig, fn] of listeners) process.off(`SIG${sig}`, fn);
  };

  let values;
  try {
    ({ values } = parseArgs({
      args: [...ctx.argv],
      options: {
        configuration: { type: 'string', short: 'c' },
        daemon: { type: 'boolean', short: 'd' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
    }));
  } catch (err) {
    removeListeners();
    ctx.stderr.write(`drover up: ${(err as Error).message}\n\n${HELP}`);
    return EXIT.USAGE;
  }
  if (values.help) {
    removeListeners();
    ctx.stdout.write(HELP);
    return EXIT.OK;
  }
  if (values.daemon) {
    removeListeners();
    ctx.stderr.write('drover up: -d (daemon mode) is not available yet; run in the foreground\n');
    return EXIT.USAGE;
  }
  const file = values.configuration ? resolve(ctx.cwd, values.configuration) : findConfigFile(ctx.cwd);
  if (file === null) {
    removeListeners();
    ctx.stderr.write(
      `drover up: no config file given and none found in ${ctx.cwd} (looked for drover.ini, drover.conf, supervisord.conf)\n`,
    );
    return EXIT.USAGE;
  }
  let config: Config;
  try {
    config = loadConfig(file, { env: ctx.env });
  } catch (err) {
    removeListeners();
    if (err instanceof ConfigError) {
      ctx.stderr.write(`${err.message}\n`);
      return EXIT.USAGE;
    }
    throw err;
  }
  for (const w of config.warnings) {
    ctx.stderr.write(`${w.file}:${w.line}: warning: [${w.section}]${w.key ? ` ${w.key}:` : ''} ${w.message}\n`);
  }

  // children's lines go to their log files and, in the foreground unless `silent`, to stdout with a prefix;
  // drover's own lines to its log file and to stdout
  const echo = config.supervisord.silent ? null : ctx.stdout;
  const sink = new LogSink({ config, echo, stdout: ctx.stdout, stderr: ctx.stderr });
  const logger = createLogger(sink.mainLogWriter(echo), config.supervisord.loglevel);
  sink.setErrorReporter((m) => logger.error(m));
  if (!hasPdeathsig()) {
    logger.warn('setpriv (util-linux) not found: programs will not be signalled if drover is killed with SIGKILL');
  }
  const guard = OrphanGuard.start();
  const supervisor = new Supervisor({ config, logger, output: sink, guard });
  deliver = (sig) => supervisor.push({ type: 'signalReceived', signal: sig });
  for (const sig of queued) deliver(sig);
  logger.info(
    `drover ${'up'}: pid ${process.pid}, ${config.processes.length} process(es) from ${config.file}` +
      (guard ? `, orphan guard pid ${guard.pid ?? '?'}` : ''),
  );
  supervisor.start();
  const { failed } = await supervisor.whenStopped();
  await sink.close();
  removeListeners();
  return failed ? EXIT.FAILURE : EXIT.OK;
};
