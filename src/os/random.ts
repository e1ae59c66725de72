// Random names (temp files, abstract sockets) from the kernel's generator, getrandom(2) through the native
// layer: the daemon then never loads node:crypto, which costs it ~2 MB of memory, for a few random bytes.
// Where koffi cannot load, node:crypto gives the same kind of bytes (both read the kernel's CSPRNG).
import { createRequire } from 'node:module';
import { load, nativeAvailable } from './libc.js';

/** `bytes` random bytes from the kernel's CSPRNG, as hex. */
export function randomHex(bytes: number): string {
  const buf = Buffer.alloc(bytes);
  // flags 0: blocks only until the kernel's pool was first seeded, which is long done once anything runs
  if (nativeAvailable() && load().getrandom(buf, bytes, 0) === bytes) return buf.toString('hex');
  const crypto = createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto');
  return crypto.randomBytes(bytes).toString('hex');
}
