/**
 * A stemcell's `packages.txt`: `dpkg -l` of its image (the package_list
 * stage), a table for people that scripts read too:
 *
 *     Desired=Unknown/Install/Remove/Purge/Hold
 *     | Status=Not/Inst/Conf-files/Unpacked/halF-conf/Half-inst/trig-aWait/Trig-pend
 *     |/ Err?=(none)/Reinst-required (Status,Err: uppercase=bad)
 *     ||/ Name            Version        Architecture Description
 *     +++-===============-==============-============-=========================
 *     ii  libc6:amd64     2.36-9+deb12u9 amd64        GNU C Library: Shared libraries
 *     rc  old-package     1.0-1          amd64        removed, its configuration kept
 *
 * Each row starts with three state letters: what is wanted (`i`nstall,
 * `h`old, `r`emove, ...), the state (`i`: installed) and an error flag. A
 * package is installed when its state letter is `i`. dpkg sizes the columns
 * to their longest value, so no version is cut short; the Name column carries
 * `:arch` for packages installed for several architectures.
 */
import { InvalidStemcellError } from '../errors';
import { MAX_PACKAGES } from './dpkg';

/** An installed package, as the dpkg database and `dpkg -l` name it. */
export interface PackageVersion {
  readonly name: string;
  readonly version: string;
  readonly architecture: string;
}

/** A row of an installed package: wanted state, `i`, error flag; then name, version, architecture, description. */
const INSTALLED_ROW = /^[uihrp]i[ R] +(\S+) +(\S+) +(\S+)(?: .*)?$/;
/** Any package row: three state characters and a space. */
const ROW = /^[a-zA-Z][a-zA-Z ][a-zA-Z ] /;

/**
 * The installed packages of a `dpkg -l` table, in its order. Header lines and
 * packages that are not installed (removed with their configuration kept,
 * say) are skipped; a row that breaks the table's form is refused.
 */
export function parsePackagesTxt(text: string, what = 'packages.txt'): PackageVersion[] {
  const packages: PackageVersion[] = [];
  const seen = new Set<string>();
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/\r$/, '');
    if (!ROW.test(line) || line[1] !== 'i') return;
    const row = INSTALLED_ROW.exec(line);
    if (!row) throw new InvalidStemcellError(`${what}: line ${index + 1} is not a row of dpkg -l (state, name, version, architecture): ${JSON.stringify(line.slice(0, 120))}`);
    const [, qualified, version, architecture] = row;
    const name = qualified.replace(/:[^:]*$/, '');
    const key = `${name}:${architecture}`;
    if (seen.has(key)) throw new InvalidStemcellError(`${what}: ${JSON.stringify(key)} is listed twice (line ${index + 1})`);
    seen.add(key);
    packages.push({ name, version, architecture });
    if (packages.length > MAX_PACKAGES) throw new InvalidStemcellError(`${what} lists more than ${MAX_PACKAGES} packages; no image installs that many`);
  });
  return packages;
}
