// The C heap after a burst. A start of a thousand programs, a reload, a flood of log lines, answers about
// a thousand programs (a /metrics scrape leaves ~10 MiB): each leaves
// memory that malloc has freed but keeps for reuse, and a daemon that then sits idle would hold it for its
// whole life (about 1 MiB of a 1000-program daemon; bench/RESULTS.md, fourteenth session). Once the
// supervisor has seen no state change and the control server has sent no answer for a while (or a minute
// after a burst that does not end), that memory goes back to the kernel. V8's own heap needs
// nothing of the kind: its memory reducer compacts and unmaps by itself once the daemon is idle.
import { steadyNowMs } from '../os/clock.js';
import { readFileSync } from 'node:fs';
import { trimCHeap } from '../os/native.js';

/** How long the supervisor must be quiet (no state change, no answer) before the C heap is trimmed. */
export const QUIET_MS = 10_000;
/** The longest a trim waits for quiet: a scrape every 5 s, or a program that flaps, would otherwise put it off for ever. */
export const MAX_WAIT_MS = 60_000;

/** What a trim gave back: the daemon's anonymous memory before and after, KiB (null where unknown). */
export interface TrimReport {
  readonly beforeKiB: number | null;
  readonly afterKiB: number | null;
}

/**
 * Trims the C heap once `source` has been quiet for `quietMs` (the supervisor's state changes, the control
 * server's answers), after start and after each later burst; while changes keep coming, `maxWaitMs` after
 * the first of them. `onTrim` hears what it gave back. The timer never keeps the process alive. Returns
 * the function that stops it.
 */
export function trimWhenQuiet(source: { onChange(listener: () => void): () => void }, onTrim: (r: TrimReport) => void, quietMs = QUIET_MS, maxWaitMs = MAX_WAIT_MS): () => void {
  let timer: NodeJS.Timeout | null = null;
  /** when the burst the timer waits out began */
  let since = 0;
  const fire = (): void => {
    timer = null;
    const beforeKiB = anonymousKiB();
    if (trimCHeap()) onTrim({ beforeKiB, afterKiB: anonymousKiB() });
  };
  const arm = (): void => {
    if (timer !== null) {
      // put off again, as long as that keeps within the longest wait
      if (steadyNowMs() + quietMs <= since + maxWaitMs) timer.refresh();
      return;
    }
    since = steadyNowMs();
    timer = setTimeout(fire, quietMs);
    timer.unref();
  };
  arm();
  const off = source.onChange(arm);
  return () => {
    off();
    if (timer !== null) clearTimeout(timer);
    timer = null;
  };
}

/** This process's anonymous resident memory (RssAnon), KiB; null when /proc does not say. */
function anonymousKiB(): number | null {
  try {
    const m = /^RssAnon:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'latin1'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}
