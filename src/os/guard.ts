// The orphan guard: a tiny bash process that outlives drover only to clean up after it.
// pdeathsig reaches a program's first process only; its children (a shell's `sleep`, a worker pool) would
// outlive a SIGKILLed drover. The guard holds the list of live process groups, fed through a pipe on its
// fd 3; when drover dies for any reason the pipe closes, and the guard sends TERM, then KILL a second later,
// to every group still listed. On a clean exit drover has removed every group first, so the guard does
// nothing. bash reads its script from stdin (then closed), so `ps` shows only its name, `drover-guard [NAME]`.
// drover keeps the list too: a guard that ends while drover runs (an operator's kill, a `kill -1` inside a PID
// namespace where drover is PID 1) is replaced by a new one that is handed the groups of that moment.
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

/** How long a replacement guard must have run for its own end to be met with another replacement. */
const MIN_REPLACEMENT_LIFE_MS = 1000;

/** Says what became of a guard that ended while drover still needed it (the master logs it as a warning). */
export type GuardReport = (message: string) => void;

interface Running {
  readonly child: ChildProcess;
  readonly pid: number;
  /** the pipe on the guard's fd 3 that carries add/del lines */
  readonly commands: Writable | null;
  /** performance.now() at its spawn */
  readonly startedAt: number;
  /** whether it replaced a guard that had ended */
  readonly replacement: boolean;
}

export class OrphanGuard {
  /** the guard process now; null once closed, or once drover carries on without one */
  private running: Running | null = null;
  /** the groups guarded now (group id → its leader's start time): what a replacement is handed */
  private readonly groups = new Map<number, number>();

  private constructor(
    private readonly bash: string,
    private readonly name: string,
    private readonly report: GuardReport,
    private readonly minReplacementLifeMs: number,
  ) {}

  /**
   * Starts the guard, named `drover-guard [name]`; null when bash is not available or cannot be spawned
   * (drover then relies on pdeathsig alone). A guard that ends while drover runs (killed by an operator, or
   * by a `kill -1` inside a PID namespace) is replaced at once and the new one handed every group guarded
   * at that moment; `report` says so. A replacement that ends within `minReplacementLifeMs` of its start is
   * not replaced again: drover carries on without a guard rather than loop.
   */
  static start(name: string, report: GuardReport = () => undefined, minReplacementLifeMs = MIN_REPLACEMENT_LIFE_MS): OrphanGuard | null {
    const bash = ['/bin/bash', '/usr/bin/bash'].find((p) => existsSync(p));
    if (!bash) return null;
    const guard = new OrphanGuard(bash, name, report, minReplacementLifeMs);
    const first = guard.spawn(false);
    if (typeof first === 'string') return null;
    guard.running = first;
    return guard;
  }

  /** the guard's pid; undefined once closed or gone for good */
  get pid(): number | undefined {
    return this.running?.pid;
  }

  /** Starts guarding a process group; `startTicks` is its leader's start time, to recognise pid reuse. */
  add(pgid: number, startTicks: number): void {
    this.groups.set(pgid, startTicks);
    this.running?.commands?.write(`add ${pgid} ${startTicks}\n`);
  }

  /** Stops guarding a process group (it has ended). */
  remove(pgid: number): void {
    this.groups.delete(pgid);
    this.running?.commands?.write(`del ${pgid}\n`);
  }

  /** Ends the guard after a clean shutdown. */
  close(): void {
    this.running?.commands?.end();
    this.running = null;
    this.groups.clear();
  }

  /** Spawns a guard process; the error's text when it could not be spawned. */
  private spawn(replacement: boolean): Running | string {
    let child: ChildProcess;
    try {
      // detached: its own session, so a terminal's Ctrl-C or hang-up that reaches drover does not reach it
      child = spawn(this.bash, [], { argv0: `drover-guard [${this.name}]`, detached: true, stdio: ['pipe', 'ignore', 'ignore', 'pipe'] });
    } catch (err) {
      return (err as Error).message;
    }
    // a failed spawn (EAGAIN, ENOMEM) has no pid and emits 'error' on the next tick: heard, not thrown
    child.on('error', () => undefined);
    const pid = child.pid;
    if (pid === undefined) return 'the spawn of bash failed';
    recordSpawned(child);
    child.unref();
    child.stdin?.on('error', () => undefined); // EPIPE if bash died at once: the commands pipe reports it too
    child.stdin?.end(SCRIPT);
    // a 'pipe' slot is a net.Socket; unreferenced, so that the open pipe alone never keeps drover running
    const fd3 = child.stdio[3];
    const commands = fd3 instanceof Socket ? fd3 : null;
    commands?.on('error', () => undefined); // EPIPE if the guard was killed: its exit is heard below
    commands?.unref();
    const running: Running = { child, pid, commands, startedAt: performance.now(), replacement };
    child.on('exit', (code, signal) => this.ended(running, code, signal));
    return running;
  }

  /** The guard process ended: expected only after close(); otherwise replaced, with the groups of now. */
  private ended(gone: Running, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.running !== gone) return; // closed: its end was asked for
    this.running = null;
    gone.commands?.destroy();
    const how = signal ? `killed by ${signal}` : `exit status ${code ?? '?'}`;
    const lived = performance.now() - gone.startedAt;
    const what = `orphan guard pid ${gone.pid} ended unexpectedly (${how})`;
    const without = "carrying on without one: if drover is killed, programs' children may outlive it (pdeathsig reaches their first process only)";
    if (gone.replacement && lived < this.minReplacementLifeMs) {
      this.report(`${what} ${(lived / 1000).toFixed(1)} s after it was started to replace another; not starting another, ${without}`);
      return;
    }
    const next = this.spawn(true);
    if (typeof next === 'string') {
      this.report(`${what}; cannot start a new one (${next}); ${without}`);
      return;
    }
    this.running = next;
    for (const [pgid, startTicks] of this.groups) next.commands?.write(`add ${pgid} ${startTicks}\n`);
    this.report(`${what}; started a new one, pid ${next.pid}, guarding the ${this.groups.size} process group(s) alive now`);
  }
}
