// Runs one command of the CLI as a process: its context from this process, its exit code once stdout and
// stderr have handed over what they hold. Shared by the CLI's entry (main.ts) and the bundled `status`
// entry (status-main.ts), so both end the same way. Every command's stdout goes through here, and so does
// a failure to write it: a reader gone (EPIPE) ends the command quietly, as cat and tail end; any other
// (ENOSPC on a full disk, EIO) is said on stderr and is exit 1, never a silent 0 with the output lost.
import { getSystemErrorMap } from 'node:util';
import type { Command, CommandContext } from './command.js';
import { EXIT } from './exit-codes.js';

/** Runs `command` with `argv` (the arguments after its name), then exits with its code. */
export function runAndExit(name: string, command: Command, argv: readonly string[]): void {
  run(`drover ${name}`, () => command(contextOf(argv)));
}

/**
 * Runs `main` (which resolves to an exit code), then exits with it; an exception is an internal error.
 * `label` ("drover status") begins the message when stdout cannot be written; null: the command deals
 * with that itself and its code stands (the supervisor: its stdout is a log destination, whose loss it
 * logs while the programs go on running, src/logs/std-out.ts).
 */
export function run(label: string | null, main: () => Promise<number>): void {
  commandLabel = label;
  // Until now a failed write of stdout's had no listener: Node threw it as an unhandled 'error' event (a
  // stack trace for `--help > /dev/full`). It is kept here and decides the exit once the command has ended.
  process.stdout.on('error', noteOutputFailure);
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
      exitAfterFlush(commandLabel, code);
    },
    (err: unknown) => {
      process.off('beforeExit', stalled);
      process.stderr.write(`drover: internal error: ${(err as Error).stack ?? String(err)}\n`);
      exitAfterFlush(commandLabel, EXIT.FAILURE);
    },
  );
}

/** A command's context: this process's streams, environment and directory. */
export function contextOf(argv: readonly string[]): CommandContext {
  return {
    argv,
    stdout: process.stdout,
    stdoutFd: 1,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    isTTY: process.stdout.isTTY === true,
  };
}

/**
 * Settles with the error once this process's stdout has failed (at once when it already has): a command
 * that would go on writing (a follow) stops there. The exit code is run's business: it keeps the same error.
 */
export function outputFailed(): Promise<NodeJS.ErrnoException> {
  if (outputFailure) return Promise.resolve(outputFailure);
  return new Promise((resolve) => process.stdout.once('error', resolve));
}

/** Whether a failure to write stdout means only that its reader went away (a closed pipe or socket). */
export function isReaderGone(err: NodeJS.ErrnoException): boolean {
  return err.code === 'EPIPE' || err.code === 'ECONNRESET';
}

/**
 * The supervisor's commands (`up`, `serve`) run without a label, but their `--help` is a command's output
 * like any other: a stdout that cannot take it makes the exit 1, with this label in the message.
 */
export function outputIsTheAnswer(label: string): void {
  commandLabel = label;
}

// --- internal ---

/** run()'s label, until a supervisor's command says its output is plain command output (outputIsTheAnswer) */
let commandLabel: string | null = null;

/**
 * The first failure to write stdout, null while there is none. Kept here because the stream does not keep
 * it: Node's stdio streams undo their destruction after an error (so that later writes are tried again),
 * and `stdout.errored` is null again a tick later.
 */
let outputFailure: NodeJS.ErrnoException | null = null;

function noteOutputFailure(err: NodeJS.ErrnoException): void {
  // a write after the failure may be refused as ERR_STREAM_DESTROYED: the first, real, error is the one to say
  if (outputFailure === null && err.code !== 'ERR_STREAM_DESTROYED') outputFailure = err;
}

/**
 * Exits once stdout and stderr have handed their pending writes over (they are asynchronous on pipes),
 * with `code`, or 1 when stdout could not be written for another reason than a reader that went away.
 */
function exitAfterFlush(label: string | null, code: number): void {
  let pending = 2;
  const done = (): void => {
    pending -= 1;
    if (pending > 0) return;
    // the 'error' event of a write that failed comes a tick after the write's callback: let it arrive first
    setImmediate(() => {
      if (label === null || outputFailure === null || isReaderGone(outputFailure)) process.exit(code);
      process.stderr.write(`${label}: cannot write the output: ${describeErrno(outputFailure)}\n`, () => process.exit(EXIT.FAILURE));
    });
  };
  // the callbacks come once what was written before them is out, or has failed (with that error). Nothing
  // pending, nothing is written: a write of no bytes fails too on some files (/dev/full), for no output lost.
  if (process.stdout.writableLength === 0) done();
  else {
    process.stdout.write('', (err) => {
      if (err) noteOutputFailure(err);
      done();
    });
  }
  process.stderr.write('', done);
}

/** "ENOSPC (no space left on device)", from libuv's table of the platform's errors. */
function describeErrno(err: NodeJS.ErrnoException): string {
  const known = typeof err.errno === 'number' ? getSystemErrorMap().get(err.errno) : undefined;
  if (known) return `${known[0]} (${known[1]})`;
  return err.code ?? err.message;
}
