/**
 * Characters that text from input may not carry to a terminal or into a name:
 * C0 and C1 controls, DEL, and the Unicode controls that reorder or hide text
 * (bidirectional overrides and isolates, line and paragraph separators). The
 * reader refuses them in names, the CLI escapes them in output.
 */
const CONTROL_CLASS = '\\u0000-\\u001f\\u007f-\\u009f\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069\\u2028\\u2029';

/** A fresh global pattern of the control characters (for replace). */
export const controlCharacters = (): RegExp => new RegExp(`[${CONTROL_CLASS}]`, 'gu');

export function hasControlCharacters(text: string): boolean {
  return new RegExp(`[${CONTROL_CLASS}]`, 'u').test(text);
}

/**
 * The lines of a data file (a collection, a package or policy list): `#`
 * comments and blank lines dropped, white space trimmed. The stage scripts'
 * data_lines reads the same files the same way.
 */
export function dataLines(text: string): string[] {
  return text.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter((l) => l !== '');
}
