// File descriptors drover inherited from whoever started it. A parent that leaks fds (a shell's `exec 9<…`,
// a CI runner, a terminal multiplexer) would otherwise pass them on to every program drover starts, `user=`
// programs included (supervisord closes fds 3…minfds in each child for the same reason). drover marks every
// inherited fd close-on-exec once, first thing; the fds it hands on by design (listening sockets, the lock on
// a re-exec) reach their child through explicit stdio slots, which the kernel's dup2 makes inheritable again.
import { readdirSync } from 'node:fs';
import { setCloexec } from './native.js';
import { NativeError } from './libc.js';

/** Marks every open fd from 3 up close-on-exec; returns the fds that were inheritable before. */
export function closeInheritedOnExec(): number[] {
  const changed: number[] = [];
  for (const name of readdirSync('/proc/self/fd')) {
    const fd = Number(name);
    if (!Number.isInteger(fd) || fd < 3) continue;
    try {
      if (setCloexec(fd, true)) changed.push(fd);
    } catch (err) {
      // EBADF: the directory listing's own fd, closed again by the time we got to it
      if (!(err instanceof NativeError && err.code === 'EBADF')) throw err;
    }
  }
  return changed;
}
