/**
 * dpkg's status database (/var/lib/dpkg/status): the one parser of it, for
 * the checks and the SBOMs. Its text comes from an image, so it is read as
 * hostile: bounded in size, and anything that is not a well-formed database
 * is refused with an InvalidStemcellError that says what and where.
 */
import { InvalidStemcellError } from '../errors';
import { hasControlCharacters } from '../text';

export const DPKG_STATUS = '/var/lib/dpkg/status';

/** A status file of a few thousand packages is a few MiB; this is far beyond any real system. */
export const MAX_DPKG_STATUS_BYTES = 64 * 1024 * 1024;
/** A full Debian archive holds about 65,000 binary packages; no image installs more. */
export const MAX_PACKAGES = 100_000;

/** One stanza of the database, a package in whatever state dpkg has it. */
export interface DpkgEntry {
  readonly name: string;
  /** The Status field as dpkg wrote it: want, error flag, state (`install ok installed`). */
  readonly status: string;
  /** Whether the package is installed (its state is `installed`; `hold ok installed` is a held package, installed all the same). */
  readonly installed: boolean;
  /** Empty for a package dpkg knows of but never unpacked. */
  readonly version: string;
  readonly architecture: string;
  /** The source package; the package's own name when the stanza has no Source field. */
  readonly sourceName: string;
  /** The source package's version; the package's own version unless Source gives one in parentheses. */
  readonly sourceVersion: string;
  readonly maintainer?: string;
  readonly homepage?: string;
  /** The first line of Description (the synopsis). */
  readonly summary?: string;
}

/** An installed package, whose version and architecture are always known. */
export type DpkgPackage = DpkgEntry & { readonly installed: true };

// Debian Policy 5.6.1 and 5.6.12; dpkg refuses anything else, so a name or
// version outside these cannot be real, and may be an attempt to smuggle
// characters into a package URL or an SPDX identifier.
const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]+$/;
const VERSION = /^(?:[0-9]+:)?[A-Za-z0-9][A-Za-z0-9.+~-]*$/;
const ARCHITECTURE = /^[a-z0-9][a-z0-9-]*$/;
const FIELD_NAME = /^[!-9;-~]+$/;
const WANTS = ['unknown', 'install', 'hold', 'deinstall', 'purge'];
const ERROR_FLAGS = ['ok', 'reinstreq'];
const STATES = ['not-installed', 'config-files', 'half-installed', 'unpacked', 'half-configured', 'triggers-awaited', 'triggers-pending', 'installed'];

/** Every stanza of a status file, in file order. */
export function parseDpkgDatabase(text: string, what = DPKG_STATUS): DpkgEntry[] {
  if (text.length > MAX_DPKG_STATUS_BYTES) throw new InvalidStemcellError(`${what} is larger than ${MAX_DPKG_STATUS_BYTES} bytes; no dpkg database is`);
  const entries: DpkgEntry[] = [];
  const seen = new Set<string>();
  for (const stanza of stanzas(text, what)) {
    const entry = toEntry(stanza, what);
    const key = `${entry.name}:${entry.architecture}`;
    if (seen.has(key)) throw new InvalidStemcellError(`${what}: package ${key} appears twice (the second time at line ${stanza.line})`);
    seen.add(key);
    entries.push(entry);
    if (entries.length > MAX_PACKAGES) throw new InvalidStemcellError(`${what} lists more than ${MAX_PACKAGES} packages; no image installs that many`);
  }
  return entries;
}

/** The installed packages of a status file, in file order. */
export function parseDpkgStatus(text: string, what = DPKG_STATUS): DpkgPackage[] {
  return parseDpkgDatabase(text, what).filter((e): e is DpkgPackage => e.installed);
}

interface Stanza {
  /** Line number of its first field. */
  readonly line: number;
  /** Lower-cased field name -> value, continuation lines joined with newlines. */
  readonly fields: Map<string, string>;
}

/** Split RFC 822 style text into stanzas of fields; blank lines separate them, lines starting with white space continue a field. */
function* stanzas(text: string, what: string): Generator<Stanza> {
  let current: Stanza | undefined;
  let last: string | undefined;
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  for (const [i, line] of lines.entries()) {
    const at = `${what}: line ${i + 1}`;
    if (hasControlCharacters(line.replace(/\t/g, ' '))) throw new InvalidStemcellError(`${at} holds control characters; this is not a dpkg database`);
    if (line.trim() === '') {
      if (current) yield current;
      current = undefined;
      last = undefined;
      continue;
    }
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (!current || last === undefined) throw new InvalidStemcellError(`${at} continues a field, but no field comes before it`);
      current.fields.set(last, `${current.fields.get(last)}\n${line.slice(1)}`);
      continue;
    }
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon) : '';
    if (!FIELD_NAME.test(name)) throw new InvalidStemcellError(`${at} is neither a "Field: value" line nor the continuation of one`);
    current ??= { line: i + 1, fields: new Map() };
    const key = name.toLowerCase();
    if (current.fields.has(key)) throw new InvalidStemcellError(`${at}: field ${name} appears twice in one stanza`);
    current.fields.set(key, line.slice(colon + 1).trim());
    last = key;
  }
  if (current) yield current;
}

function toEntry(stanza: Stanza, what: string): DpkgEntry {
  const named = stanza.fields.get('package');
  const where = `${what}: the stanza at line ${stanza.line}${named ? ` (package ${named})` : ''}`;
  const field = (key: string, title: string, pattern?: RegExp): string => {
    const value = stanza.fields.get(key);
    if (value === undefined || value === '') throw new InvalidStemcellError(`${where} has no ${title} field`);
    if (pattern && !pattern.test(value)) throw new InvalidStemcellError(`${where} has an invalid ${title}: ${JSON.stringify(value)}`);
    return value;
  };
  const name = field('package', 'Package', PACKAGE_NAME);
  const status = field('status', 'Status');
  const [want, flag, state, ...rest] = status.split(/\s+/);
  if (!WANTS.includes(want) || !ERROR_FLAGS.includes(flag) || !STATES.includes(state) || rest.length > 0) {
    throw new InvalidStemcellError(`${where} has an invalid Status: ${JSON.stringify(status)}`);
  }
  const installed = state === 'installed';
  // A package dpkg only remembers (purged, never unpacked) may have no version or architecture.
  const version = installed || stanza.fields.has('version') ? field('version', 'Version', VERSION) : '';
  const architecture = installed || stanza.fields.has('architecture') ? field('architecture', 'Architecture', ARCHITECTURE) : '';
  const source = stanza.fields.get('source');
  const parsedSource = source === undefined ? undefined : /^(\S+)(?:\s+\((\S+)\))?$/.exec(source);
  if (parsedSource === null || (parsedSource && (!PACKAGE_NAME.test(parsedSource[1]) || (parsedSource[2] !== undefined && !VERSION.test(parsedSource[2]))))) {
    throw new InvalidStemcellError(`${where} has an invalid Source: ${JSON.stringify(source)}; expected "name" or "name (version)"`);
  }
  const optional = (key: string): string | undefined => stanza.fields.get(key)?.split('\n')[0].trim() || undefined;
  return {
    name,
    status,
    installed,
    version,
    architecture,
    sourceName: parsedSource?.[1] ?? name,
    sourceVersion: parsedSource?.[2] ?? version,
    maintainer: optional('maintainer'),
    homepage: optional('homepage'),
    summary: optional('description'),
  };
}
