// Node's timers hold a delay in a signed 32-bit count of milliseconds: a longer one (over 24.8 days, such as
// stopwaitsecs = 3000000) fires after 1 ms, with a TimeoutOverflowWarning. Every timer whose delay comes
// from the config goes through timerDelay: such a delay is cut to the longest Node can wait, so a very long
// stopwaitsecs still means "wait", never "kill now" (docs/decisions.md).

/** The longest delay setTimeout honours, in ms (2^31 - 1, about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** `ms` as a delay setTimeout honours: at most MAX_TIMER_MS, at least 0. */
export function timerDelay(ms: number): number {
  return Math.max(0, Math.min(ms, MAX_TIMER_MS));
}
