// A child's stdin. Under the native layer it is a real pipe, as under supervisord: the child reads fd 0,
// and the master keeps the write end as a bare fd until something is first written to it (XML-RPC's
// sendProcessStdin, an event listener's events), when it becomes a net.Socket. Most programs never get a
// byte on stdin; a socket for each of them was a third of what a program cost the daemon in memory.
// Without the native layer it wraps Node's own stdin stream of the child.
import { closeSync } from 'node:fs';
import { Socket } from 'node:net';

export class ChildStdin {
  private socket: Socket | null;
  private closed = false;

  /** `source`: the master's write end (an fd it owns), or Node's stream of the child's stdin. */
  constructor(private readonly source: number | Socket) {
    this.socket = typeof source === 'number' ? null : source;
    // EPIPE when the program has closed its stdin: harmless, the write is lost as under supervisord
    this.socket?.on('error', () => undefined);
  }

  /** Whether it can still be written to (not closed, and not ended by a write that failed). */
  get open(): boolean {
    return !this.closed && (this.socket === null || this.socket.writable);
  }

  /** The stream to write to; made on first use. Null once closed. */
  stream(): NodeJS.WritableStream | null {
    if (!this.open) return null;
    if (this.socket === null) {
      this.socket = new Socket({ fd: this.source as number, readable: false, writable: true });
      this.socket.on('error', () => undefined);
    }
    return this.socket;
  }

  /** Closes the master's end (the child has exited). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.socket !== null) this.socket.destroy();
    else closeSync(this.source as number);
  }
}
