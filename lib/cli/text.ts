/**
 * Text from input (manifest fields, entry names, console output of a booted
 * image) is escaped before it reaches a terminal: a hostile stemcell must not
 * be able to move the cursor, rewrite lines or print a fake result.
 */

// C0 and C1 controls, DEL, and the Unicode controls that reorder or hide text.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/gu;

function escapeOne(c: string): string {
  if (c === '\n') return '\\n';
  if (c === '\r') return '\\r';
  if (c === '\t') return '\\t';
  const code = c.codePointAt(0)!;
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
}

/** One line, every control character shown as an escape. */
export function printable(text: string): string {
  return text.replace(UNSAFE, escapeOne);
}

/** Lines kept apart, each made printable. */
export function printableLines(text: string): string {
  return text
    .split('\n')
    .map((line) => printable(line))
    .join('\n');
}

// What JSON.stringify leaves raw but a terminal may act on.
const JSON_UNSAFE = /[\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/gu;

/** JSON for --json output: the same data, with every control character escaped. */
export function jsonText(value: unknown): string {
  return `${JSON.stringify(value, null, 2).replace(JSON_UNSAFE, (c) => `\\u${c.codePointAt(0)!.toString(16).padStart(4, '0')}`)}\n`;
}
