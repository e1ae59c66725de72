// CPU and memory of the supervised processes for status answers, read from /proc at most once a second per
// process and shared by every client. With a thousand processes that is a thousand reads of /proc/PID/stat
// (several ms): a status must not pay them when readings of the last second exist, and a client that asks
// again and again (`watch drover status`, the web page, supervisorctl) should not pay them in its requests.
// So a request starts a background refresh (an unref'd timer) that keeps every reading fresh until
// REFRESH_WHILE_ASKED_MS after the last request, then stops: nothing runs while no one asks. Each process's
// stat file is kept open once read (os/proc.ts StatFile), so the first status after a quiet spell, which
// reads every process again, pays a pread per process and no path lookups. Descriptors are what a spawn
// needs for its pipes, and a program must not fail to start because a status was asked for: a file is
// opened to be held only while drover uses less than HELD_FDS_OPEN_SHARE of its open-file limit, and the
// held files never number more than HELD_FDS_MAX_SHARE of it, whatever comes later. Past either, a process
// is read by path.
import { steadyNowMs } from '../os/clock.js';
import { CLOCK_TICKS, countOpenFds, openFileLimit, outOfDescriptors, PAGE_SIZE, readStat, StatFile, uptimeSeconds } from '../os/proc.js';

/** One process's figures in a sample. */
export interface ProcFigures {
  readonly rssBytes: number;
  /** percent of one core over the last window of at least SAMPLE_MS (or over its life in its first sample) */
  readonly cpuPercent: number;
}

/** How old a sample may be when a status uses it; also the shortest window of a CPU percentage. */
export const SAMPLE_MS = 1000;
/** How long after the last request the sample is kept fresh in the background. */
export const REFRESH_WHILE_ASKED_MS = 10_000;
/** A stat file is opened to be held only while the descriptors in use are under this share of the limit. */
export const HELD_FDS_OPEN_SHARE = 0.5;
/** The held stat files never number more than this share of the open-file limit (docs/decisions.md). */
export const HELD_FDS_MAX_SHARE = 0.125;

interface Reading {
  /** the process's stat file, held open while the reading is kept; null: read by path (no descriptor to spare) */
  readonly file: StatFile | null;
  /** process start in clock ticks since boot: with the pid, tells a reused pid from the old process */
  readonly startTicks: number;
  readonly cpuTicks: number;
  readonly atMs: number;
  readonly figures: ProcFigures;
}

export class ProcSampler {
  /** the last reading per pid (pids of processes that are gone are dropped, and their files closed, at the next refresh) */
  private readonly readings = new Map<number, Reading>();
  /** the background refresh, while clients ask */
  private timer: NodeJS.Timeout | null = null;
  /** when a client last asked, ms */
  private askedAtMs = 0;
  /** seconds since boot and when they were read, for the CPU average of a process seen for the first time */
  private boot: { atMs: number; secs: number } | null = null;
  /** how many more stat files may be held, from /proc/self/fd and the limit, counted at most once per SAMPLE_MS */
  private spareFds: { atMs: number; left: number } | null = null;
  /** the stat files held now */
  private held = 0;

  constructor(
    /** the pids to refresh in the background (every live process of the supervisor) */
    private readonly livePids: () => Iterable<number>,
    private readonly now: () => number = steadyNowMs,
  ) {}

  /**
   * `pid`'s figures from a reading at most SAMPLE_MS old (read now when there is none). The same object is
   * returned until a newer reading replaces it, so an answer built from it can be kept until then. Null
   * when the process is gone.
   */
  figures(pid: number): ProcFigures | null {
    const now = this.now();
    this.asked(now);
    const known = this.readings.get(pid);
    if (known && now - known.atMs < SAMPLE_MS) return known.figures;
    return this.read(pid, now)?.figures ?? null;
  }

  // --- internal ---

  private asked(now: number): void {
    this.askedAtMs = now;
    if (this.timer) return;
    const tick = (): void => {
      const at = this.now();
      if (at - this.askedAtMs > REFRESH_WHILE_ASKED_MS) {
        this.timer = null;
        this.dropGone(); // the files of processes that ended meanwhile are not held while no one asks
        return;
      }
      try {
        this.refresh(at);
      } catch (err) {
        // a timer's throw would stop drover: out of descriptors, this round is skipped (any other error is a bug)
        if (!outOfDescriptors(err)) throw err;
      }
      this.timer = setTimeout(tick, SAMPLE_MS);
      this.timer.unref();
    };
    this.timer = setTimeout(tick, SAMPLE_MS);
    this.timer.unref();
  }

  /** Reads every live process; drops the readings of the others. */
  private refresh(now: number): void {
    for (const pid of this.livePids()) this.read(pid, now);
    this.dropGone();
  }

  /** Drops the readings (and closes the files) of the processes that are no longer live. */
  private dropGone(): void {
    const live = new Set(this.livePids());
    for (const [pid, r] of this.readings) if (!live.has(pid)) this.forget(pid, r);
  }

  private forget(pid: number, r: Reading): void {
    if (r.file) {
      r.file.close();
      this.held -= 1;
    }
    this.readings.delete(pid);
  }

  /** Reads one process and stores the reading; null (and nothing stored) when it is gone. */
  private read(pid: number, now: number): Reading | null {
    let prev = this.readings.get(pid);
    // a window shorter than a second says little: the previous figures stand (figures() asks the same)
    if (prev && now - prev.atMs < SAMPLE_MS) return prev;
    let file = prev?.file ?? null;
    let st = file?.read() ?? null;
    if (file && !st && prev) {
      // the process this file was opened for has been reaped: the pid may be another's now
      this.forget(pid, prev);
      prev = undefined;
      file = null;
    }
    if (!st) {
      try {
        file = this.mayHoldFile(now) ? StatFile.open(pid) : null;
        st = file ? file.read() : readStat(pid);
      } catch (err) {
        file?.close(); // not stored: nothing else would close it
        // out of descriptors (a flood of connections, a low limit): no reading this time, what was read
        // before stands. A status figure is never worth the master (this runs on a timer: a throw here
        // would stop everything)
        if (outOfDescriptors(err)) return prev ?? null;
        throw err;
      }
      if (!st) {
        file?.close();
        if (prev) this.forget(pid, prev);
        return null;
      }
      if (file) this.held += 1;
    }
    let cpuPercent: number;
    if (prev && prev.startTicks === st.startTicks) {
      cpuPercent = (((st.cpuTicks - prev.cpuTicks) / CLOCK_TICKS) * 1000 * 100) / (now - prev.atMs);
    } else {
      // first sight of this process: its average over its life so far
      const aliveSecs = this.bootSecs(now) - st.startTicks / CLOCK_TICKS;
      cpuPercent = aliveSecs > 0 ? ((st.cpuTicks / CLOCK_TICKS) * 100) / aliveSecs : 0;
    }
    const rssBytes = st.rssPages * PAGE_SIZE;
    cpuPercent = Math.round(cpuPercent * 10) / 10;
    // unchanged figures keep their object, and so the answers built from it
    const figures = prev && prev.figures.rssBytes === rssBytes && prev.figures.cpuPercent === cpuPercent ? prev.figures : { rssBytes, cpuPercent };
    const reading: Reading = { file, startTicks: st.startTicks, cpuTicks: st.cpuTicks, atMs: now, figures };
    this.readings.set(pid, reading);
    return reading;
  }

  /** Whether one more stat file may be held open (HELD_FDS_OPEN_SHARE, HELD_FDS_MAX_SHARE). */
  private mayHoldFile(now: number): boolean {
    if (!this.spareFds || now - this.spareFds.atMs >= SAMPLE_MS) {
      let left: number;
      try {
        const limit = openFileLimit();
        left = Math.min(Math.floor(limit * HELD_FDS_OPEN_SHARE) - countOpenFds(), Math.floor(limit * HELD_FDS_MAX_SHARE) - this.held);
      } catch (err) {
        // EMFILE: reading /proc needs a descriptor too; none to spare, then
        if (!outOfDescriptors(err)) throw err;
        left = 0;
      }
      this.spareFds = { atMs: now, left };
    }
    if (this.spareFds.left <= 0) return false;
    this.spareFds.left -= 1;
    return true;
  }

  /** Seconds since boot, read from /proc at most once a second. */
  private bootSecs(now: number): number {
    if (!this.boot || Math.abs(now - this.boot.atMs) >= SAMPLE_MS) this.boot = { atMs: now, secs: uptimeSeconds() };
    return this.boot.secs + (now - this.boot.atMs) / 1000;
  }
}
