// Runs one command of the CLI as a process: its context from this process, its exit code once stdout and
// stderr have handed over what they hold. Shared by the CLI's entry (main.ts) and the bundled `status`
// entry (status-main.ts), so both end the same way.
import type { Command, CommandContext } from './command.js';
import { EXIT } from './exit-codes.js';

/** Runs `command` with `argv` (the arguments after its name), then exits with its code. */
export function runAndExit(command: Command, argv: readonly string[]): void {
  run(() => command(contextOf(argv)));
}

/** Runs `main` (which resolves to an exit code), then exits with it; an exception is an internal error. */
export function run(main: () => Promise<number>): void {
  // The event loop ran dry while the command still waited (on a promise nothing will settle): Node would end
  // the process with 0, as if it had succeeded. That is a defect of drover's; it is said, and is a failure.
  const stalled = (): void => {
    process.stderr.write('drover: internal error: the command was left waiting with nothing that could finish it\n');
    process.exit(EXIT.FAILURE);
  };
  process.once('beforeExit', stalled);
  main().then(
    (code) => {
      process.off('beforeExit', stalled);
      exitAfterFlush(code);
    },
    (err: unknown) => {
      process.off('beforeExit', stalled);
      process.stderr.write(`drover: internal error: ${(err as Error).stack ?? String(err)}\n`);
      exitAfterFlush(EXIT.FAILURE);
    },
  );
}

/** A command's context: this process's streams, environment and directory. */
export function contextOf(argv: readonly string[]): CommandContext {
  return {
    argv,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    isTTY: process.stdout.isTTY === true,
  };
}

/** Exits once stdout and stderr have handed their pending writes over (they are asynchronous on pipes). */
function exitAfterFlush(code: number): void {
  let pending = 2;
  const done = (): void => {
    pending -= 1;
    if (pending === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
}
