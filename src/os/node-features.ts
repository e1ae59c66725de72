// What the running Node can do that older supported versions cannot, for the Node processes drover starts
// (the master, workers, the typed-config evaluator).
import * as nodeModule from 'node:module';

const [MAJOR, MINOR] = process.versions.node.split('.').map(Number) as [number, number];

/** Whether this Node can run a TypeScript module directly (type stripping, Node ≥ 22.6). */
export function canStripTypes(): boolean {
  return MAJOR > 22 || (MAJOR === 22 && MINOR >= 6);
}

/** The flags a Node child needs to strip types: 22.6–22.17 need them; later versions strip by default and accept them quietly. */
export function stripTypesFlags(): string[] {
  return MAJOR === 22 && canStripTypes() ? ['--experimental-strip-types', '--no-warnings=ExperimentalWarning'] : [];
}

/** Whether this Node has --disable-sigusr1 (22.14, 23.7 and later): SIGUSR1 stays blocked from Node's start until a listener exists. */
export const HAS_DISABLE_SIGUSR1 = process.allowedNodeEnvironmentFlags.has('--disable-sigusr1');

/** The Node flags that keep SIGUSR1 from opening Node's inspector in a drover process: `--disable-sigusr1` where Node has it. */
export function noInspectorFlags(): string[] {
  return HAS_DISABLE_SIGUSR1 ? ['--disable-sigusr1'] : [];
}

/**
 * Closes Node's inspector if a SIGUSR1 opened it before drover's own listener existed (in the few
 * milliseconds between Node's start and drover's first line); returns the address it listened on, or null
 * when none was open, or when Node was asked for one (--inspect…).
 */
export function closeStrayInspector(): string | null {
  // an inspector asked for (node --inspect …, NODE_OPTIONS=--inspect) is the operator's, not a stray one
  const asked = [...process.execArgv, ...(process.env['NODE_OPTIONS'] ?? '').split(/\s+/)].some((f) => f.startsWith('--inspect'));
  if (asked) return null;
  let inspector: { url(): string | undefined; close(): void };
  try {
    inspector = nodeModule.createRequire(import.meta.url)('node:inspector') as typeof inspector;
  } catch {
    return null; // a Node built without the inspector
  }
  const url = inspector.url();
  if (url === undefined) return null;
  inspector.close();
  return url;
}

/** Whether `module.registerHooks` (in-thread, synchronous module hooks; Node 22.15, 23.5 and later) exists. */
export function hasSyncModuleHooks(): boolean {
  return typeof (nodeModule as { registerHooks?: unknown }).registerHooks === 'function';
}

/**
 * The V8 flags the supervisor daemon runs with (docs/decisions.md, "The daemon's V8 flags"): a young
 * generation of 1 MB semi-spaces, which a start-up burst otherwise grows to 16 MB each and V8 keeps; and,
 * when the master runs no drover workers (`workers` false), no compiler past the interpreter (`--no-opt
 * --no-maglev --no-sparkplug`), whose code and feedback are most of the rest — with workers the master's task
 * queue is a hot path that needs them. Not `--lite-mode` or `--jitless`, which save the same but take
 * WebAssembly away: undici (fetch, and on Node 22 any ESM import of node:http) then fails, and on Node 20
 * and 22 kills the process — hooks run in the master. DROVER_V8_FLAGS replaces them ('' for none). Throws a
 * message for a word that is not a --flag.
 */
export function daemonV8Flags(env: Readonly<Record<string, string | undefined>>, opts: { readonly workers: boolean }): string[] {
  const given = env['DROVER_V8_FLAGS'];
  if (given === undefined) return ['--max-semi-space-size=1', ...(opts.workers ? [] : ['--no-opt', '--no-maglev', '--no-sparkplug'])];
  const flags = given.split(/\s+/).filter(Boolean);
  const bad = flags.find((f) => !/^--[a-z0-9][a-z0-9_-]*(=\S+)?$/i.test(f));
  if (bad !== undefined) throw new Error(`DROVER_V8_FLAGS: ${JSON.stringify(bad)} is not a flag; expected words like --max-semi-space-size=1, or '' for none`);
  return flags;
}
