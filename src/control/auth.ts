// HTTP basic authentication as supervisor's servers do it: a plain password, or "{SHA}" followed by the
// hex SHA-1 of the password.
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/** Whether `password` (as received: text, or its UTF-8 bytes) matches `configured` (plain or {SHA}hex). */
export function passwordMatches(configured: string, password: string | Buffer): boolean {
  if (configured.startsWith('{SHA}')) {
    const want = configured.slice(5).toLowerCase();
    const got = crypto().createHash('sha1').update(password).digest('hex');
    return safeEqual(want, got);
  }
  return safeEqual(configured, password);
}

/** SHA-1 of the empty string: `{SHA}` followed by it is an empty password in disguise. */
const EMPTY_SHA1 = 'da39a3ee5e6b4b0d3255bfef95601890afd80709';

/** Whether a configured password (plain or {SHA}hex) is the empty password. */
export function isEmptyPassword(configured: string): boolean {
  return configured === '' || (configured.startsWith('{SHA}') && configured.slice(5).toLowerCase() === EMPTY_SHA1);
}

/** Whether a request carries the right basic credentials; always true when none are configured. */
export function isAuthorized(req: IncomingMessage, creds: Credentials | null): boolean {
  if (creds === null) return true;
  const header = req.headers.authorization ?? '';
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return false;
  // The credentials stay bytes: hashing them as bytes gives the digest their text would, without decoding
  // UTF-8 first, which cost five times the hashing itself for a large header.
  const decoded = Buffer.from(m[1] ?? '', 'base64');
  const colon = decoded.indexOf(0x3a); // ':'
  if (colon < 0) return false;
  // Both are checked, always: skipping the password for a wrong username would tell, by the time the answer
  // takes, whether the username was right (docs/security.md, section 15).
  const userOk = safeEqual(decoded.subarray(0, colon), creds.username);
  const passwordOk = passwordMatches(creds.password, decoded.subarray(colon + 1));
  return userOk && passwordOk;
}

// --- internal ---

/**
 * Compares SHA-256 digests, which always have the same length: timingSafeEqual then takes the same time
 * whatever the inputs, and no early exit tells the configured value's length.
 */
function safeEqual(a: string | Buffer, b: string | Buffer): boolean {
  const { createHash, timingSafeEqual } = crypto();
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

const require = createRequire(import.meta.url);
/** node:crypto, loaded by the first check of credentials: a daemon without them never pays its ~2 MB */
function crypto(): typeof import('node:crypto') {
  return require('node:crypto') as typeof import('node:crypto');
}
