// The drover command line: picks a command from the table, runs it, and exits with its code.
// This is the only module that calls process.exit.
import type { Command, CommandContext } from './command.js';
import { EXIT } from './exit-codes.js';
import { check } from './commands/check.js';
import { up } from './commands/up.js';
import { droverVersion } from './version.js';

const COMMANDS: Readonly<Record<string, { run: Command; summary: string }>> = {
  up: { run: up, summary: 'start the supervisor with a config, in the foreground' },
  check: { run: check, summary: 'parse and validate a config, print the resolved processes' },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`);
  return [
    'usage: drover COMMAND [options]',
    '',
    'commands:',
    ...lines,
    '',
    'Run `drover COMMAND --help` for the options of a command.',
    '',
  ].join('\n');
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (name === '-V' || name === '--version' || name === 'version') {
    process.stdout.write(`drover ${droverVersion()}\n`);
    return EXIT.OK;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    process.stderr.write(`drover: unknown command "${name}"\n\n${usage()}`);
    return EXIT.USAGE;
  }
  const ctx: CommandContext = {
    argv: rest,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    isTTY: process.stdout.isTTY === true,
  };
  return cmd.run(ctx);
}

main(process.argv.slice(2)).then(
  (code) => {
    // Let pending output flush before exiting; stdout may be a pipe.
    process.exitCode = code;
    process.stdout.write('', () => process.exit(code));
  },
  (err: unknown) => {
    process.stderr.write(`drover: internal error: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(EXIT.FAILURE);
  },
);
