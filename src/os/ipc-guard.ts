// A worker's IPC channel as the master reads it. A drover worker runs app code, maybe as an unprivileged
// user, so what arrives on its channel is untrusted input to a root master. Node reads the channel itself
// and trusts it: a line that is not JSON throws out of its read callback (an uncaught exception in the
// master), a descriptor sent with a message is accepted into the master, and a line without its newline is
// buffered without limit. drover's workers send none of these (descriptors go the other way, to spares).
//
// This relies on Node internals, found by feature detection: the child's channel handle is the Pipe in its
// own symbol property `kChannelHandle`; Node's read callback is the Pipe's `onread`; a received descriptor
// waits in its `pendingHandle`; the unfinished line is the string in its symbol property `kJSONBuffer`
// (Node 20.20, 22.23 and 24.21 alike). Where they are not found, drover warns once and the channel is read
// as Node reads it.
import type { ChildProcess } from 'node:child_process';

/**
 * The longest line a worker may have on its way, in characters: above it, the worker is killed. drover's
 * largest message is a batch of shared calls (src/primitives/client.ts sends at most 32 per message, each
 * value or task at most 1 MiB as JSON), so about 33 MiB at most.
 */
export const MAX_IPC_LINE_CHARS = 64 * 1024 * 1024;

/** What a worker's channel carried that no drover worker sends, as the log says it ("its IPC channel carried …"). */
export type ViolationListener = (carried: string) => void;

/**
 * Guards `child`'s IPC channel: on a violation, nothing more is read from it, it is closed, and the
 * listener given to `onChannelViolation` is told (once). Call right after the spawn, before any read.
 */
export function guardChannel(child: ChildProcess): void {
  const pipe = channelPipe(child);
  if (pipe === null) {
    if (!warned) {
      warned = true;
      process.emitWarning("drover: a worker's IPC channel is not where this Node keeps it; its messages are read unchecked (a bad one can stop the master)");
    }
    return;
  }
  const original = pipe.onread;
  // found once: looked up at every read it would cost the queue's hot path a symbol list per message batch
  const lineKey = ownSymbol(pipe, 'kJSONBuffer') as symbol;
  const state: GuardState = { listener: null, carried: null };
  guarded.set(child, state);
  const violated = (carried: string): void => {
    if (state.carried !== null) return;
    state.carried = carried;
    // nothing more is read; closing the pipe also closes descriptors libuv queued behind the first
    pipe.readStop();
    pipe.onread = () => undefined;
    Reflect.set(pipe, lineKey, '');
    pipe.close();
    // else Node's disconnect would wait for the rest of the unfinished line, which will never come
    pipe.buffering = false;
    // Node's own bookkeeping (connected, 'disconnect'); the channel is closed already
    if (child.connected) child.disconnect();
    state.listener?.(carried);
  };
  // Node's own messages (`{"cmd":"NODE_…"}`) are emitted to the child's 'internalMessage' listeners on a later
  // tick, out of the read above: Node's handler of a handle acknowledgement asserts that a handle is on its
  // way to the worker, and its failed assert stopped the master. The only internal messages a worker has
  // reason to send are that acknowledgement (or its refusal) while the master hands it a socket; any other
  // is a violation, dropped before Node sees it.
  const emit = child.emit;
  child.emit = function (this: ChildProcess, event: string | symbol, ...rest: unknown[]): boolean {
    if (event === 'internalMessage' && !expectedInternal(child, rest[0])) {
      const cmd: unknown = typeof rest[0] === 'object' && rest[0] !== null ? Reflect.get(rest[0], 'cmd') : undefined;
      violated(`an internal message of Node's (${JSON.stringify(String(cmd)).slice(0, 80)})`);
      return false;
    }
    return Reflect.apply(emit, this, [event, ...rest]) as boolean;
  };
  pipe.onread = function (this: unknown, ...args: unknown[]): unknown {
    const handle = pipe.pendingHandle;
    if (handle) {
      pipe.pendingHandle = null;
      // a received descriptor is a handle wrap the master now owns: closed unread
      handle.close();
      violated('a file descriptor');
      return undefined;
    }
    try {
      const result = original.apply(this, args);
      const line: unknown = Reflect.get(pipe, lineKey);
      const pending = typeof line === 'string' ? line.length : 0;
      if (pending > MAX_IPC_LINE_CHARS) violated(`a line longer than ${MAX_IPC_LINE_CHARS} characters`);
      return result;
    } catch (err) {
      // JSON.parse of a line that is not JSON (SyntaxError), or one nested too deep (RangeError)
      violated(err instanceof SyntaxError ? `a line that is not JSON (${String(err).slice(0, 200)})` : `a message the master could not read (${String(err).slice(0, 200)})`);
      return undefined;
    }
  };
}

/** Names who is told about a violation on `child`'s guarded channel (told at once if one came already). */
export function onChannelViolation(child: ChildProcess, listener: ViolationListener): void {
  const state = guarded.get(child);
  if (!state) return;
  state.listener = listener;
  if (state.carried !== null) listener(state.carried);
}

// --- internal ---

/** A handle acknowledgement (or refusal) while the master has a handle on its way to the worker. */
function expectedInternal(child: ChildProcess, message: unknown): boolean {
  if (typeof message !== 'object' || message === null) return false;
  const cmd: unknown = Reflect.get(message, 'cmd');
  return (cmd === 'NODE_HANDLE_ACK' || cmd === 'NODE_HANDLE_NACK') && Array.isArray(Reflect.get(child, '_handleQueue'));
}

interface HandleWrap {
  close(): void;
}

/** The parts of Node's Pipe handle (an IPC channel) the guard uses. */
interface ChannelPipe {
  onread: (...args: unknown[]) => unknown;
  pendingHandle: HandleWrap | null;
  /** Node's "a line is half read" flag; a disconnect waits for the line while it is set */
  buffering?: boolean;
  readStop(): number;
  close(): void;
}

interface GuardState {
  listener: ViolationListener | null;
  /** what the channel carried, once a violation came; null until then */
  carried: string | null;
}

const guarded = new WeakMap<ChildProcess, GuardState>();
let warned = false;

function ownSymbol(o: object, description: string): symbol | undefined {
  return Object.getOwnPropertySymbols(o).find((s) => s.description === description);
}

function channelPipe(child: ChildProcess): ChannelPipe | null {
  const key = ownSymbol(child, 'kChannelHandle');
  const pipe: unknown = key === undefined ? undefined : Reflect.get(child, key);
  if (typeof pipe !== 'object' || pipe === null) return null;
  const p = pipe as Partial<ChannelPipe>;
  if (!Object.hasOwn(p, 'pendingHandle') || typeof p.onread !== 'function' || typeof p.readStop !== 'function' || typeof p.close !== 'function') return null;
  if (ownSymbol(p, 'kJSONBuffer') === undefined) return null;
  return p as ChannelPipe;
}
