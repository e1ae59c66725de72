// Programs' output as events (supervisor's POutputDispatcher): with `stdout_events_enabled` each read of
// the pipe becomes a PROCESS_LOG_STDOUT event; with `stdout_capture_maxbytes` what the program writes between
// <!--XSUPERVISOR:BEGIN--> and <!--XSUPERVISOR:END--> becomes one PROCESS_COMMUNICATION_STDOUT event and is
// kept out of the log (likewise for stderr). Sits between a child's pipe and the log sink (core's OutputTap);
// a stream with neither setting is handed back untouched.
import { Transform, type TransformCallback } from 'node:stream';
import type { ProcessSpec } from '../config/types.js';
import type { OutputTap } from '../core/launcher.js';
import type { StreamName } from '../logs/output.js';
import type { OutputStream } from '../os/pipe-reader.js';
import type { EventBus } from './bus.js';
import { processCommunicationPayload, processLogPayload } from './payloads.js';

export const BEGIN_TOKEN = Buffer.from('<!--XSUPERVISOR:BEGIN-->');
export const END_TOKEN = Buffer.from('<!--XSUPERVISOR:END-->');

export class OutputEvents implements OutputTap {
  constructor(private readonly bus: EventBus) {}

  tap(spec: ProcessSpec, pid: number, stream: StreamName, source: OutputStream): OutputStream {
    // with redirect_stderr supervisor reads both streams from one pipe: the stdout settings apply to both
    const channel = stream === 'stderr' && spec.redirectStderr ? 'stdout' : stream;
    const eventsEnabled = channel === 'stdout' ? spec.stdoutEventsEnabled : spec.stderrEventsEnabled;
    const captureMaxBytes = channel === 'stdout' ? spec.stdoutCaptureMaxBytes : spec.stderrCaptureMaxBytes;
    if (!eventsEnabled && captureMaxBytes <= 0) return source;
    const t = new OutputEventStream(this.bus, { spec, pid, channel, eventsEnabled, captureMaxBytes });
    // a read is a view of a buffer the next read overwrites (src/os/pipe-reader.ts): the transform keeps a
    // copy; and its back-pressure pauses the pipe, as the sink's does
    source.on('data', (chunk) => {
      if (!t.write(Buffer.from(chunk))) source.pause();
    });
    t.on('drain', () => source.resume());
    source.on('end', () => t.end());
    source.on('error', (err) => t.destroy(err));
    return t;
  }
}

interface StreamOptions {
  readonly spec: ProcessSpec;
  readonly pid: number;
  readonly channel: StreamName;
  readonly eventsEnabled: boolean;
  readonly captureMaxBytes: number;
}

const EMPTY = Buffer.alloc(0);
/** The most output one PROCESS_LOG event carries: what one read of a default-sized pipe returns at most. */
const MAX_LOG_EVENT_BYTES = 64 * 1024;

/** One process stream: passes what goes to the log, raises the events, holds capture data. */
class OutputEventStream extends Transform {
  /** bytes held back because they may be the start of a token (supervisor's output_buffer) */
  private held: Buffer = EMPTY;
  /** between the BEGIN and END tokens */
  private capturing = false;
  /** what was captured so far (supervisor's BoundIO) */
  private captured: Buffer = EMPTY;

  constructor(
    private readonly bus: EventBus,
    private readonly o: StreamOptions,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (this.o.captureMaxBytes <= 0) this.log(chunk);
    else {
      this.held = this.held.length === 0 ? chunk : Buffer.concat([this.held, chunk]);
      this.recordOutput();
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    // supervisor loses what it held back when the pipe closes (at most a token's length): drover keeps it in
    // the log, raising no event for it, as supervisor raises none
    const rest = this.held;
    this.held = EMPTY;
    if (rest.length > 0) {
      if (this.capturing) this.captureWrite(rest);
      else this.push(rest);
    }
    done();
  }

  /** supervisor's record_output, its recursion turned into a loop. */
  private recordOutput(): void {
    for (;;) {
      const token = this.capturing ? END_TOKEN : BEGIN_TOKEN;
      if (this.held.length <= token.length) return; // not enough to tell
      const data = this.held;
      this.held = EMPTY;
      const at = data.indexOf(token);
      if (at < 0) {
        // keep a tail that may be the start of the token
        const keep = prefixAtEnd(data, token);
        if (keep > 0) this.held = data.subarray(data.length - keep);
        this.log(data.subarray(0, data.length - keep));
        return;
      }
      this.log(data.subarray(0, at));
      this.toggleCapture();
      this.held = data.subarray(at + token.length);
      if (this.held.length === 0) return;
    }
  }

  /** supervisor's _log: to the log (or the capture buffer), and a PROCESS_LOG event when enabled. */
  private log(data: Buffer): void {
    if (data.length === 0) return;
    if (this.capturing) this.captureWrite(data);
    else this.push(data);
    if (!this.o.eventsEnabled) return;
    const type = this.o.channel === 'stdout' ? 'PROCESS_LOG_STDOUT' : 'PROCESS_LOG_STDERR';
    if (!this.bus.wants(type)) return;
    const { spec, pid, channel } = this.o;
    // one event per read, as supervisord's, whose reads are at most a default pipe's 64 KiB: drover's
    // pipes are larger, so a larger read is cut to events of that size
    for (let at = 0; at < data.length; at += MAX_LOG_EVENT_BYTES) {
      this.bus.raise(type, processLogPayload(spec.name, spec.group, pid, channel, data.subarray(at, at + MAX_LOG_EVENT_BYTES)));
    }
  }

  /** supervisor's BoundIO.write: over the bound, as many bytes as are written are dropped from the front. */
  private captureWrite(data: Buffer): void {
    const kept = this.captured.length + data.length > this.o.captureMaxBytes ? this.captured.subarray(data.length) : this.captured;
    this.captured = Buffer.concat([kept, data]);
  }

  private toggleCapture(): void {
    this.capturing = !this.capturing;
    if (this.capturing) return;
    const data = this.captured;
    this.captured = EMPTY;
    const type = this.o.channel === 'stdout' ? 'PROCESS_COMMUNICATION_STDOUT' : 'PROCESS_COMMUNICATION_STDERR';
    const { spec, pid } = this.o;
    this.bus.raise(type, processCommunicationPayload(spec.name, spec.group, pid, data));
  }
}

/** medusa's find_prefix_at_end: the length of the longest proper prefix of `token` that `data` ends with. */
export function prefixAtEnd(data: Buffer, token: Buffer): number {
  for (let l = token.length - 1; l > 0; l--) {
    if (data.length >= l && data.subarray(data.length - l).equals(token.subarray(0, l))) return l;
  }
  return 0;
}
