/**
 * The licenses a Debian package declares: the `License:` short names of its
 * machine-readable copyright file (DEP-5,
 * https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/), and
 * their SPDX identifiers. A copyright file in free form declares nothing we
 * can read: its package gets no license, never a guessed one.
 */
import SPDX_LICENSE_IDS from 'spdx-license-ids/index.json';

/** DEP-5 files open with this Format field (http or https, with or without the final slash). */
const DEP5_FORMAT = /^Format:[ \t]*https?:\/\/www\.debian\.org\/doc\/packaging-manuals\/copyright-format\/1\.0\/?[ \t]*$/i;
const LICENSE_FIELD = /^License:[ \t]*(.*)$/i;
/** A short name (`GPL-2+`, `BSD-3-clause`), optionally with an exception (`GPL-2+ with OpenSSL exception`). */
const SHORT_NAME = /^[A-Za-z0-9][A-Za-z0-9.+_/-]*(?: with [A-Za-z0-9.+_-]+ exception)?$/i;
const MAX_SHORT_NAME = 80;

/**
 * The license short names of a copyright file, sorted and each once; none
 * when the file is not DEP-5. A `License:` line names one license, or several
 * joined by `or`, `and` and commas (`GPL-2+ or Artistic`); each is listed
 * (the stand-alone License paragraphs name them one by one in any case).
 * The first line of a License field may also be the start of a license text
 * in sloppy files: what does not look like a short name is left out.
 */
export function debianCopyrightLicenses(text: string): string[] {
  const lines = text.split('\n');
  const first = lines.find((l) => l.trim() !== '');
  if (first === undefined || !DEP5_FORMAT.test(first.trimEnd())) return [];
  const names = new Set<string>();
  for (const line of lines) {
    const value = LICENSE_FIELD.exec(line.trimEnd())?.[1];
    if (!value) continue;
    // White space collapsed first: the split's pattern would otherwise try every run of it (cubic).
    for (const name of value.replace(/\s+/g, ' ').split(/ ?,? (?:or|and) | ?, ?/i)) {
      if (name.length <= MAX_SHORT_NAME && SHORT_NAME.test(name) && name.toLowerCase() !== 'none') names.add(name);
    }
  }
  return [...names].sort();
}

/** SPDX identifiers are case-insensitive; the list's spelling is the canonical one. */
const SPDX_IDS = new Map(SPDX_LICENSE_IDS.map((id) => [id.toLowerCase(), id]));

/** Debian short names that differ from their SPDX identifier (DEP-5's table of short names, and common variants). */
const DEBIAN_NAMES: ReadonlyMap<string, string> = new Map([
  ['expat', 'MIT'],
  ['apache-2', 'Apache-2.0'],
  ['cc0', 'CC0-1.0'],
  ['openldap-2.8', 'OLDAP-2.8'],
  ['zope-2.1', 'ZPL-2.1'],
]);

/** The GNU licenses, as Debian writes them: `GPL-2`, `GPL-2+`, `LGPL-2.1+`, `GPLv3+`, `GPL-2.0+`. */
const GNU = /^(AGPL|GPL|LGPL|GFDL)(?:-|v)?([0-9])(?:\.([0-9]))?(\+)?$/i;

/**
 * The SPDX identifier of a Debian license short name, or undefined when the
 * SPDX License List has none for it (`public-domain`, `permissive`, a name
 * with an exception).
 */
export function spdxLicenseId(debianName: string): string | undefined {
  const name = debianName.toLowerCase();
  // A Map: a license named `constructor` must not find Object.prototype's.
  const known = DEBIAN_NAMES.get(name);
  if (known) return known;
  const gnu = GNU.exec(debianName);
  if (gnu) {
    const [, family, major, minor = '0', orLater] = gnu;
    return SPDX_IDS.get(`${family}-${major}.${minor}-${orLater ? 'or-later' : 'only'}`.toLowerCase());
  }
  return SPDX_IDS.get(name);
}

/** `LicenseRef-<name>` for a name the SPDX License List does not have: only letters, digits, `.` and `-` may follow the prefix. */
export function licenseRef(debianName: string): string {
  return `LicenseRef-${debianName.replace(/[^A-Za-z0-9.-]+/g, '-').replace(/^-+|-+$/g, '') || 'unnamed'}`;
}
