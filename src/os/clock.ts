// Time for durations and deadlines. Date.now() follows the wall clock, which an NTP step or `date -s` moves
// by hours at once: a deadline kept as a wall time then comes at once or an hour late. steadyNowMs() reads
// as wall-clock milliseconds (the wall time when this process started, plus the monotonic time since), so
// it can stand where Date.now() stood, and it never jumps. It is this process's clock only: after a step it
// stays off the wall clock by the step, and another process's (started since) is not, so a time that goes
// to another process (a journaled due time) is converted to the wall time it stands for on the way out
// (Date.now() - steadyNowMs() apart) and back on the way in. What is shown to a person as a time of day
// stays Date.now().

/** Milliseconds, wall-clock based but monotonic: the wall time at process start plus elapsed time since. */
export function steadyNowMs(): number {
  return performance.timeOrigin + performance.now();
}
