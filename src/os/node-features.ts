// What the running Node can do that older supported versions cannot, for the Node processes drover starts
// (workers, the typed-config evaluator).
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

/** Whether `module.registerHooks` (in-thread, synchronous module hooks; Node 22.15, 23.5 and later) exists. */
export function hasSyncModuleHooks(): boolean {
  return typeof (nodeModule as { registerHooks?: unknown }).registerHooks === 'function';
}
