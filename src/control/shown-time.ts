// The times of day the control API shows. A process record's times are steadyNowMs() readings (src/os/clock.ts),
// so that uptime and every grace period hold across a clock step; shown as they are, they would read an hour
// off after an NTP step of an hour, for as long as drover runs. They are shown on the wall clock instead: the
// record's time plus how far the wall clock now is from the steady one. That offset moves by a little with
// NTP's slewing too, so it is taken again only when it moved by STEP_MS or more: the answers kept per record
// stay valid between steps, and now minus start is still the uptime in every answer.
import { steadyNowMs } from '../os/clock.js';

/** the smallest change of the wall clock against the steady one that counts as a step */
const STEP_MS = 1000;

/** Date.now() - steadyNowMs() as last taken; 0 at drover's start (both clocks start together) */
let offsetMs = 0;

/** The offset from a steadyNowMs() reading to the wall-clock time it is shown as; changes only at a clock step. */
export function shownOffsetMs(): number {
  const now = Date.now() - steadyNowMs();
  if (Math.abs(now - offsetMs) >= STEP_MS) offsetMs = now;
  return offsetMs;
}

/** A steadyNowMs() reading (a record's time) as the wall-clock time it is shown as; null stays null. */
export function shownMs<T extends number | null>(steadyMs: T): T {
  return (steadyMs === null ? null : steadyMs + shownOffsetMs()) as T;
}
