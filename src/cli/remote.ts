// What every command that talks to a running drover shares: the options that find it (-c, -s, -u, -p),
// --json, one mapping from failures to exit codes, and JSON calls that throw on `{ ok: false }` and return
// the answer typed once its shape has been checked (control/wire.ts).
import { parseArgs } from 'node:util';
import type { Check } from '../control/check.js';
import { expectAnswer, NotRunning, parseAnswer, requestJson, requestRaw, StreamRefused, type Endpoint, type JsonAnswer, type RawAnswer } from '../control/client.js';
import type { ResultsJson } from '../control/wire.js';
import { ConfigError, DroverError, UsageError } from '../errors.js';
import type { Command, CommandContext } from './command.js';
import { negativeNumbersAsValues } from './argv.js';
import { findEndpoint } from './endpoint.js';
import { EXIT } from './exit-codes.js';
import { isReaderGone, outputFailed } from './run.js';

/** Help text for the options every remote command takes. */
export const REMOTE_HELP = `connection (every command that talks to drover):
  -c, --configuration FILE   the config that says where drover is: [supervisorctl] serverurl, else its control
                             socket (default: drover.config.ts/.mts/.mjs/.js, drover.ini, drover.conf or
                             supervisord.conf in the current directory)
  -s, --server-url URL       unix:///path.sock or http://host:port (also DROVER_URL); wins over serverurl
  -u, --username USER        basic-auth user ([supervisorctl] or [unix_http_server] username by default)
  -p, --password PASS
      --json                 print machine-readable JSON on stdout
  -h, --help                 this help
`;

type OptionSpec = { type: 'string' | 'boolean'; short?: string; multiple?: boolean };

const REMOTE_OPTIONS = {
  configuration: { type: 'string', short: 'c' },
  'server-url': { type: 'string', short: 's' },
  username: { type: 'string', short: 'u' },
  password: { type: 'string', short: 'p' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Record<string, OptionSpec>;

/** A failure with the exit code to use; the message goes to stderr, `code` to --json output. */
export class CommandFailed extends DroverError {
  constructor(
    message: string,
    readonly exitCode: number,
    code = 'E_FAILED',
  ) {
    super(code, message);
  }
}

/** An `{ ok: false }` answer of the JSON API; `code` is the answer's (or HTTP_<status> when it has none). */
export class ApiError extends DroverError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    readonly body: Readonly<Record<string, unknown>>,
  ) {
    super(code, message);
  }
}

/** The exit code for an API error code (docs/exit-codes.md). */
export function exitCodeFor(code: string): number {
  switch (code) {
    case 'E_BAD_REQUEST':
    case 'E_BAD_ARGUMENTS':
    case 'E_BAD_JSON':
    case 'E_BAD_SIGNAL':
    case 'E_CONFIG':
      return EXIT.USAGE;
    case 'E_UNAUTHORIZED':
      return EXIT.NO_PERMISSION;
    case 'E_OTHER_CONFIG':
      // no drover runs the config asked about: the one answering runs another
      return EXIT.SUPERVISOR_NOT_RUNNING;
    default:
      return EXIT.FAILURE;
  }
}

/** One invocation of a remote command: parsed arguments, the endpoint, and calls to it. */
export class Remote {
  constructor(
    readonly ctx: CommandContext,
    readonly name: string,
    readonly values: Readonly<Record<string, string | boolean | string[] | undefined>>,
    readonly positionals: readonly string[],
    /** where the running drover answers */
    readonly endpoint: Endpoint,
  ) {}

  get json(): boolean {
    return this.values['json'] === true;
  }

  /**
   * Calls the API; returns the body of an `{ ok: true }` answer once `answer` has checked its shape. Throws
   * ApiError for an `{ ok: false }` answer, UnexpectedAnswer for one of another shape.
   */
  async call<T>(method: 'GET' | 'POST', path: string, answer: Check<T>, body?: unknown): Promise<T> {
    return this.answerOf(await this.callRaw(method, path, body), method, path, answer);
  }

  /** Sends a request and hands back the whole answer unread, for a command that may print it as it comes. */
  callRaw(method: 'GET' | 'POST', path: string, body?: unknown): Promise<RawAnswer> {
    return requestRaw(this.endpoint, method, path, body);
  }

  /** What call returns, from an answer callRaw handed back. */
  answerOf<T>(raw: RawAnswer, method: 'GET' | 'POST', path: string, answer: Check<T>): T {
    const got = { status: raw.status, body: parseAnswer(raw.status, raw.body.toString('utf8')) };
    if (got.status !== 200 || got.body['ok'] !== true) throw apiError(got);
    return expectAnswer(answer, got.body, describeCall(method, path));
  }

  /** Like call, but returns answers with per-process results even when some failed. */
  async callResults<T extends ResultsJson>(method: 'GET' | 'POST', path: string, answer: Check<T>, body?: unknown): Promise<T> {
    const got = await requestJson(this.endpoint, method, path, body);
    const hasResults = got.status === 200 && Array.isArray(got.body['results']);
    if (!hasResults && (got.status !== 200 || got.body['ok'] !== true)) throw apiError(got);
    return expectAnswer(answer, got.body, describeCall(method, path));
  }

  /** Writes to stdout (text, or program output's bytes); false when its buffer is full (a follower then waits for 'drain'). */
  out(text: string | Uint8Array): boolean {
    return this.ctx.stdout.write(text);
  }

  err(text: string): void {
    this.ctx.stderr.write(`drover ${this.name}: ${text}\n`);
  }

  /** Prints a value as JSON on stdout. */
  printJson(value: unknown): void {
    this.ctx.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }
}

export interface RemoteCommandSpec {
  readonly name: string;
  /** usage and description; the connection options are appended */
  readonly help: string;
  readonly options?: Record<string, OptionSpec>;
  /** checks positionals; throw UsageError */
  readonly run: (r: Remote) => Promise<number>;
}

/** Builds a command that talks to a running drover, with the shared options and exit-code mapping. */
export function remoteCommand(spec: RemoteCommandSpec): Command {
  return async (ctx) => {
    const help = `${spec.help}\n${REMOTE_HELP}`;
    let parsed;
    try {
      const options = { ...REMOTE_OPTIONS, ...spec.options };
      parsed = parseArgs({
        args: negativeNumbersAsValues(ctx.argv, options),
        options,
        allowPositionals: true,
        strict: true,
      });
    } catch (err) {
      ctx.stderr.write(`drover ${spec.name}: ${(err as Error).message}\n\n${help}`);
      // --json asks for errors on stdout too, even when the rest of the line could not be read
      if (ctx.argv.includes('--json')) ctx.stdout.write(`${JSON.stringify({ ok: false, code: 'E_USAGE', message: (err as Error).message }, null, 2)}\n`);
      return EXIT.USAGE;
    }
    const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
    if (values['help'] === true) {
      ctx.stdout.write(help);
      return EXIT.OK;
    }
    const json = values['json'] === true;
    let endpoint: Endpoint;
    let notice: string | undefined;
    try {
      ({ endpoint, notice } = await findEndpoint(
        {
          serverUrl: values['server-url'] as string | undefined,
          configuration: values['configuration'] as string | undefined,
          username: values['username'] as string | undefined,
          password: values['password'] as string | undefined,
        },
        ctx.env,
        ctx.cwd,
      ));
    } catch (err) {
      return reportFailure({ ctx, name: spec.name, json }, err, help);
    }
    if (notice !== undefined) ctx.stderr.write(`drover ${spec.name}: warning: ${notice}\n`);
    const r = new Remote(ctx, spec.name, values, parsed.positionals, endpoint);
    // stdout failed (`drover logs -f | head`: the reader went away): nothing is left to do, so the command
    // ends there, quietly for a reader gone, as cat and tail do; run.ts says any other failure and exits 1
    const stopped = outputFailed().then((err) => (isReaderGone(err) ? EXIT.OK : EXIT.FAILURE));
    try {
      return await Promise.race([spec.run(r), stopped]);
    } catch (err) {
      return reportFailure(r, err, help);
    }
  };
}

// --- internal ---

/** "GET /api/processes", for messages (the query string left out). */
function describeCall(method: string, path: string): string {
  return `${method} ${path.split('?')[0] ?? path}`;
}

/** The ApiError for an answer that is not `{ ok: true }` (an error answer's code and message, when it has them). */
function apiError({ status, body }: JsonAnswer): ApiError {
  const code = typeof body['code'] === 'string' ? body['code'] : `HTTP_${status}`;
  const message = typeof body['message'] === 'string' ? body['message'] : `drover answered ${status}`;
  return new ApiError(status, code, message, body);
}

function reportFailure(r: Pick<Remote, 'ctx' | 'name' | 'json'>, failure: unknown, help: string): number {
  let err = failure;
  if (err instanceof StreamRefused && err.body && typeof err.body['code'] === 'string') {
    err = new ApiError(err.status, err.body['code'], String(err.body['message'] ?? err.message), err.body);
  }
  let code: string;
  let message: string;
  let exit: number;
  if (err instanceof NotRunning) {
    [code, message, exit] = ['E_NOT_RUNNING', err.message, EXIT.SUPERVISOR_NOT_RUNNING];
  } else if (err instanceof UsageError) {
    r.ctx.stderr.write(`drover ${r.name}: ${err.message}\n\n${help}`);
    if (r.json) r.ctx.stdout.write(`${JSON.stringify({ ok: false, code: 'E_USAGE', message: err.message }, null, 2)}\n`);
    return EXIT.USAGE;
  } else if (err instanceof ConfigError) {
    [code, message, exit] = ['E_CONFIG', err.message, EXIT.USAGE];
  } else if (err instanceof ApiError) {
    [code, message, exit] = [err.code, err.message, exitCodeFor(err.code)];
    if (err.code === 'E_NO_LOGS') {
      message = 'this drover gives no access to log files yet (E_NO_LOGS: the log sink is not wired into the control API)';
    } else if (err.code === 'E_UNAUTHORIZED') {
      const user = r instanceof Remote ? r.endpoint.credentials?.username : undefined;
      message =
        user === undefined
          ? `${err.message}: give -u USER -p PASS, or set username/password in [supervisorctl]`
          : `${err.message}: the username ${JSON.stringify(user)} and its password were refused (check -u/-p, or username/password in [supervisorctl])`;
    }
  } else if (err instanceof CommandFailed) {
    [code, message, exit] = [err.code, err.message, err.exitCode];
  } else if (err instanceof Error && ((err as NodeJS.ErrnoException).code === 'EACCES' || (err as NodeJS.ErrnoException).code === 'EPERM') && (err as NodeJS.ErrnoException).syscall === 'connect') {
    // the control socket is mode 0600 in a 0700 directory: another user may not connect
    [code, message, exit] = ['E_PERMISSION', `permission denied connecting to ${String((err as { address?: unknown }).address ?? 'the control socket')}: it belongs to the user drover runs as (run this as that user, or through [unix_http_server] chown/chmod)`, EXIT.NO_PERMISSION];
  } else if (err instanceof Error && /^bad server URL/.test(err.message)) {
    [code, message, exit] = ['E_USAGE', err.message, EXIT.USAGE];
  } else if (err instanceof Error) {
    [code, message, exit] = ['E_FAILED', err.message, EXIT.FAILURE];
  } else {
    throw err;
  }
  r.ctx.stderr.write(`drover ${r.name}: ${message}\n`);
  if (r.json) r.ctx.stdout.write(`${JSON.stringify({ ok: false, code, message }, null, 2)}\n`);
  return exit;
}
