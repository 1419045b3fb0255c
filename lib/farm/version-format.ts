/**
 * How a stemcell line's versions are written: a format with `{major}` and
 * `{n}`, where n is the line's counter (1, 2, 3, ...). `<major>.<n>` by
 * default, as upstream numbers its lines (ubuntu-jammy 1.260, 1.261, ...).
 */
import { VERSION_PATTERN } from '../stemcell/naming';

export interface VersionFormat {
  /** With `{major}` and `{n}` (n required). @default '{major}.{n}' */
  readonly format: string;
  /** @default 1 */
  readonly major: number;
}

export const DEFAULT_VERSION_FORMAT: VersionFormat = { format: '{major}.{n}', major: 1 };

const PLACEHOLDER = /\{([^{}]*)\}/g;

/** The version of counter value `n`. */
export function renderVersion(f: VersionFormat, n: number): string {
  return f.format.replace(PLACEHOLDER, (_, name: string) => (name === 'n' ? String(n) : String(f.major)));
}

/**
 * Why a format cannot number a line, or undefined when it can: it must hold
 * `{n}` exactly once (so that every number gives another version), no other
 * placeholder than `{major}`, and give stemcell versions.
 */
export function versionFormatProblem(f: VersionFormat): string | undefined {
  if (!Number.isInteger(f.major) || f.major < 0 || f.major > 99999) return `major must be a whole number from 0 to 99999, got ${JSON.stringify(f.major)}`;
  const names = [...f.format.matchAll(PLACEHOLDER)].map((m) => m[1]);
  const unknown = names.find((n) => n !== 'n' && n !== 'major');
  if (unknown !== undefined) return `format ${JSON.stringify(f.format)} has the placeholder {${unknown}}; use {major} and {n}`;
  if (names.filter((n) => n === 'n').length !== 1) return `format ${JSON.stringify(f.format)} must hold {n} exactly once, e.g. '{major}.{n}'`;
  for (const n of [1, 1_000_000_000]) {
    const v = renderVersion(f, n);
    if (!VERSION_PATTERN.test(v) || v.includes('..') || /[{}]/.test(v)) return `format ${JSON.stringify(f.format)} gives ${JSON.stringify(v)}, not a stemcell version (letters, digits, '.', '_', '+', '-')`;
  }
  return undefined;
}

/** Each line's format, as the stack passes them to Prepare (JSON of line -> format), checked again. */
export function parseVersionFormats(json: string): Record<string, VersionFormat> {
  const raw: unknown = JSON.parse(json);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('VERSION_FORMATS must be a JSON object of line -> {format, major}');
  const out: Record<string, VersionFormat> = {};
  for (const [line, value] of Object.entries(raw)) {
    const f = value as VersionFormat;
    const problem = typeof f?.format === 'string' ? versionFormatProblem(f) : 'format is missing';
    if (problem) throw new Error(`VERSION_FORMATS ${line}: ${problem}`);
    out[line] = { format: f.format, major: f.major };
  }
  return out;
}
