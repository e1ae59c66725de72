// Log bytes in the JSON API's answers (docs/api.md, "Log bytes"): UTF-8 text by default, where invalid
// sequences become U+FFFD, or `encoding=base64` for the bytes as they are (`drover tail --raw`).
import { StringDecoder } from 'node:string_decoder';

export type LogEncoding = 'text' | 'base64';

/** Log bytes as one answer carries them. */
export function encodeLog(data: Uint8Array, encoding: LogEncoding): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString(encoding === 'text' ? 'utf8' : 'base64');
}

/**
 * One follower's log bytes, chunk after chunk. As text they are decoded as one stream: a character split
 * between two chunks (a partial line written ahead, a line cut at 1 MiB) is held until its end comes,
 * instead of becoming two U+FFFD.
 */
export class LogEncoder {
  /** the UTF-8 decoder holding a character begun in the last chunk; null for base64 */
  private readonly decoder: StringDecoder | null;

  constructor(readonly encoding: LogEncoding) {
    this.decoder = encoding === 'text' ? new StringDecoder('utf8') : null;
  }

  encode(chunk: Uint8Array): string {
    return this.decoder ? this.decoder.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)) : encodeLog(chunk, 'base64');
  }

  /** The last encoded chunk was not sent (a slow reader): a character it began is not finished by the next. */
  dropped(): void {
    this.decoder?.end();
  }
}
