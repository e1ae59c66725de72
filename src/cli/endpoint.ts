// Finding the running supervisor from the CLI: `-s URL`, then DROVER_URL, then the config file (`-c`, or
// drover.ini / drover.conf / supervisord.conf in the current directory, or the .drover/serve.ini a
// `drover serve` wrote there): its [supervisorctl] serverurl, else the control socket it names.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { ControlSections } from '../config/control-socket.js';
import { CONFIG_FILE_NAMES, findConfigFile, isTypedConfigFile } from '../config/find.js';
import type { Credentials } from '../control/auth.js';
import { parseServerUrl, type Endpoint } from '../control/client.js';
import { UsageError } from '../errors.js';

export interface EndpointOptions {
  readonly serverUrl?: string | undefined;
  readonly configuration?: string | undefined;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
}

/**
 * The endpoint to talk to, and the config sections it came from (null when given by URL without -c, or when
 * the file obviously uses the default socket and was not parsed); `notice`: what the user should know about
 * how it was found (a typed config that could not be evaluated). As supervisorctl: the server is -s, else
 * `[supervisorctl] serverurl`, else the config's own control socket; the credentials -u/-p, else
 * `[supervisorctl]` username/password (and, at the config's own socket, `[unix_http_server]`'s), whichever
 * way the server was found. `drover status` runs this same code from its bundle (status-main.ts).
 */
export async function findEndpoint(
  opts: EndpointOptions,
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
): Promise<{ endpoint: Endpoint; config: ControlSections | null; notice?: string }> {
  const url = opts.serverUrl ?? (opts.configuration ? undefined : env['DROVER_URL']);
  if (url && (opts.configuration === undefined || (opts.username !== undefined && opts.password !== undefined))) {
    // Without -c no file is read: the credentials of whatever config sits in the current directory are not
    // sent to a server named by -s or DROVER_URL. With both -u and -p the file has nothing left to give.
    return { endpoint: parseServerUrl(url, credentialsFor(opts, null, false)), config: null };
  }
  const file = opts.configuration ? resolve(cwd, opts.configuration) : (findConfigFile(cwd) ?? servedHere(cwd));
  if (file === null) {
    throw new UsageError(
      `no config file found, so no control socket to ask: give -c FILE or -s URL (or set DROVER_URL); none of ${CONFIG_FILE_NAMES.join(', ')}, nor a \`drover serve\`'s .drover/serve.ini, in ${cwd}`,
    );
  }
  const bytes = readMainFile(file);
  const quick = bytes === null ? null : defaultSocketOf(file, bytes);
  // the file names no [supervisorctl] (nor anything else that could move the socket or give credentials)
  if (quick !== null) return { endpoint: ownSocket(parseServerUrl(url ?? `unix://${quick}`, credentialsFor(opts, null, false)), url === undefined, file), config: null };
  const read = await readSections(file, bytes, env);
  if ('notice' in read) {
    const notice = url ? `cannot evaluate ${file}, so using no credentials of its [supervisorctl]: ${read.problem}` : `cannot evaluate ${file}, so using the default control socket ${read.fallback}: ${read.problem}`;
    return { endpoint: parseServerUrl(url ?? `unix://${read.fallback}`, credentialsFor(opts, null, false)), config: null, notice };
  }
  const config = read.config;
  const { controlSocketPath } = await import('../daemon/paths.js');
  const own = `unix://${controlSocketPath(config)}`;
  const target = url ?? config.supervisorctl?.serverurl ?? own;
  let endpoint: Endpoint;
  try {
    endpoint = parseServerUrl(target, null);
  } catch (err) {
    // -s and DROVER_URL are parsed above; only the file's serverurl can fail here
    throw new UsageError(`${file}: [supervisorctl] serverurl: ${(err as Error).message}`);
  }
  // [unix_http_server]'s credentials are the ones of its socket: used there only, not sent elsewhere
  const atOwnSocket = endpoint.socketPath !== null && `unix://${endpoint.socketPath}` === own;
  return { endpoint: ownSocket(parseServerUrl(target, credentialsFor(opts, config, atOwnSocket)), atOwnSocket && url === undefined, file), config };
}

/**
 * `endpoint`, naming `file` when it is that config's own control socket: two configs in one directory share
 * the default socket, and the drover there then refuses what the other one asks (E_OTHER_CONFIG).
 */
function ownSocket(endpoint: Endpoint, own: boolean, file: string): Endpoint {
  return own ? { ...endpoint, configFile: file } : endpoint;
}

// --- internal ---

/**
 * The control sections of a config file, read leanly (only the sections that can move the socket or give
 * credentials: resolving every program, and loading the whole loader, was most of a `drover status` with
 * many programs, issue 16). A typed config is code: it is evaluated in a child Node as the loader does (tens
 * of milliseconds, docs/decisions.md), and only its control sections are read, so a bad program value is
 * left to `drover check` as in the INI. A typed config that cannot be evaluated gives its default socket
 * instead, when that is there.
 */
async function readSections(
  file: string,
  bytes: Buffer | null,
  env: Readonly<Record<string, string | undefined>>,
): Promise<{ config: ControlSections } | { notice: true; fallback: string; problem: string }> {
  const { readControlSections } = await import('../config/control-socket.js');
  if (!isTypedConfigFile(file)) return { config: readControlSections(file, { env }, bytes ?? undefined) };
  const typed = await import('../config/typed.js');
  try {
    return { config: readControlSections(file, { env }, (doc, path) => typed.readTypedSections(doc, path, env)) };
  } catch (err) {
    if (!(err instanceof typed.TypedEvaluationFailed)) throw err;
    // A module that cannot be evaluated (being edited, a helper that throws) names no socket: the drover
    // it started is most likely at the default one, and `drover stop`/`down` must still reach it. Only when
    // nothing is there does the evaluation error stand (docs/decisions.md).
    const fallback = socketBeside(file);
    if (!existsSync(fallback)) throw err;
    return { notice: true, fallback, problem: err.problems[0]?.message ?? err.message };
  }
}

/**
 * The credentials to send: -u and -p, each over the file's value as supervisorctl's do (-p alone keeps the
 * file's username; -u alone keeps the file's password for the same user); the file's are [supervisorctl]'s,
 * then, at the config's own socket, [unix_http_server]'s.
 */
function credentialsFor(opts: EndpointOptions, config: ControlSections | null, atOwnSocket: boolean): Credentials | null {
  const ctl = config?.supervisorctl;
  const unix = atOwnSocket ? config?.unixHttpServer : null;
  const fromFile =
    (ctl?.username ? { username: ctl.username, password: ctl.password ?? '' } : null) ??
    (unix?.username ? { username: unix.username, password: unix.password ?? '' } : null);
  const username = opts.username ?? fromFile?.username;
  if (username === undefined) return null;
  const sameUser = opts.username === undefined || opts.username === fromFile?.username;
  return { username, password: opts.password ?? (sameUser ? (fromFile?.password ?? '') : '') };
}

/**
 * The config `drover serve` wrote in this directory (its default runtime directory), so that `drover pid`,
 * `status` and the rest find a server started here without -c, as they find an `up`.
 */
function servedHere(cwd: string): string | null {
  const file = join(cwd, '.drover', 'serve.ini');
  return existsSync(file) ? file : null;
}

/**
 * The control socket when the file cannot move it: no section or key that names a socket, a runtime
 * directory, credentials or other files appears anywhere in it (comments included, so the test errs
 * towards a full parse). Then the socket is `.drover/drover.sock` beside the file. Null: parse the file.
 * A typed config is code, and what it imports or loads could name them: it counts only when it imports
 * nothing but drover itself and loads no other code.
 */
function defaultSocketOf(file: string, bytes: Buffer): string | null {
  // Latin-1 makes a one-byte string without decoding: the words sought are ASCII, a UTF-8 sequence holds
  // no ASCII byte, and no Latin-1 character folds to an ASCII letter under /i, so the test finds them
  // exactly where the UTF-8 text has them (reading the file as UTF-8 took ~3 ms of 118 KB)
  const text = bytes.toString('latin1');
  if (/unix_http_server|supervisorctl|include|runtime_dir/i.test(text)) return null;
  if (isTypedConfigFile(file)) {
    if (loadsOtherCode(bytes.toString('utf8'))) return null;
  } else if (!/^(?:[ \t]*(?:[#;][^\r\n]*)?\r?\n)*(?:[ \t]*\[|[ \t]*$)/.test(text)) {
    // something before the first [section] (not a config file at all, say): the parse says what is wrong
    return null;
  }
  return socketBeside(file);
}

/** The default control socket of a config file: `.drover/drover.sock` beside it. */
function socketBeside(file: string): string {
  return join(dirname(file), '.drover', 'drover.sock');
}

/** The config file's bytes, read once for both the quick test and the lean reading; null when it cannot be read. */
function readMainFile(file: string): Buffer | null {
  try {
    return readFileSync(file);
  } catch (err) {
    // ENOENT and the like: the reading reports it with its usual message
    if ((err as NodeJS.ErrnoException).code) return null;
    throw err;
  }
}

/** Whether a typed config's source imports anything but drover, or loads code some other way. */
function loadsOtherCode(text: string): boolean {
  const rest = text.replace(/\bimport\s+(?:type\s+)?\{[^}]*\}\s*from\s*(['"])drover\1/g, '');
  return /\bimport\b|\bfrom\s*['"]|\brequire\s*\(|\bgetBuiltinModule\b|\beval\b|\bFunction\s*\(|\bprocess\.binding\b/.test(rest);
}
