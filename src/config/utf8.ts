// Config files are UTF-8, as supervisor reads them (Python 3's default text decoding): a byte that is not
// would otherwise be decoded as U+FFFD and land in a program name or a command unnoticed.

/** Where a text stops being UTF-8: 1-based line and column (in bytes), and the offending byte. */
export interface NotUtf8 {
  readonly line: number;
  readonly column: number;
  readonly byte: number;
}

/** The text of `bytes`, or where its first invalid UTF-8 sequence starts. A byte-order mark is kept, as readFileSync(…, 'utf8') keeps it. */
export function decodeUtf8(bytes: Buffer): string | NotUtf8 {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (e) {
    // TypeError: the decoder's "not UTF-8"; find where, below
    if (!(e instanceof TypeError)) throw e;
  }
  const at = Math.max(0, firstInvalidUtf8(bytes));
  // (lastIndexOf with a negative offset would count from the end)
  const lineStart = at === 0 ? 0 : bytes.lastIndexOf(0x0a, at - 1) + 1;
  const line = bytes.subarray(0, lineStart).filter((b) => b === 0x0a).length + 1;
  return { line, column: at - lineStart + 1, byte: bytes[at] ?? 0 };
}

/** Index of the first byte that starts an invalid UTF-8 sequence (RFC 3629: no overlongs, no surrogates, ≤ U+10FFFF); -1 when none. */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i] as number;
    if (c < 0x80) {
      i++;
      continue;
    }
    // continuation bytes after the lead, and the narrower range the first of them must fall in
    let n: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c === 0xe0) lo = 0xa0;
      if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || d < (k === 1 ? lo : 0x80) || d > (k === 1 ? hi : 0xbf)) return i;
    }
    i += n + 1;
  }
  return -1;
}
