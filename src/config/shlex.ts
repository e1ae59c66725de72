// A port of the two ways supervisor tokenises strings with Python's shlex module:
// - `splitCommand`: shlex.split(command) — POSIX mode, whitespace-split, no comments; how supervisor
//   turns `command=` into argv (no shell is involved).
// - `lexWords`: shlex.shlex(s) in non-POSIX mode with extra word characters; how supervisor's
//   dict_of_key_value_pairs reads `environment=` (quotes stay in the tokens, `#` starts a comment).
// The state machine mirrors CPython's shlex.read_token so that odd inputs resolve the same way.

import { DroverError } from '../errors.js';

export class ShlexError extends DroverError {
  constructor(message: string) {
    super('E_SHLEX', message);
  }
}

const WHITESPACE = ' \t\r\n';
const QUOTES = '\'"';
const ESCAPE = '\\';
const ESCAPED_QUOTES = '"';
const BASE_WORDCHARS = 'abcdfeghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_';
const POSIX_EXTRA_WORDCHARS =
  'ßàáâãäåæçèéêëìíîïðñòóôõöøùúûüýþÿÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞ';

interface LexerOptions {
  readonly posix: boolean;
  readonly whitespaceSplit: boolean;
  readonly commenters: string;
  readonly wordchars: string;
}

/** Yields tokens exactly as CPython's shlex iteration does (without punctuation_chars or sourcehook). */
function* lex(input: string, opts: LexerOptions): Generator<string> {
  const chars = Array.from(input);
  let pos = 0;
  // non-POSIX mode pushes a punctuation character back as a whole token
  const pushback: string[] = [];
  let state: string | null = ' ';
  const read = (): string => (pos < chars.length ? (chars[pos++] as string) : '');
  const readLine = (): void => {
    while (pos < chars.length) {
      if (chars[pos++] === '\n') return;
    }
  };

  const readToken = (): string | null => {
    let quoted = false;
    let escapedState = ' ';
    let token = '';
    for (;;) {
      const c = read();
      if (state === null) {
        token = '';
        break;
      } else if (state === ' ') {
        if (!c) {
          state = null;
          break;
        } else if (WHITESPACE.includes(c)) {
          if (token || (opts.posix && quoted)) break;
          continue;
        } else if (opts.commenters.includes(c)) {
          readLine();
        } else if (opts.posix && c === ESCAPE) {
          escapedState = 'a';
          state = c;
        } else if (opts.wordchars.includes(c)) {
          token = c;
          state = 'a';
        } else if (QUOTES.includes(c)) {
          if (!opts.posix) token = c;
          state = c;
        } else if (opts.whitespaceSplit) {
          token = c;
          state = 'a';
        } else {
          token = c;
          if (token || (opts.posix && quoted)) break;
          continue;
        }
      } else if (QUOTES.includes(state)) {
        quoted = true;
        if (!c) throw new ShlexError('no closing quotation');
        if (c === state) {
          if (!opts.posix) {
            token += c;
            state = ' ';
            break;
          }
          state = 'a';
        } else if (opts.posix && c === ESCAPE && ESCAPED_QUOTES.includes(state)) {
          escapedState = state;
          state = c;
        } else {
          token += c;
        }
      } else if (state === ESCAPE) {
        if (!c) throw new ShlexError('no escaped character after a backslash at the end');
        // inside double quotes only the quote itself or a backslash may be escaped
        if (QUOTES.includes(escapedState) && c !== state && c !== escapedState) token += state;
        token += c;
        state = escapedState;
      } else {
        // state 'a': inside a word
        if (!c) {
          state = null;
          break;
        } else if (WHITESPACE.includes(c)) {
          state = ' ';
          if (token || (opts.posix && quoted)) break;
          continue;
        } else if (opts.commenters.includes(c)) {
          readLine();
          if (opts.posix) {
            state = ' ';
            if (token || (opts.posix && quoted)) break;
            continue;
          }
        } else if (opts.posix && QUOTES.includes(c)) {
          state = c;
        } else if (opts.posix && c === ESCAPE) {
          escapedState = 'a';
          state = c;
        } else if (opts.wordchars.includes(c) || QUOTES.includes(c) || opts.whitespaceSplit) {
          token += c;
        } else {
          pushback.push(c);
          state = ' ';
          if (token || (opts.posix && quoted)) break;
          continue;
        }
      }
    }
    if (opts.posix && !quoted && token === '') return null;
    return token;
  };

  for (;;) {
    const next = pushback.length > 0 ? (pushback.shift() as string) : readToken();
    // the end marker is None in POSIX mode and '' otherwise
    if (next === null || (!opts.posix && next === '')) return;
    yield next;
  }
}

/** Splits a command line the way supervisor does (Python shlex.split): quotes and backslashes, no shell. */
export function splitCommand(command: string): string[] {
  return [
    ...lex(command, {
      posix: true,
      whitespaceSplit: true,
      commenters: '',
      wordchars: BASE_WORDCHARS + POSIX_EXTRA_WORDCHARS,
    }),
  ];
}

/** Tokenises like supervisor's dict_of_key_value_pairs lexer (non-POSIX shlex, extra word chars `/.+-():`). */
export function lexWords(input: string): string[] {
  return [
    ...lex(input, {
      posix: false,
      whitespaceSplit: false,
      commenters: '#',
      wordchars: BASE_WORDCHARS + '/.+-():',
    }),
  ];
}
