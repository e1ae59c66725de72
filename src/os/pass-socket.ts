// Handing a listening socket to a running child over its Node IPC channel (SCM_RIGHTS underneath), without
// the master ever accepting on it. Node sends only its own handle objects: a net.Socket made over a
// duplicate of the fd, neither readable nor writable, never polls it, and its `_handle` (libuv's TCP handle,
// the documented "anything with an underlying _handle" of server.listen) goes as a raw handle — which the
// child receives as such, not wrapped in a net.Socket that would start reading from a listening socket
// (ENOTCONN as soon as a connection is queued). The child listens on it with server.listen(handle): the very
// socket the master holds, with whatever connections are queued on it.
import type { ChildProcess } from 'node:child_process';
import { closeSync } from 'node:fs';
import { Socket, type Server } from 'node:net';
import { duplicateFd } from './native.js';

/**
 * Sends `message` with the listening socket `fd` as its handle; the master's `fd` stays open. Resolves
 * false when it could not be sent (the child is gone: its exit tells the rest).
 */
export function sendListeningSocket(child: ChildProcess, message: object, fd: number): Promise<boolean> {
  const dup = duplicateFd(fd);
  let wrapper: Socket;
  try {
    wrapper = new Socket({ fd: dup, readable: false, writable: false });
  } catch (err) {
    closeSync(dup);
    throw err;
  }
  // `_handle` is not in Node's typings: reached by name, so nothing is cast
  const handle: unknown = Reflect.get(wrapper, '_handle');
  return new Promise((resolve) => {
    // the callback comes once the message is written: the kernel holds its own reference to the socket by
    // then, so the duplicate can close (a raw handle is never closed by Node for us)
    child.send(message, handle as Parameters<ChildProcess['send']>[1], (err) => {
      wrapper.destroy();
      resolve(err === null);
    });
  });
}

/** The fd of a listening Node server (its libuv handle's), to hand to another process; null when it has none. */
export function listeningFd(server: Server): number | null {
  const handle: unknown = Reflect.get(server, '_handle');
  const fd: unknown = typeof handle === 'object' && handle !== null ? Reflect.get(handle, 'fd') : undefined;
  return typeof fd === 'number' && fd >= 0 ? fd : null;
}
