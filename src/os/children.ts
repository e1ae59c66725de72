// The children this process spawned through Node. libuv waits for each of them by pid and turns its exit
// into the ChildProcess 'exit' event; if anyone else reaps one first, libuv's waitpid gets ECHILD, which it
// ignores, and the event never comes (a program would look alive forever). So the reaper of adopted
// orphans (reaper.ts) asks this registry and never touches a pid recorded here.
//
// Every spawn in src/os records its child explicitly. Code outside src/os can spawn too — a hooks module,
// a library it imports — so recordEverySpawn() also records each ChildProcess that Node's own
// child_process functions create (spawn, exec, execFile and fork all go through ChildProcess#spawn).
// spawnSync and execFileSync need nothing: they wait for their child on a loop of their own, while the
// JavaScript thread (and with it the reaper) is blocked.
import { ChildProcess } from 'node:child_process';

/** pid → the live child with that pid; an entry goes on the child's 'exit', i.e. once libuv has reaped it */
const spawned = new Map<number, ChildProcess>();
/** whether ChildProcess#spawn records its children */
let recordingEverySpawn = false;

/** Records a child Node spawned and will reap itself (call right after the spawn, in the same turn). */
export function recordSpawned(child: ChildProcess): void {
  const pid = child.pid;
  // no pid: the spawn failed, there is nothing to reap
  if (pid === undefined || spawned.get(pid) === child) return;
  spawned.set(pid, child);
  // 'exit' is emitted in the same callback in which libuv reaped the pid, before the pid can be reused; one
  // listener function for every child (an emitter calls it with `this` = the child): no closure, and no
  // once() wrapper, per child
  child.on('exit', forgetChild);
}

function forgetChild(this: ChildProcess): void {
  const pid = this.pid;
  if (pid !== undefined && spawned.get(pid) === this) spawned.delete(pid);
}

/** Whether `pid` is a child Node spawned and has not reaped yet: only libuv may wait for it. */
export function isSpawnedByNode(pid: number): boolean {
  const child = spawned.get(pid);
  return child !== undefined && child.exitCode === null && child.signalCode === null;
}

/**
 * From now on, records every child that any code in this process spawns through node:child_process.
 * Returns false when Node's ChildProcess has no `spawn` method to wrap (a future Node): then only the
 * spawns of src/os are known, and a hooks module that spawns a child may lose its exit event.
 */
export function recordEverySpawn(): boolean {
  if (recordingEverySpawn) return true;
  // `spawn` is on ChildProcess.prototype but not in Node's typings: reached by name, so nothing is cast
  const original: unknown = Reflect.get(ChildProcess.prototype, 'spawn');
  if (typeof original !== 'function') return false;
  Reflect.set(ChildProcess.prototype, 'spawn', function spawnAndRecord(this: ChildProcess, ...args: unknown[]): unknown {
    const result: unknown = Reflect.apply(original, this, args);
    recordSpawned(this);
    return result;
  });
  recordingEverySpawn = true;
  return true;
}
