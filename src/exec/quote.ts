/** POSIX shell quoting for a command line sent to a remote shell (pure). */

/** One word, single-quoted unless it only holds characters no shell treats specially. */
export function quoteWord(word: string): string {
  if (word !== "" && /^[\w@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replaceAll("'", "'\\''")}'`;
}

/** argv as one POSIX shell command line. */
export function commandLine(argv: readonly string[]): string {
  if (argv.length === 0) throw new Error("empty argv");
  return argv.map(quoteWord).join(" ");
}
