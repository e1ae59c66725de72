// Time for durations and deadlines. Date.now() follows the wall clock, which an NTP step or `date -s` moves
// by hours at once: a deadline kept as a wall time then comes at once or an hour late. steadyNowMs() reads
// as wall-clock milliseconds (the wall time when this process started, plus the monotonic time since), so
// it can stand where Date.now() stood, be written to a journal and compared with a wall time from another
// process, and it never jumps. What is shown to a person as a time of day stays Date.now().

/** Milliseconds, wall-clock based but monotonic: the wall time at process start plus elapsed time since. */
export function steadyNowMs(): number {
  return performance.timeOrigin + performance.now();
}
