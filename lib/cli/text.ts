/**
 * Text from input (manifest fields, entry names, console output of a booted
 * image) is escaped before it reaches a terminal: a hostile stemcell must not
 * be able to move the cursor, rewrite lines or print a fake result.
 */
import { controlCharacters } from '../text';

function escapeOne(c: string): string {
  if (c === '\n') return '\\n';
  if (c === '\r') return '\\r';
  if (c === '\t') return '\\t';
  const code = c.codePointAt(0)!;
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
}

/** One line, every control character shown as an escape. */
export function printable(text: string): string {
  return text.replace(controlCharacters(), escapeOne);
}

/** Lines kept apart, each made printable. */
export function printableLines(text: string): string {
  return text
    .split('\n')
    .map((line) => printable(line))
    .join('\n');
}


/** JSON for --json output: the same data, with every control character escaped. */
export function jsonText(value: unknown): string {
  // JSON.stringify escapes C0 controls inside strings; a raw newline is the
  // layout's and is left out of the pattern (a callback per line of a huge
  // document would exhaust V8).
  const text = JSON.stringify(value, null, 2).replace(new RegExp(`(?!\\n)${controlCharacters().source}`, 'gu'), (c) => `\\u${c.codePointAt(0)!.toString(16).padStart(4, '0')}`);
  return `${text}\n`;
}
