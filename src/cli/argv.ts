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
