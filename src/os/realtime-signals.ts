// Listening for signals Node has no name for (the real-time ones, SIGRTMIN+3 and +4 in drover's case):
// `process.on` takes only the names of Node's own table, which stops at 31. Node's signal listeners are
// libuv signal handles on the main loop, and libuv itself takes any number below NSIG (65 on Linux); the
// Node binary exports libuv's functions (for addons), so this starts such a handle through koffi, on the
// same loop (`uv_default_loop()`, the main thread's loop in Node 20 to 24) and with the same mechanism:
// libuv's handler, async-signal-safe, writes the number to a pipe, and the loop calls `onSignal` on the
// main thread, between two turns of JavaScript, as it calls a `process.on` listener.
//
// Not chosen: blocking the signals and reading them from a signalfd. A blocked mask survives execve, but
// Node sets its own at start (measured on Node 20: the main thread's mask empty, every other thread's
// SIGUSR1 only, whatever was blocked before), and a signal left unblocked in any one thread is delivered
// there with its default action (for a real-time signal: the end of the process).
//
// What a program drover spawns inherits: nothing. A handled signal is reset to its default by execve,
// and libuv's spawn gives the child an empty mask (checked by the tests through /proc/PID/status).
import { createRequire } from 'node:module';
import type * as KoffiModule from 'koffi';
import { NativeError } from './libc.js';

/** libuv's uv_handle_type for a signal handle (uv.h: UV_SIGNAL follows UV_UDP) */
const UV_SIGNAL = 16;

interface UvSignal {
  readonly loop: unknown;
  readonly handleBytes: number;
  readonly alloc: (bytes: number) => unknown;
  readonly init: (loop: unknown, handle: unknown) => number;
  readonly start: (handle: unknown, cb: unknown, signum: number) => number;
  readonly unref: (handle: unknown) => void;
  readonly stop: (handle: unknown) => number;
  readonly close: (handle: unknown, cb: null) => void;
  readonly register: (fn: (handle: unknown, signum: number) => void) => unknown;
}

/**
 * One binding per process, shared by every copy of this module (bin/drover.js loads a bundled one): koffi
 * refuses a type name defined twice. For the same reason koffi is required here, not through libc.ts's
 * load(), whose types the bundled copy would define a second time.
 */
const BINDING = Symbol.for('drover.uv-signal');

function bind(): UvSignal {
  const globals = globalThis as Record<symbol, unknown>;
  const bound = globals[BINDING] as UvSignal | undefined;
  if (bound !== undefined) return bound;
  const koffi = createRequire(import.meta.url)('koffi') as typeof KoffiModule;
  // the running program's symbols: libuv inside the node binary, or a shared libuv a distribution links
  const lib = koffi.load(null);
  const fn = (proto: string): ((...args: unknown[]) => unknown) => lib.func(proto) as (...args: unknown[]) => unknown;
  const cbType = koffi.pointer(koffi.proto('void drover_uv_signal_cb(void *handle, int signum)'));
  const handleSize = fn('size_t uv_handle_size(int type)');
  const uv: UvSignal = {
    loop: fn('void *uv_default_loop()')(),
    handleBytes: Number(handleSize(UV_SIGNAL)),
    alloc: (bytes) => koffi.alloc('uint8_t', bytes),
    init: fn('int uv_signal_init(void *loop, void *handle)') as UvSignal['init'],
    start: fn('int uv_signal_start(void *handle, drover_uv_signal_cb *cb, int signum)') as UvSignal['start'],
    unref: fn('void uv_unref(void *handle)') as UvSignal['unref'],
    stop: fn('int uv_signal_stop(void *handle)') as UvSignal['stop'],
    close: fn('void uv_close(void *handle, void *cb)') as UvSignal['close'],
    register: (f) => koffi.register(f, cbType),
  };
  globals[BINDING] = uv;
  return uv;
}

/** Signals being listened for; stop() gives each back to its default action (or to another listener of it). */
export interface SignalListening {
  stop(): void;
}

/**
 * Calls `onSignal(number)` on the main thread for each of `signals` received (rapid repeats of one may
 * coalesce, as for process.on). Like Node's listeners, it does not keep the process alive. Throws a
 * DroverError (E_NATIVE, or the errno name libuv gave) when it cannot listen; then nothing is left listening.
 */
export function listenForSignals(signals: readonly number[], onSignal: (signum: number) => void): SignalListening {
  const uv = bind();
  const callback = uv.register((_handle, signum) => {
    try {
      onSignal(signum);
    } catch (err) {
      // not into libuv's loop: thrown again outside the callback, as a listener's error would be
      queueMicrotask(() => {
        throw err;
      });
    }
  });
  const handles: unknown[] = [];
  const listening: SignalListening = {
    stop: () => {
      // a closed handle is freed by libuv on the next turn: its memory (a few hundred bytes) is kept for
      // good, as is the callback, which a signal already queued may still reach
      for (const h of handles.splice(0)) {
        uv.stop(h);
        uv.close(h, null);
      }
    },
  };
  for (const signum of signals) {
    const handle = uv.alloc(uv.handleBytes);
    let rc = uv.init(uv.loop, handle);
    const call = rc === 0 ? 'uv_signal_start' : 'uv_signal_init';
    if (rc === 0) {
      handles.push(handle);
      rc = uv.start(handle, callback, signum);
    }
    if (rc !== 0) {
      listening.stop();
      throw new NativeError(call, -rc, `signal ${signum}`); // libuv returns -errno
    }
    uv.unref(handle);
  }
  return listening;
}
