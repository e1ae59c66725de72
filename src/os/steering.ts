// Round-robin steering of a SO_REUSEPORT group (issue 17): a small eBPF program of type SK_REUSEPORT,
// attached to the group, picks the listener for each new connection from a list the master keeps — the
// next one in turn, instead of the kernel's hash of the connection's addresses. Two BPF maps hold its state:
// a one-entry array (the turn counter and how many listeners are in the list) and a REUSEPORT_SOCKARRAY
// (the listeners, at positions 0…n-1). With an empty list, or a position the kernel emptied (its socket
// closed), the program selects nothing and the kernel falls back to its hash.
//
// Loading the program needs CAP_BPF (root, in practice); without it attach() throws and the caller keeps
// the hash. The program and maps live as long as a socket of the group holds the program (or a process
// holds their fds): a re-exec'd master inherits their fds (handles()) and adopt()s them, so the list its
// predecessor wrote stays in force until the new master rewrites it.
import { errnoName, load, NativeError, type Libc } from './libc.js';

// bpf(2) commands, map and program types (uapi/linux/bpf.h)
const BPF_MAP_CREATE = 0;
const BPF_MAP_LOOKUP_ELEM = 1;
const BPF_MAP_UPDATE_ELEM = 2;
const BPF_MAP_DELETE_ELEM = 3;
const BPF_PROG_LOAD = 5;
const BPF_MAP_TYPE_ARRAY = 2;
const BPF_MAP_TYPE_REUSEPORT_SOCKARRAY = 20;
const BPF_PROG_TYPE_SK_REUSEPORT = 21;
const BPF_ANY = 0;
/** the size of union bpf_attr we pass: larger than every field we set; the kernel wants the rest zero */
const ATTR_SIZE = 128;
const SOL_SOCKET = 1;
const SO_ATTACH_REUSEPORT_EBPF = 52;
const IPPROTO_TCP = 6;
const TCP_INFO = 11;
/** offset of tcpi_unacked in struct tcp_info: for a listener, the connections waiting in its accept queue */
const TCPI_UNACKED = 24;
/** the most listeners the list can hold (8 bytes each in the kernel) */
export const STEERING_CAPACITY = 4096;

/** __NR_bpf: drover supports x86_64 and aarch64 */
const NR_BPF = process.arch === 'arm64' ? 280 : 321;

/**
 * What steer() did: the fds now in the list, and those the kernel refused with its errno name — EINVAL for
 * a socket that does not listen (yet), EBUSY for one still in another process's list (a re-exec'd
 * master's predecessor, until it lets go).
 */
export interface SteerResult {
  /** false when the list already was `fds` (nothing was written) */
  readonly changed: boolean;
  readonly listed: readonly number[];
  readonly refused: readonly { readonly fd: number; readonly code: string }[];
}

export class ReuseportSteering {
  private closed = false;
  /** the fds in the list, at their positions */
  private current: number[] = [];
  /** positions a predecessor filled (adopt()): emptied by the first rewrite */
  private inheritedPositions = 0;

  private constructor(
    private readonly c: Libc,
    /** the array map: [turn counter, listeners in the list] as two u32 */
    private readonly ctlMap: number,
    private readonly sockMap: number,
    private readonly prog: number,
  ) {}

  /**
   * Loads the program and attaches it to the SO_REUSEPORT group of `fd` (a bound TCP socket with
   * SO_REUSEPORT). Until steer() is called the list is empty and the kernel's hash decides. Throws
   * NativeError (EPERM without CAP_BPF, ENOSYS or EINVAL on a kernel without it).
   */
  static attach(fd: number): ReuseportSteering {
    const c = load();
    const fds: number[] = [];
    try {
      const ctlMap = createMap(c, BPF_MAP_TYPE_ARRAY, 8, 1);
      fds.push(ctlMap);
      const sockMap = createMap(c, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY, 8, STEERING_CAPACITY);
      fds.push(sockMap);
      const prog = loadProgram(c, program(ctlMap, sockMap));
      fds.push(prog);
      if (c.setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, new Int32Array([prog]), 4) !== 0) {
        throw new NativeError('setsockopt', c.koffi.errno(), 'SO_ATTACH_REUSEPORT_EBPF');
      }
      return new ReuseportSteering(c, ctlMap, sockMap, prog);
    } catch (err) {
      for (const f of fds) c.close(f);
      throw err;
    }
  }

  /**
   * Takes over the program and maps a predecessor master handed over (handles(), in that order): the list it
   * wrote stays in force until steer() rewrites it. Throws NativeError when the fds are not its maps.
   */
  static adopt(ctlMap: number, sockMap: number, prog: number): ReuseportSteering {
    const c = load();
    const steering = new ReuseportSteering(c, ctlMap, sockMap, prog);
    const ctl = Buffer.alloc(8);
    if (lookupElem(c, ctlMap, 0, ctl) !== 0) throw new NativeError('bpf', c.koffi.errno(), 'BPF_MAP_LOOKUP_ELEM');
    steering.inheritedPositions = Math.min(STEERING_CAPACITY, ctl.readUInt32LE(4));
    return steering;
  }

  /** The program's and maps' fds, for a successor to adopt(): [counter map, socket map, program]. */
  handles(): [number, number, number] {
    return [this.ctlMap, this.sockMap, this.prog];
  }

  /**
   * New connections go to `fds` in turn, from now on. A socket the kernel refuses in the list is left out
   * (SteerResult says which, and why). An empty list gives the choice back to the kernel's hash.
   */
  steer(fds: readonly number[]): SteerResult {
    if (this.closed) return { changed: false, listed: [], refused: [] };
    const want = fds.slice(0, STEERING_CAPACITY);
    if (this.inheritedPositions === 0 && want.length === this.current.length && want.every((fd, i) => this.current[i] === fd)) return { changed: false, listed: [...this.current], refused: [] };
    // A socket can hold only one position, so the list is rewritten whole: emptied first (the hash decides
    // for the connections that arrive in these microseconds), then filled, then its count set.
    this.setCount(0);
    for (let i = 0; i < Math.max(this.current.length, this.inheritedPositions); i++) deleteElem(this.c, this.sockMap, i);
    this.inheritedPositions = 0;
    const placed: number[] = [];
    const refused: { fd: number; code: string }[] = [];
    for (const fd of want) {
      if (updateElem(this.c, this.sockMap, placed.length, BigInt(fd)) === 0) placed.push(fd);
      else refused.push({ fd, code: errnoName(this.c.koffi.errno()) });
    }
    this.current = placed;
    this.setCount(placed.length);
    return { changed: true, listed: [...placed], refused };
  }

  /** The fds in the list, in turn order. */
  listed(): readonly number[] {
    return this.current;
  }

  private setCount(n: number): void {
    const ctl = Buffer.alloc(8);
    ctl.writeUInt32LE(n, 4);
    if (updateElemBuffer(this.c, this.ctlMap, 0, ctl) !== 0) throw new NativeError('bpf', this.c.koffi.errno(), 'BPF_MAP_UPDATE_ELEM');
  }

  /** Closes this process's fds of the program and maps; the program stays attached to the group. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const fd of [this.prog, this.sockMap, this.ctlMap]) this.c.close(fd);
  }
}

/** How many connections wait in the accept queue of the listening TCP socket `fd` (TCP_INFO). */
export function acceptQueueLength(fd: number): number {
  const c = load();
  const info = Buffer.alloc(256);
  const len = new Uint32Array([info.length]);
  if (c.getsockopt(fd, IPPROTO_TCP, TCP_INFO, info, len) !== 0) throw new NativeError('getsockopt', c.koffi.errno(), 'TCP_INFO');
  return info.readUInt32LE(TCPI_UNACKED);
}

// --- internal ---

function bpf(c: Libc, cmd: number, attr: Buffer): number {
  return c.syscall(NR_BPF, 'int', cmd, 'void *', attr, 'unsigned int', attr.length);
}

function createMap(c: Libc, type: number, valueSize: number, maxEntries: number): number {
  const attr = Buffer.alloc(ATTR_SIZE);
  attr.writeUInt32LE(type, 0);
  attr.writeUInt32LE(4, 4); // key: a u32 index
  attr.writeUInt32LE(valueSize, 8);
  attr.writeUInt32LE(maxEntries, 12);
  const fd = bpf(c, BPF_MAP_CREATE, attr);
  if (fd < 0) throw new NativeError('bpf', c.koffi.errno(), 'BPF_MAP_CREATE');
  return fd;
}

/** A map element command on the u32 key `index`: `value` is read (lookup) or written (update, flags BPF_ANY). */
function elemCommand(c: Libc, cmd: typeof BPF_MAP_LOOKUP_ELEM | typeof BPF_MAP_UPDATE_ELEM, map: number, index: number, value: Buffer): number {
  const key = Buffer.alloc(4);
  key.writeUInt32LE(index, 0);
  const attr = Buffer.alloc(ATTR_SIZE);
  attr.writeUInt32LE(map, 0);
  attr.writeBigUInt64LE(c.koffi.address(key), 8);
  attr.writeBigUInt64LE(c.koffi.address(value), 16);
  attr.writeBigUInt64LE(BigInt(BPF_ANY), 24); // flags; BPF_ANY is 0, which a lookup requires
  return bpf(c, cmd, attr);
}

function lookupElem(c: Libc, map: number, index: number, value: Buffer): number {
  return elemCommand(c, BPF_MAP_LOOKUP_ELEM, map, index, value);
}

function updateElemBuffer(c: Libc, map: number, index: number, value: Buffer): number {
  return elemCommand(c, BPF_MAP_UPDATE_ELEM, map, index, value);
}

function updateElem(c: Libc, map: number, index: number, value: bigint): number {
  const v = Buffer.alloc(8);
  v.writeBigUInt64LE(value, 0);
  return updateElemBuffer(c, map, index, v);
}

function deleteElem(c: Libc, map: number, index: number): void {
  const key = Buffer.alloc(4);
  key.writeUInt32LE(index, 0);
  const attr = Buffer.alloc(ATTR_SIZE);
  attr.writeUInt32LE(map, 0);
  attr.writeBigUInt64LE(c.koffi.address(key), 8);
  // ENOENT: the kernel already emptied the position (its socket closed)
  bpf(c, BPF_MAP_DELETE_ELEM, attr);
}

function loadProgram(c: Libc, insns: Buffer): number {
  const license = Buffer.from('MIT\0');
  const attr = Buffer.alloc(ATTR_SIZE);
  attr.writeUInt32LE(BPF_PROG_TYPE_SK_REUSEPORT, 0);
  attr.writeUInt32LE(insns.length / 8, 4);
  attr.writeBigUInt64LE(c.koffi.address(insns), 8);
  attr.writeBigUInt64LE(c.koffi.address(license), 16);
  const fd = bpf(c, BPF_PROG_LOAD, attr);
  if (fd >= 0) return fd;
  const errno = c.koffi.errno();
  // again with the verifier's log, for the message
  const log = Buffer.alloc(16384);
  attr.writeUInt32LE(1, 24); // log_level
  attr.writeUInt32LE(log.length, 28);
  attr.writeBigUInt64LE(c.koffi.address(log), 32);
  bpf(c, BPF_PROG_LOAD, attr);
  const text = log.toString('utf8', 0, Math.max(0, log.indexOf(0))).trim().split('\n').slice(-3).join(' / ');
  throw new NativeError('bpf', errno, `BPF_PROG_LOAD${text ? ` (${text})` : ''}`);
}

// eBPF instruction encoding (uapi/linux/bpf_common.h, bpf.h)
const LD = 0x00, LDX = 0x01, ST = 0x02, STX = 0x03, ALU = 0x04, JMP = 0x05, ALU64 = 0x07;
const W = 0x00, DW = 0x18, IMM = 0x00, MEM = 0x60, K = 0x00, X = 0x08;
const ADD = 0x00, MOD = 0x90, MOV = 0xb0, JEQ = 0x10, CALL = 0x80, EXIT = 0x90;
const PSEUDO_MAP_FD = 1;
const FUNC_MAP_LOOKUP_ELEM = 1;
const FUNC_SK_SELECT_REUSEPORT = 82;
const SK_PASS = 1;
const R0 = 0, R1 = 1, R2 = 2, R3 = 3, R4 = 4, R6 = 6, R10 = 10;

type Insn = readonly [code: number, dst: number, src: number, off: number, imm: number];

/**
 * The program, for maps `ctl` and `socks`:
 *   ctl = lookup(ctlMap, 0); if (!ctl || ctl.n == 0) return SK_PASS      (nothing selected: the hash)
 *   i = ctl.turn; ctl.turn = i + 1
 *   sk_select_reuseport(ctx, sockMap, i % ctl.n); return SK_PASS         (a failed select: the hash)
 * The turn is read and written without an atomic: two CPUs taking the same turn at once give one
 * listener a connection more, which the next turns even out.
 */
function program(ctlMap: number, sockMap: number): Buffer {
  const out = 23; // the index of `r0 = SK_PASS`, where every path ends
  const code: Insn[] = [
    [ALU64 | MOV | X, R6, R1, 0, 0], // 0: r6 = ctx
    [ST | MEM | W, R10, 0, -4, 0], // 1: key = 0 on the stack
    [ALU64 | MOV | X, R2, R10, 0, 0], // 2
    [ALU64 | ADD | K, R2, 0, 0, -4], // 3: r2 = &key
    [LD | DW | IMM, R1, PSEUDO_MAP_FD, 0, ctlMap], // 4: r1 = ctlMap (two slots)
    [0, 0, 0, 0, 0], // 5
    [JMP | CALL, 0, 0, 0, FUNC_MAP_LOOKUP_ELEM], // 6: r0 = &ctl or NULL
    [JMP | JEQ | K, R0, 0, out - 8, 0], // 7: no entry → pass
    [LDX | MEM | W, R1, R0, 0, 0], // 8: r1 = turn
    [LDX | MEM | W, R2, R0, 4, 0], // 9: r2 = n
    [JMP | JEQ | K, R2, 0, out - 11, 0], // 10: empty list → pass
    [ALU64 | MOV | X, R3, R1, 0, 0], // 11
    [ALU64 | ADD | K, R3, 0, 0, 1], // 12
    [STX | MEM | W, R0, R3, 0, 0], // 13: turn = turn + 1
    [ALU | MOD | X, R1, R2, 0, 0], // 14: r1 = turn % n (32-bit)
    [STX | MEM | W, R10, R1, -8, 0], // 15: index on the stack
    [ALU64 | MOV | X, R1, R6, 0, 0], // 16: r1 = ctx
    [LD | DW | IMM, R2, PSEUDO_MAP_FD, 0, sockMap], // 17: r2 = sockMap (two slots)
    [0, 0, 0, 0, 0], // 18
    [ALU64 | MOV | X, R3, R10, 0, 0], // 19
    [ALU64 | ADD | K, R3, 0, 0, -8], // 20: r3 = &index
    [ALU64 | MOV | K, R4, 0, 0, 0], // 21: flags
    [JMP | CALL, 0, 0, 0, FUNC_SK_SELECT_REUSEPORT], // 22
    [ALU64 | MOV | K, R0, 0, 0, SK_PASS], // 23
    [JMP | EXIT, 0, 0, 0, 0], // 24
  ];
  const buf = Buffer.alloc(code.length * 8);
  code.forEach(([op, dst, src, off, imm], i) => {
    buf.writeUInt8(op, i * 8);
    buf.writeUInt8((src << 4) | dst, i * 8 + 1);
    buf.writeInt16LE(off, i * 8 + 2);
    buf.writeInt32LE(imm, i * 8 + 4);
  });
  return buf;
}
