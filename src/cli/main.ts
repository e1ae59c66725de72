// The drover command line: picks a command from the table and runs it; run.ts exits with its code.
// `drover status` alone takes a shorter way when the build bundled it (status-main.ts).
import { firstWord, notACommand } from './argv.js';
import type { Command } from './command.js';
import { EXIT } from './exit-codes.js';
import { contextOf, run } from './run.js';
import { droverVersion } from './version.js';

// Commands are imported when chosen, so `drover status` does not load the supervisor, the config loader
// or the daemon code it never runs (start-up time is most of a status call).
const COMMANDS: Readonly<Record<string, { load: () => Promise<Command>; summary: string }>> = {
  up: { load: async () => (await import('./commands/up.js')).up, summary: 'start the supervisor with a config (-d: as a daemon)' },
  serve: { load: async () => (await import('./commands/serve.js')).serve, summary: 'prefork one app or worker module, no config file (gunicorn\'s command line)' },
  check: { load: async () => (await import('./commands/check.js')).check, summary: 'parse and validate a config, print the resolved processes' },
  status: { load: async () => (await import('./commands/status.js')).status, summary: 'state, pid, uptime, restarts, CPU and memory per process' },
  start: { load: async () => (await import('./commands/control.js')).start, summary: 'start processes (name, group:name, group:*, all)' },
  stop: { load: async () => (await import('./commands/control.js')).stop, summary: 'stop processes' },
  restart: { load: async () => (await import('./commands/control.js')).restart, summary: 'stop then start processes' },
  signal: { load: async () => (await import('./commands/control.js')).signal, summary: 'send a signal to processes (no state change)' },
  scale: { load: async () => (await import('./commands/scale.js')).scale, summary: "change a program's number of processes at run time" },
  reload: { load: async () => (await import('./commands/config-verbs.js')).reload, summary: 're-read the config and apply only what changed (--logs: reopen logs)' },
  reread: { load: async () => (await import('./commands/config-verbs.js')).reread, summary: 're-read the config and show what changed (supervisorctl reread)' },
  update: { load: async () => (await import('./commands/config-verbs.js')).update, summary: 'apply the re-read config to groups (supervisorctl update)' },
  avail: { load: async () => (await import('./commands/config-verbs.js')).avail, summary: 'groups of the config file, active or available' },
  add: { load: async () => (await import('./commands/config-verbs.js')).add, summary: 'activate groups from the config file' },
  remove: { load: async () => (await import('./commands/config-verbs.js')).remove, summary: 'deactivate stopped groups' },
  tail: { load: async () => (await import('./commands/logs.js')).tail, summary: "one process's log (-f to follow)" },
  logs: { load: async () => (await import('./commands/logs.js')).logs, summary: 'all logs interleaved with name prefixes (-f to follow)' },
  pid: { load: async () => (await import('./commands/pid.js')).pid, summary: "drover's pid, or a process's" },
  down: { load: async () => (await import('./commands/down.js')).down, summary: 'stop everything and wait until drover has exited' },
  queue: { load: async () => (await import('./commands/queue.js')).queue, summary: 'push to and inspect the task queues the master holds for workers' },
  unit: { load: async () => (await import('./commands/unit.js')).unit, summary: 'print a systemd unit that runs drover for a config (--user: a user unit)' },
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
  // `drover help status` is `drover status --help`, as `supervisorctl help status` is; options given before
  // `help` (`drover -c FILE help status`) were moved behind it by bin/drover.js, so the topic is the first
  // word that is not one of them
  const topicName = name === 'help' ? firstWord(rest) : undefined;
  if (topicName !== undefined) {
    const topic = commandNamed(topicName);
    if (topic) return (await topic.load())(contextOf(['--help']));
    process.stderr.write(`drover help: no command "${topicName}"\n\n${usage()}`);
    return EXIT.USAGE;
  }
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (name === '-V' || name === '--version' || name === 'version') {
    process.stdout.write(`drover ${droverVersion()}\n`);
    return EXIT.OK;
  }
  const cmd = commandNamed(name);
  if (!cmd) {
    process.stderr.write(`drover: ${notACommand(name, argv, (w) => commandNamed(w) !== undefined)}\n\n${usage()}`);
    return EXIT.USAGE;
  }
  return (await cmd.load())(contextOf(rest));
}

/** The command of that name; none for names the table only inherits ("constructor", "toString"). */
function commandNamed(name: string): (typeof COMMANDS)[string] | undefined {
  return Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
}

/**
 * What begins a message about this command line ("drover status", "drover help", else "drover"); null for
 * the supervisor, which deals with a stdout it cannot write by itself (run.ts).
 */
function labelOf(argv: readonly string[]): string | null {
  const name = argv[0];
  if (name === 'up' || name === 'serve') return null;
  return name !== undefined && (name === 'help' || commandNamed(name) !== undefined) ? `drover ${name}` : 'drover';
}

const argv = process.argv.slice(2);
run(labelOf(argv), () => main(argv));
