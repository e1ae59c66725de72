// The JavaScript stack of a stuck worker, as the master learns it. A worker whose event loop never returns
// cannot answer over IPC; its watchdog thread (src/worker/watchdog-thread.ts) pauses the main thread through
// an in-process inspector session — no port — and writes the frames as one line on the worker's stderr. The
// master scans that stream for it. The text comes from the worker, so it is bounded and stripped of control
// characters before it reaches drover's log.
import { StringDecoder } from 'node:string_decoder';
import { parseStuckReport, type StuckReport } from '../ipc/protocol.js';

/** A longer stderr line is no report (those are at most a few KiB): skipped without being kept. */
const MAX_LINE_CHARS = 64 * 1024;
const MAX_FRAMES = 32;
const MAX_FRAME_CHARS = 400;

/** Reads a worker's stderr chunks and calls `onReport` with each stuck report found in them. */
export function stuckReportScanner(onReport: (report: StuckReport) => void): (chunk: Buffer | string) => void {
  const decoder = new StringDecoder('utf8');
  /** the unfinished last line, '' at a line start; null while skipping an overlong line */
  let partial: string | null = '';
  return (chunk) => {
    const text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
    const lines = text.split('\n');
    const last = lines.pop() as string;
    for (const piece of lines) {
      const line = partial === null ? null : partial + piece;
      partial = '';
      const report = line === null ? null : parseStuckReport(line);
      if (report) onReport(clean(report));
    }
    if (partial !== null) partial = partial.length + last.length > MAX_LINE_CHARS ? null : partial + last;
  };
}

/** The frames of a report as log text, one per line; or null when the report has none. */
export function reportFrames(report: StuckReport): string | null {
  return 'frames' in report && report.frames.length > 0 ? report.frames.join('\n') : null;
}

// --- internal ---

function clean(report: StuckReport): StuckReport {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what must not reach the log
  const printable = (s: string, max: number): string => s.slice(0, max).replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  if ('frames' in report) return { stuckMs: report.stuckMs, frames: report.frames.slice(0, MAX_FRAMES).map((f) => printable(f, MAX_FRAME_CHARS)) };
  return { stuckMs: report.stuckMs, error: printable(report.error, MAX_FRAME_CHARS) };
}
