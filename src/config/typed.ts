// Typed configs (drover.config.ts, .mts, .mjs, .js): the module is evaluated in a child Node
// (typed-eval.ts), and its default export becomes the same IniDocument the INI reader produces — one
// section per top-level key or record entry, each value written as the INI text that means it, its
// property path kept as its position. The one loader then reads it with the same schema, defaults,
// expansions and validation, so a typed config and its INI twin resolve to the same processes.
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runNodeScript, runNodeScriptSync, type NodeScriptRun } from '../os/node-script.js';
import { canStripTypes, stripTypesFlags } from '../os/node-features.js';
import type { IniDocument, IniEntry } from './ini.js';
import { nearestKey } from './nearest.js';
import { ConfigProblems } from './sources.js';
import { SCHEMA, type KeySpec, type SectionKind } from './schema.js';
import type { SourcePos } from './types.js';

export { isTypedConfigFile } from './find.js';

/** The top-level keys of a typed config: the INI section each one is, or the prefix of the sections a record holds. */
export const TYPED_SECTIONS = {
  supervisord: { kind: 'supervisord', section: 'supervisord' },
  drover: { kind: 'supervisord', section: 'drover' },
  unix_http_server: { kind: 'unix_http_server', section: 'unix_http_server' },
  inet_http_server: { kind: 'inet_http_server', section: 'inet_http_server' },
  supervisorctl: { kind: 'supervisorctl', section: 'supervisorctl' },
  include: { kind: 'include', section: 'include' },
  programs: { kind: 'program', prefix: 'program' },
  groups: { kind: 'group', prefix: 'group' },
  sockets: { kind: 'socket', prefix: 'socket' },
  eventlisteners: { kind: 'eventlistener', prefix: 'eventlistener' },
  fcgi_programs: { kind: 'fcgi-program', prefix: 'fcgi-program' },
} as const satisfies Record<string, { kind: SectionKind; section: string } | { kind: SectionKind; prefix: string }>;

/** How long a config module may take to evaluate, and how much it may print or return. */
export const TYPED_EVAL_TIMEOUT_MS = 10_000;
const TYPED_EVAL_MAX_BYTES = 16 * 1024 * 1024;

/** What evaluating a typed config gave: the plain value of its default export, or why there is none. */
export type TypedEvaluation =
  | { readonly ok: true; readonly value: unknown; readonly output: string }
  | { readonly ok: false; readonly message: string; readonly line: number; readonly output: string };

/**
 * the last successful evaluation of each file, for reads that reuse it (a worker's sibling spec, `drover
 * scale`); a failure is never kept, or a failed reread would leave every later re-resolution failing with it
 * until a reload succeeded, though the config in force is still the one that loaded
 */
const lastEvaluation = new Map<string, { env: Readonly<Record<string, string | undefined>>; result: TypedEvaluation & { ok: true } }>();

/**
 * Evaluates a typed config in a child Node, bounded in time and size. `reuse`: answer with this file's last
 * successful evaluation (under the same environment) when there is one, rather than evaluate it again.
 */
export function evaluateTypedConfig(file: string, env: Readonly<Record<string, string | undefined>>, reuse = false): TypedEvaluation {
  const last = lastEvaluation.get(file);
  if (reuse && last !== undefined && last.env === env) return last.result;
  const [args, opts] = evaluation(file, env);
  return evaluated(file, env, runNodeScriptSync(args, opts));
}

/** Keeps an evaluation made by the process before this one (cli/typed-handover.ts) as the file's last. */
export function adoptEvaluation(file: string, env: Readonly<Record<string, string | undefined>>, result: TypedEvaluation): void {
  if (result.ok) lastEvaluation.set(file, { env, result });
}

/**
 * evaluateTypedConfig without blocking the caller while the module runs (the daemon's reloads: a module may
 * take seconds, fetching a secret, say); its result is handed to loadConfig as `evaluation`.
 */
export async function evaluateTypedConfigAsync(file: string, env: Readonly<Record<string, string | undefined>>): Promise<TypedEvaluation> {
  const [args, opts] = evaluation(file, env);
  return evaluated(file, env, await runNodeScript(args, opts));
}

/** The command line and limits of one evaluation. */
function evaluation(file: string, env: Readonly<Record<string, string | undefined>>): [string[], Parameters<typeof runNodeScript>[1]] {
  const script = fileURLToPath(new URL('./typed-eval.js', import.meta.url));
  return [
    [...stripTypesFlags(), script, file, canStripTypes() ? 'native' : 'strip'],
    { env, cwd: dirname(file), timeoutMs: TYPED_EVAL_TIMEOUT_MS, maxBytes: TYPED_EVAL_MAX_BYTES },
  ];
}

/** What an evaluation's run gave; a success is kept as the file's last evaluation. */
function evaluated(file: string, env: Readonly<Record<string, string | undefined>>, run: NodeScriptRun): TypedEvaluation {
  const output = run.output.trim();
  let result: TypedEvaluation;
  if (run.timedOut) {
    result = { ok: false, message: `evaluating the module took longer than ${TYPED_EVAL_TIMEOUT_MS / 1000} s (a top-level await that never settles?)`, line: 0, output };
  } else if (run.failure !== null) {
    result = { ok: false, message: `cannot evaluate the module: ${run.failure}`, line: 0, output };
  } else {
    const answer = parseAnswer(run.answer);
    if (answer?.ok === true) result = { ok: true, value: answer.value, output };
    else if (answer !== null) result = { ok: false, message: String(answer.message), line: typeof answer.line === 'number' ? answer.line : 0, output };
    // exit 0 without an answer: the import (or the default export's promise) never settled and nothing was
    // left for Node to wait on, so the loop ran dry; or the module called process.exit(0)
    else if (run.status === 0) result = { ok: false, message: 'evaluating the module ended without an answer: a top-level await, or the promise its default export is or returns, never settled (nothing was left running for it to wait on); or the module calls process.exit(0)', line: 0, output };
    else result = { ok: false, message: `evaluating the module ended without an answer (exit ${String(run.status)}${run.signal ? `, ${run.signal}` : ''}; does it call process.exit?)`, line: 0, output };
  }
  if (result.ok) lastEvaluation.set(file, { env, result });
  return result;
}

/** A typed config whose module could not be evaluated (it threw, has a syntax error, timed out): no value to read. */
export class TypedEvaluationFailed extends ConfigProblems {}

/**
 * Evaluates a typed config and adds all its sections to `doc` (the CLI's lean reading keeps the control
 * sections of them: config/control-socket.ts). Throws TypedEvaluationFailed when the module gives no value,
 * ConfigProblems when the file is missing.
 */
export function readTypedSections(doc: IniDocument, file: string, env: Readonly<Record<string, string | undefined>>): void {
  if (!existsSync(file)) throw new ConfigProblems([{ file, line: 0, section: '', key: null, message: 'config file not found' }]);
  const evaluation = evaluateTypedConfig(file, env);
  if (!evaluation.ok) throw new TypedEvaluationFailed([{ file, line: evaluation.line, section: '', key: null, message: evaluation.message }]);
  readTypedConfig(doc, evaluation.value, file);
}

/** The evaluator's answer on fd 3, or null when there is none. */
function parseAnswer(text: string): { ok?: unknown; value?: unknown; message?: unknown; line?: unknown } | null {
  try {
    const v = JSON.parse(text) as unknown;
    return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : null;
  } catch {
    // no answer: the module ended the process itself (process.exit) or Node crashed
    return null;
  }
}

/** The key under which the evaluator sends a value JSON cannot carry (typed-eval.ts UNSUPPORTED). */
const UNSUPPORTED = '\u0000';

/** Adds the sections of an evaluated typed config to `doc`; problems go to doc.errors and doc.warnings. */
export function readTypedConfig(doc: IniDocument, value: unknown, file: string): void {
  const at = (path: string): SourcePos => ({ file, line: 0, path });
  const problem = (path: string, section: string, key: string | null, message: string, got?: unknown, expected?: string): void => {
    doc.errors.push({ pos: at(path), section, key, message, ...(got !== undefined ? { got: show(got) } : {}), ...(expected !== undefined ? { expected } : {}) });
  };
  if (!isPlainObject(value)) {
    problem('', '', null, 'the default export is not an object of sections', value, 'export default defineConfig({ programs: { web: { command: "…" } } })');
    return;
  }
  const tops = Object.keys(TYPED_SECTIONS);
  for (const [top, body] of Object.entries(value)) {
    if (body === null) continue;
    const known = (TYPED_SECTIONS as Record<string, { kind: SectionKind; section?: string; prefix?: string }>)[top];
    if (known === undefined) {
      const near = nearestKey(top, tops);
      doc.warnings.push({ pos: at(top), section: top, key: null, message: `unknown top-level key, ignored${near ? ` (did you mean "${near}"?)` : ''}` });
      continue;
    }
    if (!isPlainObject(body)) {
      problem(top, top, null, `is not an object`, body, known.prefix ? `an object of NAME: { …keys }` : 'an object of keys');
      continue;
    }
    if (known.section !== undefined) {
      addSection(doc, known.section, known.kind, body, top, at, problem);
      continue;
    }
    for (const [name, section] of Object.entries(body)) {
      if (section === null) continue;
      const path = `${top}${memberPath(name)}`;
      if (!isPlainObject(section)) {
        problem(path, `${known.prefix as string}:${name}`, null, 'is not an object of keys', section, 'an object of keys');
        continue;
      }
      addSection(doc, `${known.prefix as string}:${name}`, known.kind, section, path, at, problem);
    }
  }
}

/** `.name`, or `["odd name"]` when the name is not an identifier: a property path's next step */
export function memberPath(name: string): string {
  return /^[A-Za-z_$][\w$-]*$/.test(name) ? `.${name}` : `[${JSON.stringify(name)}]`;
}

/** KEY="value" as an environment object's entry is written (with ' when the value holds a "). */
export function quotedPair(k: string, value: string): string {
  return `${k}=${value.includes('"') ? `'${value}'` : `"${value}"`}`;
}

// --- internal ---

type Problem = (path: string, section: string, key: string | null, message: string, got?: unknown, expected?: string) => void;

function addSection(doc: IniDocument, name: string, kind: SectionKind, body: Record<string, unknown>, path: string, at: (path: string) => SourcePos, problem: Problem): void {
  const table = SCHEMA[kind] as Readonly<Record<string, KeySpec<unknown>>>;
  const entries = new Map<string, IniEntry>();
  for (const [key, v] of Object.entries(body)) {
    if (v === null || v === undefined) continue;
    const keyPath = `${path}.${key}`;
    const text = toText(Object.hasOwn(table, key) ? table[key] : undefined, v, keyPath, (message, got, expected, where = keyPath) => problem(where, name, key, message, got, expected), key === 'umask');
    if (text !== null) entries.set(key, { value: text, pos: at(keyPath) });
  }
  // a record entry is its own section; `supervisord` and `drover` are two sections, as in the INI
  doc.sections.set(name, { name, pos: at(path), file: at(path).file, entries });
}

/** The INI text of a typed value, or null after reporting why it has none. `umask`: the key is a umask, not a mode. */
function toText(spec: KeySpec<unknown> | undefined, v: unknown, path: string, problem: (message: string, got: unknown, expected: string, where?: string) => void, umask = false): string | null {
  const expected = spec === undefined ? 'a string, number or boolean' : expectation(spec);
  // the INI reader drops the whitespace around a value (supervisor's ConfigParser strips it): so does this one
  if (typeof v === 'string') return v.trim();
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'number') {
    if (spec?.typed === 'octal') {
      if (!Number.isInteger(v)) return fail(problem, 'is not a whole number', v, expected);
      if (isOctalWrittenInDecimal(v, umask)) return fail(problem, `${v} is decimal here (octal ${v.toString(8)}): write 0o${v} or '${v}'`, v, expected);
      return `${v < 0 ? '-' : ''}${Math.abs(v).toString(8)}`;
    }
    return String(v);
  }
  if (Array.isArray(v)) {
    const shape = spec === undefined ? 'list' : listShape(spec);
    if (shape === null) return fail(problem, 'is an array, but this key takes one value', v, expected);
    const items: string[] = [];
    for (const [i, item] of v.entries()) {
      if (typeof item !== 'string' && typeof item !== 'number') return fail(problem, 'an item of the list is not a string or a number', item, expected, `${path}[${i}]`);
      const text = String(item).trim();
      // a space-separated list (include files) cannot carry a space inside one item, as in the INI
      if (shape === 'words' && /\s/.test(text)) return fail(problem, 'an item holds a space, which separates items', item, expected, `${path}[${i}]`);
      items.push(text);
    }
    return items.join(shape === 'words' ? ' ' : ', ');
  }
  if (isPlainObject(v)) {
    if (Object.hasOwn(v, UNSUPPORTED)) return fail(problem, `is ${String(v[UNSUPPORTED])}, which a config cannot hold`, undefined, expected);
    if (spec?.typed !== 'pairs') return fail(problem, 'is an object, but this key takes a value', v, expected);
    return pairsText(v, path, problem);
  }
  return fail(problem, 'has a type a config cannot hold', v, expected);
}

/**
 * Whether a number for an octal key is most likely a mode written without its 0o (`umask: 22`,
 * `chmod: 700`): ES modules refuse `022`, so the digits get written as a decimal number, which the key
 * would read as another mode (700 is 0o1274). A number cannot say how it was written (18 and 0o22 are one
 * value), so only numbers of two or more decimal digits, all 0–7, are suspects, and of those the ones that
 * cannot be a mode written in 0o: above 0o777 (no permission bits or umask are larger), or whose decimal
 * digits make a usual mode (digits 0, 4–7) or umask (0, 2, 7) while their octal digits do not. So `umask:
 * 0o027` (23) and `chmod: 0o640` (416) pass, and 22 (0o26), 77 (0o115) and 400 (0o620) are refused.
 */
function isOctalWrittenInDecimal(v: number, umask: boolean): boolean {
  const decimal = String(v);
  if (decimal.length < 2 || !/^[0-7]+$/.test(decimal)) return false;
  if (v > 0o777) return true;
  const usual = umask ? /^[027]+$/ : /^[04-7]+$/;
  return usual.test(decimal) && !usual.test(v.toString(8));
}

/** KEY: value pairs as supervisor's environment= text: KEY="value",… (a value is quoted with the quote it does not hold). */
function pairsText(v: Record<string, unknown>, path: string, problem: (message: string, got: unknown, expected: string, where?: string) => void): string | null {
  const parts: string[] = [];
  // every entry is checked, so that each bad one is reported at once (the INI's one string stops at the first)
  let bad = false;
  for (const [k, raw] of Object.entries(v)) {
    if (raw === null || raw === undefined) continue;
    const text = pairText(k, raw, (message, got, expected) => problem(message, got, expected, `${path}${memberPath(k)}`));
    if (text === null) bad = true;
    else parts.push(text);
  }
  return bad ? null : parts.join(',');
}

/** One KEY: value of an environment object as supervisor's KEY="value", or null after reporting why it cannot be one. */
function pairText(k: string, raw: unknown, problem: (message: string, got: unknown, expected: string) => void): string | null {
  const expected = 'a string, number or boolean without line breaks, holding at most one kind of quote and not beginning or ending with one';
  // the words supervisor's reader takes as a name (shlex word characters, as in the INI)
  if (!/^[A-Za-z0-9_/.+\-():]+$/.test(k)) return fail(problem, 'not a variable name', k, 'letters, digits and _ (as in an environment variable name)');
  if (isPlainObject(raw) && Object.hasOwn(raw, UNSUPPORTED)) return fail(problem, `is ${String(raw[UNSUPPORTED])}, which a config cannot hold`, undefined, expected);
  if (typeof raw !== 'string' && typeof raw !== 'number' && typeof raw !== 'boolean') return fail(problem, 'is not a string, number or boolean', raw, expected);
  const value = String(raw);
  // supervisor's KEY=value reader has no escapes and strips quotes from both ends of a value
  if (value.includes('"') && value.includes("'")) return fail(problem, "holds both ' and \", which supervisor's KEY=value format cannot carry", value, expected);
  if (/^['"]|['"]$/.test(value)) return fail(problem, "begins or ends with a quote, which supervisor's KEY=value format strips", value, expected);
  return quotedPair(k, value);
}

function fail(problem: (message: string, got: unknown, expected: string, where?: string) => void, message: string, got: unknown, expected: string, where?: string): null {
  problem(message, got, expected, where);
  return null;
}

/** How a key takes an array: its shape in the table, else a list when its default parses to one (a key added without a shape). */
function listShape(spec: KeySpec<unknown>): 'list' | 'words' | null {
  if (spec.typed === 'list' || spec.typed === 'words') return spec.typed;
  if (spec.default === null) return null;
  try {
    return Array.isArray(spec.parse(spec.default)) ? 'list' : null;
  } catch {
    // a default the parser refuses alone (it needs context): not a list
    return null;
  }
}

/** What a key takes, in the typed config's words. */
function expectation(spec: KeySpec<unknown>): string {
  switch (spec.typed ?? (listShape(spec) ? 'list' : undefined)) {
    case 'pairs':
      return `an object of NAME: value (${spec.type})`;
    case 'list':
    case 'words':
      return `an array, or a string (${spec.type})`;
    case 'octal':
      return 'a number such as 0o022, or an octal string such as "022"';
    default:
      return `a value of type ${spec.type}`;
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A value as the message shows it: strings as they are, anything else as short JSON. */
function show(v: unknown): string {
  if (typeof v === 'string') return v;
  let text: string;
  try {
    text = JSON.stringify(v) ?? String(v);
  } catch {
    text = String(v);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

