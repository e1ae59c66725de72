// The orphan guard: a tiny bash process that outlives drover only to clean up after it.
// pdeathsig reaches a program's first process only; its children (a shell's `sleep`, a worker pool) would
// outlive a SIGKILLed drover. The guard holds the list of live process groups, fed through a pipe on its
// fd 3; when drover dies for any reason the pipe closes, and the guard sends TERM, then KILL a second later,
// to every group still listed. On a clean exit drover has removed every group first, so the guard does
// nothing. bash reads its script from stdin (then closed), so `ps` shows only its name, `drover-guard [NAME]`.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { recordSpawned } from './children.js';

const SCRIPT = `
declare -A groups
while IFS=' ' read -r -u 3 op id start; do
  case "$op" in
    add) groups[$id]=$start ;;
    del) unset "groups[$id]" ;;
  esac
done
[ \${#groups[@]} -eq 0 ] && exit 0
# A group id is only reused once every member of the old group is gone and a new process got that pid and
# made itself a group leader; that new leader has another start time. Skip such a group.
# A leader already gone (its stat unreadable, also when it is reaped between two looks) counts as the same
# group: its id cannot be reused while the group still has members.
same() {
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20)
  [ -z "$st" ] || [ "$st" = "$2" ]
}
for g in "\${!groups[@]}"; do same "$g" "\${groups[$g]}" && kill -TERM -- "-$g" 2>/dev/null; done
sleep 1
for g in "\${!groups[@]}"; do same "$g" "\${groups[$g]}" && kill -KILL -- "-$g" 2>/dev/null; done
exit 0
`;

export class OrphanGuard {
  /** the bash process; null once closed */
  private child: ChildProcess | null;
  /** the pipe on the guard's fd 3 that carries add/del lines; null once closed */
  private commands: Writable | null;

  private constructor(child: ChildProcess, commands: Writable | null) {
    this.child = child;
    this.commands = commands;
  }

  /** Starts the guard, named `drover-guard [name]`; null when bash is not available (drover then relies on pdeathsig alone). */
  static start(name: string): OrphanGuard | null {
    const bash = ['/bin/bash', '/usr/bin/bash'].find((p) => existsSync(p));
    if (!bash) return null;
    // detached: its own session, so a terminal's Ctrl-C or hang-up that reaches drover does not reach it
    const child = spawn(bash, [], { argv0: `drover-guard [${name}]`, detached: true, stdio: ['pipe', 'ignore', 'ignore', 'pipe'] });
    recordSpawned(child);
    child.unref();
    child.stdin?.on('error', () => undefined); // EPIPE if bash died at once: the commands pipe reports it too
    child.stdin?.end(SCRIPT);
    // a 'pipe' slot is a net.Socket; unreferenced, so that the open pipe alone never keeps drover running
    const fd3 = child.stdio[3];
    const commands = fd3 instanceof Socket ? fd3 : null;
    commands?.on('error', () => undefined); // EPIPE if the guard was killed: nothing to clean up then
    commands?.unref();
    return new OrphanGuard(child, commands);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts guarding a process group; `startTicks` is its leader's start time, to recognise pid reuse. */
  add(pgid: number, startTicks: number): void {
    this.commands?.write(`add ${pgid} ${startTicks}\n`);
  }

  /** Stops guarding a process group (it has ended). */
  remove(pgid: number): void {
    this.commands?.write(`del ${pgid}\n`);
  }

  /** Ends the guard after a clean shutdown. */
  close(): void {
    this.commands?.end();
    this.commands = null;
    this.child = null;
  }
}
