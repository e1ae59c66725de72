// supervisorctl takes its options before the command (`supervisorctl -c FILE status`); bin/drover.js moves
// the ones that find a running drover behind the first word that is not one of them, where every command
// reads them. main.ts reads what that leaves: the topic of `drover -c FILE help stop` (which reaches it
// as `help -c FILE stop`), and an unknown option before the command.

/** The options that may come before the command, with a value (bin/drover.js moveLeadingOptions has the same list). */
const WITH_VALUE = new Set(['-c', '--configuration', '-s', '--server-url', '-u', '--username', '-p', '--password']);

/** The first of `words` that is neither an option that may come before the command nor such an option's value. */
export function firstWord(words: readonly string[]): string | undefined {
  for (let i = 0; i < words.length; ) {
    const n = leadingOptionWords(words[i] ?? '');
    if (n === 0) return words[i];
    i += n;
  }
  return undefined;
}

/** What to say of `word`, the first word of the command line that is neither a command nor an option before one. */
export function notACommand(word: string, argv: readonly string[], isCommand: (w: string) => boolean): string {
  if (firstWord(argv) === undefined) return `no command given, only options (${word} …)`;
  if (!word.startsWith('-')) return `unknown command "${word}"`;
  const command = argv.find(isCommand);
  const where = command === undefined ? '' : ` before the command "${command}"`;
  // a known one reaches here only when bin/drover.js, which moves it behind the command, did not run
  // (dist/src/cli/main.js started directly): calling it unknown would contradict the list below
  if (leadingOptionWords(word) > 0) {
    return `option "${word}"${where}: only the drover command (bin/drover.js) moves options given before the command behind it; run that, or put ${word} after the command`;
  }
  return `unknown option "${word}"${where}: only -c, -s, -u, -p and --json may come before the command; its own options go after it`;
}

// --- internal ---

/** How many words an option before the command takes (1 or 2), or 0 when `word` is not one. */
function leadingOptionWords(word: string): number {
  // a -c given last, without its FILE, is still an option (the command is what is missing)
  if (WITH_VALUE.has(word)) return 2;
  if (word === '--json' || /^--(configuration|server-url|username|password)=/.test(word)) return 1;
  return 0;
}

/** What parseArgs is told of an option: enough to know which take a value. */
type OptionShape = { readonly type: 'string' | 'boolean'; readonly short?: string };

/** A negative number as a word of its own: `-2`, `-0.5` (no drover option is a digit). */
const NEGATIVE_NUMBER = /^-\d+(\.\d*)?$/;

/**
 * `argv` with its negative numbers made values. parseArgs reads any word that begins with a dash as an
 * option, so `serve app.mjs -w -2` and `scale web -1` failed in its words ("Option '-w' argument is
 * ambiguous", "Unknown option '-1'") before the option's own check could say what it takes. A negative
 * number after an option that takes a value is joined to it (`--workers=-2`); any other is a positional,
 * kept in its place among them (all positionals then follow a `--`). A command line with no negative number
 * is returned as it is.
 */
export function negativeNumbersAsValues(argv: readonly string[], options: Readonly<Record<string, OptionShape>>): string[] {
  if (!argv.some((w) => NEGATIVE_NUMBER.test(w))) return [...argv];
  const longOf = new Map<string, string>();
  for (const [name, o] of Object.entries(options)) if (o.short !== undefined) longOf.set(o.short, name);
  const takesValue = (name: string | undefined): boolean => name !== undefined && options[name]?.type === 'string';
  const flags: string[] = [];
  const positionals: string[] = [];
  /** the option whose value the next word is; null */
  let awaiting: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const w = argv[i] as string;
    if (awaiting !== null) {
      if (NEGATIVE_NUMBER.test(w)) flags.push(`--${awaiting}=${w}`);
      else flags.push(`--${awaiting}`, w);
      awaiting = null;
      continue;
    }
    if (w === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (NEGATIVE_NUMBER.test(w) || !w.startsWith('-') || w === '-') {
      positionals.push(w);
      continue;
    }
    if (w.startsWith('--')) {
      if (!w.includes('=') && takesValue(w.slice(2))) {
        awaiting = w.slice(2);
        continue;
      }
      flags.push(w);
      continue;
    }
    // -x, or a cluster -xyz: the first letter that takes a value takes the rest, or else the next word
    flags.push(w);
    for (let j = 1; j < w.length; j++) {
      const name = longOf.get(w[j] as string);
      if (!takesValue(name)) continue;
      if (j === w.length - 1) {
        flags.pop();
        if (j > 1) flags.push(w.slice(0, j));
        awaiting = name as string;
      }
      break;
    }
  }
  // an option given last, without its value: left for parseArgs to say so
  if (awaiting !== null) flags.push(`--${awaiting}`);
  return [...flags, '--', ...positionals];
}
