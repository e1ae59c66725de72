// What the master tells systemd as a Type=notify service (docs/systemd.md, "The notify protocol"), over the
// protocol of notify.ts: READY=1 once every autostart process is running or done as a job (as `up -d
// --wait` counts them; /readyz counts a job only under autorestart = false), STATUS= as processes change,
// RELOADING=1 and READY=1 around each reload, STOPPING=1 when the shutdown begins, MAINPID= from a master
// that took over after USR2, and the watchdog's keep-alives.
//
// Only one master speaks for the service: a new master stays quiet (watchdog aside) until it has taken
// over, and the old one goes quiet once it has handed over — under NotifyAccess=all systemd would take the
// old master's STOPPING=1 for the end of the whole service.
import type { ProcessSpec } from '../config/types.js';
import { notReadyProcesses } from '../control/health.js';
import type { Supervisor } from '../core/supervisor.js';
import type { Mood, ProcessSnapshot } from '../core/types.js';
import type { Logger } from '../logs/logger.js';
import { SystemdNotifier } from './notify.js';

export class ServiceNotifications {
  /** start() was called: readiness counts from then on */
  private started = false;
  /** READY=1 has been sent for the start-up (false again never: a reload ends with READY=1 of its own) */
  private ready = false;
  /** STOPPING=1 has been sent */
  private stopping = false;
  /** another master speaks for the service: send nothing but watchdog pings */
  private muted: boolean;
  /** a STATUS= update is due at the end of this turn */
  private statusDue = false;
  /** the last STATUS= text sent, not to repeat it */
  private lastStatus = '';
  /** a send has failed and not succeeded since: further failures are not logged */
  private failing = false;
  private readonly unsubscribe: () => void;

  private constructor(
    private readonly notifier: SystemdNotifier,
    private readonly supervisor: Supervisor,
    private readonly logger: Logger,
    successor: boolean,
  ) {
    this.muted = successor;
    this.unsubscribe = supervisor.onChange(() => this.changed());
  }

  /**
   * The notifications for drover's environment, or null when systemd did not ask for them (no
   * NOTIFY_SOCKET). `successor`: a master started by USR2, quiet until tookOver().
   */
  static fromEnv(supervisor: Supervisor, logger: Logger, opts: { successor: boolean }): ServiceNotifications | null {
    let self: ServiceNotifications | null = null;
    const onError = (err: Error): void => {
      if (self === null) logger.warn(err.message);
      else self.failed(err);
    };
    const notifier = SystemdNotifier.fromEnv(process.env, { onError });
    if (notifier === null) return null;
    self = new ServiceNotifications(notifier, supervisor, logger, opts.successor);
    const watchdog = notifier.startWatchdog();
    logger.info(`systemd: notifying ${notifier.socketPath}${watchdog ? `, WATCHDOG=1 every ${notifier.watchdogIntervalMs ?? 0} ms` : ''}`);
    return self;
  }

  /** Whether this master sends systemd's watchdog keep-alives (a successor then takes them over). */
  get ownsWatchdog(): boolean {
    return this.notifier.watchdogRunning;
  }

  /** The autostart processes have been started: READY=1 as soon as they are all ready (now, if none). */
  start(): void {
    this.started = true;
    this.changed();
  }

  /** A reload begins (RELOADING=1), once the start-up has been reported. */
  reloading(cause: string): void {
    if (this.muted || !this.ready || this.supervisor.mood !== 'running') return;
    this.sent(this.notifier.reloading(`reloading (${cause})`));
  }

  /** A reload has ended, applied or not: READY=1 ends systemd's reloading state. */
  reloaded(): void {
    if (this.muted || !this.ready || this.supervisor.mood !== 'running') return;
    this.sent(this.notifier.ready(this.statusText()));
  }

  /** This master, started by USR2, now serves: MAINPID= names it, and it reports from now on. */
  tookOver(): void {
    // one being stopped has taken nothing over: its MAINPID= would hand systemd a pid about to exit
    if (this.supervisor.mood !== 'running') return;
    this.muted = false;
    if (this.sent(this.notifier.mainPid(process.pid))) this.logger.info(`systemd: MAINPID=${process.pid}`);
    this.changed();
  }

  /** A new master has taken over: it speaks for the service (and keeps the watchdog) from now on. */
  handedOver(): void {
    this.muted = true;
    this.notifier.stopWatchdog();
  }

  /**
   * QUIT during a USR2: this master stops and the successor `pid`, still getting ready, carries on. Before
   * any STOPPING=1 (the mood listener that calls this runs before the first stop's effects): MAINPID= names
   * the successor, so that systemd neither takes this master's exit for the service's end nor kills the
   * successor with it; then this master is quiet. The successor's own MAINPID= and READY=1 follow once it
   * serves (tookOver); until then nobody sends watchdog keep-alives.
   */
  successorCarriesOn(pid: number): void {
    if (this.muted) return;
    if (this.sent(this.notifier.mainPid(pid))) this.logger.info(`systemd: MAINPID=${pid} (the new master carries on)`);
    this.handedOver();
  }

  /** The shutdown has begun (also called at the end of one, for a supervisor with nothing to stop). */
  shutdownBegun(): void {
    if (this.muted || this.stopping) return;
    this.stopping = true;
    this.sent(this.notifier.stopping(this.statusText()));
  }

  /** At exit: no more keep-alives, no more updates. */
  close(): void {
    this.notifier.stopWatchdog();
    this.unsubscribe();
    this.muted = true;
  }

  // --- internal ---

  /**
   * systemd's start-up waits for the autostart processes drover starts (not for those an operator stopped)
   * until each is running or done as a job (a one-shot's expected exit with no restart to come).
   */
  private readonly readiness = { stoppedByHand: (p: { key: string; spec: ProcessSpec }): boolean => this.supervisor.keptStopped(p), startUp: true };

  private changed(): void {
    if (this.muted) return;
    if (this.supervisor.mood !== 'running') {
      // before the effects of the first stop are run: STOPPING=1 goes out before any program is signalled
      this.shutdownBegun();
    } else if (this.started && !this.ready && notReadyProcesses(this.supervisor.snapshot(), this.readiness).length === 0) {
      // at once, in the change that made the last process ready: systemd's start-up ends here
      this.ready = this.sent(this.notifier.ready(this.statusText()));
      if (this.ready) this.logger.info(`systemd: READY=1 (${this.lastStatus})`);
      return;
    }
    this.statusSoon();
  }

  /** One STATUS= per turn of the event loop, however many processes changed in it. */
  private statusSoon(): void {
    if (this.statusDue) return;
    this.statusDue = true;
    setImmediate(() => {
      this.statusDue = false;
      if (this.muted) return;
      const text = statusLine(this.supervisor.snapshot(), this.supervisor.mood, this.readiness);
      if (text !== this.lastStatus) this.sent(this.notifier.status(text));
      this.lastStatus = text;
    });
  }

  private statusText(): string {
    this.lastStatus = statusLine(this.supervisor.snapshot(), this.supervisor.mood, this.readiness);
    return this.lastStatus;
  }

  /** Notes a send's outcome: a success re-arms the logging of failures. */
  private sent(ok: boolean): boolean {
    if (ok) this.failing = false;
    return ok;
  }

  private failed(err: Error): void {
    if (!this.failing) this.logger.warn(`${err.message} (further failures are not logged until a message gets through)`);
    this.failing = true;
  }
}

/**
 * systemd's STATUS= line: "5 of 5 processes running", "4 of 5 processes running; web: backoff" (the first
 * three that keep drover from being ready); during a shutdown "stopping: 2 of 5 processes left" (those
 * with a process still there: starting, running or stopping).
 */
export function statusLine(list: readonly ProcessSnapshot[], mood: Mood, readiness?: Parameters<typeof notReadyProcesses>[1]): string {
  const processes = `process${list.length === 1 ? '' : 'es'}`;
  if (mood !== 'running') {
    const left = list.filter((p) => p.record.state === 'starting' || p.record.state === 'running' || p.record.state === 'stopping').length;
    return `stopping: ${left} of ${list.length} ${processes} left`;
  }
  const head = `${list.filter((p) => p.record.state === 'running').length} of ${list.length} ${processes} running`;
  const names = new Map(list.map((p) => [p.key, p.spec.name]));
  const notReady = notReadyProcesses(list, readiness);
  if (notReady.length === 0) return head;
  const shown = notReady.slice(0, 3).map((n) => `${names.get(n.name) ?? n.name}: ${n.state}`);
  return `${head}; ${shown.join(', ')}${notReady.length > 3 ? `, ${notReady.length - 3} more` : ''}`;
}
