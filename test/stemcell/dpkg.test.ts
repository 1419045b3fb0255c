/**
 * The one parser of dpkg's status database: a real bookworm database read
 * right, and hostile ones refused with an InvalidStemcellError that says
 * what is wrong, never another kind of exception.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CheckContext } from '../../lib/check/context';
import { DirectoryView } from '../../lib/check/fs-view';
import { InvalidStemcellError } from '../../lib/errors';
import { MAX_DPKG_STATUS_BYTES, parseDpkgDatabase, parseDpkgStatus } from '../../lib/stemcell/dpkg';

const ROOT = path.join(__dirname, '..', 'fixtures', 'sbom', 'root');
/** A trimmed copy of a Debian bookworm machine's /var/lib/dpkg/status: whole stanzas, as dpkg wrote them. */
const STATUS = fs.readFileSync(path.join(ROOT, 'var/lib/dpkg/status'), 'utf8');

const stanza = (fields: Record<string, string>): string =>
  Object.entries(fields)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\n');
const installed = (name: string, more: Record<string, string> = {}): string =>
  stanza({ Package: name, Status: 'install ok installed', Version: '1.0-1', Architecture: 'amd64', ...more });

function refused(text: string): string {
  try {
    parseDpkgDatabase(text);
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidStemcellError);
    return (e as Error).message;
  }
  throw new Error('the database was not refused');
}

describe('a real status file', () => {
  const packages = parseDpkgStatus(STATUS);

  it('lists every installed package once, in file order', () => {
    expect(packages).toHaveLength(STATUS.match(/^Status: install ok installed$/gm)!.length);
    expect(packages.length).toBeGreaterThan(30);
    expect(packages.map((p) => p.name)).toEqual(STATUS.match(/^Package: (.+)$/gm)!.map((l) => l.slice('Package: '.length)));
  });

  it('reads name, version, architecture, source, maintainer, homepage and the first line of the description', () => {
    expect(packages.find((p) => p.name === 'libc6')).toEqual({
      name: 'libc6',
      status: 'install ok installed',
      installed: true,
      version: '2.36-9+deb12u14',
      architecture: 'amd64',
      sourceName: 'glibc',
      sourceVersion: '2.36-9+deb12u14',
      maintainer: 'GNU Libc Maintainers <debian-glibc@lists.debian.org>',
      homepage: 'https://www.gnu.org/software/libc/libc.html',
      summary: 'GNU C Library: Shared libraries',
    });
  });

  it('takes the source version from "Source: name (version)", and the package itself when there is no Source', () => {
    const byName = new Map(packages.map((p) => [p.name, p]));
    expect(byName.get('bsdutils')).toMatchObject({ version: '1:2.38.1-5+deb12u3', sourceName: 'util-linux', sourceVersion: '2.38.1-5+deb12u3' });
    expect(byName.get('cpp')).toMatchObject({ version: '4:12.2.0-3', sourceName: 'gcc-defaults', sourceVersion: '1.203' });
    expect(byName.get('apt')).toMatchObject({ version: '2.6.1', sourceName: 'apt', sourceVersion: '2.6.1' });
    expect(byName.get('ca-certificates')).toMatchObject({ architecture: 'all' });
  });

  it('is what the checks read as installed packages', () => {
    const names = new CheckContext(new DirectoryView(ROOT)).packages();
    expect([...names]).toEqual(packages.map((p) => p.name));
    expect(names.has('grub-pc-bin')).toBe(true);
  });
});

describe('package states', () => {
  const text = [
    installed('kept'),
    installed('held', { Status: 'hold ok installed' }),
    installed('removed', { Status: 'deinstall ok config-files' }),
    stanza({ Package: 'purged', Status: 'purge ok not-installed' }),
    installed('half', { Status: 'install reinstreq half-installed' }),
  ].join('\n\n');

  it('counts installed and held packages as installed, the rest not', () => {
    expect(parseDpkgStatus(text).map((p) => p.name)).toEqual(['kept', 'held']);
  });

  it('keeps every stanza, with its raw status, for those that want them', () => {
    expect(parseDpkgDatabase(text).map((e) => [e.name, e.status, e.installed, e.version])).toEqual([
      ['kept', 'install ok installed', true, '1.0-1'],
      ['held', 'hold ok installed', true, '1.0-1'],
      ['removed', 'deinstall ok config-files', false, '1.0-1'],
      ['purged', 'purge ok not-installed', false, ''],
      ['half', 'install reinstreq half-installed', false, '1.0-1'],
    ]);
  });

  it('reads an empty database (a missing status file) as no packages', () => {
    expect(parseDpkgStatus('')).toEqual([]);
  });

  it('allows the same package for two architectures (multiarch)', () => {
    const text = [installed('libc6'), installed('libc6', { Architecture: 'i386' })].join('\n\n');
    expect(parseDpkgStatus(text).map((p) => `${p.name}:${p.architecture}`)).toEqual(['libc6:amd64', 'libc6:i386']);
  });
});

describe('hostile status files', () => {
  it('refuses one larger than any real database, before splitting it', () => {
    expect(refused('x'.repeat(MAX_DPKG_STATUS_BYTES + 1))).toMatch(/larger than 67108864 bytes/);
  });

  it('refuses binary data', () => {
    const binary = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)).toString('latin1');
    expect(refused(binary)).toMatch(/line \d+ holds control characters/);
    expect(refused(`${installed('ab')}\nDescription: \u0000\u0001`)).toMatch(/line 5 holds control characters/);
  });

  it('refuses stanzas with a required field missing, naming the stanza and the field', () => {
    expect(refused(stanza({ Package: 'libfoo', Status: 'install ok installed', Architecture: 'amd64' }))).toBe(
      '/var/lib/dpkg/status: the stanza at line 1 (package libfoo) has no Version field',
    );
    expect(refused(`${installed('ab')}\n\n${stanza({ Status: 'install ok installed', Version: '1' })}`)).toMatch(/the stanza at line 6 has no Package field/);
    expect(refused(stanza({ Package: 'libfoo', Version: '1' }))).toMatch(/has no Status field/);
    expect(refused(installed('libfoo', { Architecture: '' }))).toMatch(/\(package libfoo\) has no Architecture field/);
  });

  it('refuses a package listed twice', () => {
    expect(refused([installed('libfoo'), installed('bar'), installed('libfoo', { Version: '2.0-1' })].join('\n\n'))).toMatch(
      /package libfoo:amd64 appears twice \(the second time at line 11\)/,
    );
  });

  it('refuses a field given twice in one stanza, whatever its case', () => {
    expect(refused(`${installed('libfoo')}\nversion: 2`)).toMatch(/line 5: field version appears twice/);
  });

  it('refuses lines that are neither fields nor continuations', () => {
    expect(refused(' starts with a continuation')).toMatch(/line 1 continues a field, but no field comes before it/);
    expect(refused(`${installed('libfoo')}\nno colon here`)).toMatch(/line 5 is neither a "Field: value" line/);
    expect(refused(`${installed('libfoo')}\n: empty name`)).toMatch(/line 5 is neither/);
    expect(refused(`${installed('libfoo')}\r\n`)).toMatch(/control characters/);
  });

  it('refuses values dpkg would never write, which could smuggle text into package URLs or SPDX ids', () => {
    expect(refused(installed('Lib Foo'))).toMatch(/invalid Package: "Lib Foo"/);
    expect(refused(installed('libfoo', { Version: '1.0 ; rm' }))).toMatch(/invalid Version/);
    expect(refused(installed('libfoo', { Architecture: 'amd64/../x' }))).toMatch(/invalid Architecture/);
    expect(refused(installed('libfoo', { Status: 'install ok' }))).toMatch(/invalid Status: "install ok"/);
    expect(refused(installed('libfoo', { Status: 'install ok installed now' }))).toMatch(/invalid Status/);
    expect(refused(installed('libfoo', { Source: 'foo (1.0' }))).toMatch(/invalid Source: "foo \(1.0"; expected "name" or "name \(version\)"/);
    expect(refused(installed('libfoo', { Source: 'Foo' }))).toMatch(/invalid Source/);
  });

  it('reads fields named like Object.prototype members as plain fields', () => {
    const packages = parseDpkgStatus(installed('libfoo', { __proto__: '{"polluted":true}', constructor: 'x', hasOwnProperty: 'y' }));
    expect(packages).toHaveLength(1);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('throws nothing but InvalidStemcellError on mangled real databases', () => {
    // A small deterministic generator, so a failure repeats.
    let seed = 42;
    const random = (n: number): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    const lines = STATUS.split('\n');
    for (let round = 0; round < 300; round++) {
      const mangled = [...lines];
      for (let edits = 1 + random(4); edits > 0; edits--) {
        const i = random(mangled.length);
        const line = mangled[i];
        const change = random(5);
        if (change === 0) mangled.splice(i, 1);
        else if (change === 1) mangled.splice(i, 0, line);
        else if (change === 2) mangled[i] = line.slice(0, random(line.length + 1));
        else if (change === 3) mangled[i] = ` ${line}`;
        else mangled[i] = line.replace(/:/, '');
      }
      try {
        parseDpkgDatabase(mangled.join('\n'));
      } catch (e) {
        expect(e).toBeInstanceOf(InvalidStemcellError);
      }
    }
  });
});
