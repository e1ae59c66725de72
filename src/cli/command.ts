// What a CLI command receives and returns. Commands never call process.exit: they return an exit code
// and cli/run.ts exits with it.
import type { Writable } from 'node:stream';

export interface CommandContext {
  /** arguments after the command name */
  readonly argv: readonly string[];
  readonly stdout: Writable;
  /** stdout's file descriptor (1), which a follow watches for a reader gone while it is idle; null when stdout is no fd */
  readonly stdoutFd: number | null;
  readonly stderr: Writable;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** true when stdout is a terminal (colour, live progress) */
  readonly isTTY: boolean;
}

export type Command = (ctx: CommandContext) => Promise<number>;
