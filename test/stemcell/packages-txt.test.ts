/** packages.txt: `dpkg -l` as the package_list stage writes it. */
import { execFileSync } from 'node:child_process';
import { InvalidStemcellError } from '../../lib/errors';
import { MAX_PACKAGES } from '../../lib/stemcell/dpkg';
import { parsePackagesTxt } from '../../lib/stemcell/packages-txt';
import { PACKAGES_TXT } from '../helpers/stemcells';

const TABLE = `Desired=Unknown/Install/Remove/Purge/Hold
| Status=Not/Inst/Conf-files/Unpacked/halF-conf/Half-inst/trig-aWait/Trig-pend
|/ Err?=(none)/Reinst-required (Status,Err: uppercase=bad)
||/ Name                Version                 Architecture Description
+++-===================-=======================-============-=====================================
ii  adduser             3.134                   all          add and remove users and groups
hi  libc6:amd64         2.36-9+deb12u9          amd64        GNU C Library: Shared libraries
ii  libc6:i386          2.36-9+deb12u9          i386         GNU C Library: Shared libraries
rc  old-kernel          6.1.0-26                amd64        removed, its configuration kept
iU  half-done           1.0-1                   amd64        unpacked, not configured
ii  no-description      1.0-1                   amd64
`;

describe('parsePackagesTxt', () => {
  it('refuses a table of more packages than any image installs, before they fill memory', () => {
    const rows = Array.from({ length: MAX_PACKAGES + 1 }, (_, i) => `ii  p${i} 1 amd64 x`).join('\n');
    expect(() => parsePackagesTxt(rows, 'evil/packages.txt')).toThrow(`evil/packages.txt lists more than ${MAX_PACKAGES} packages; no image installs that many`);
  });

  it('reads the installed packages of a dpkg -l table, held ones too, architectures apart', () => {
    expect(parsePackagesTxt(TABLE)).toEqual([
      { name: 'adduser', version: '3.134', architecture: 'all' },
      { name: 'libc6', version: '2.36-9+deb12u9', architecture: 'amd64' },
      { name: 'libc6', version: '2.36-9+deb12u9', architecture: 'i386' },
      { name: 'no-description', version: '1.0-1', architecture: 'amd64' },
    ]);
  });

  it("reads what dpkg -l prints on this machine, as the stage runs it, as dpkg-query lists the installed packages", () => {
    const table = execFileSync('dpkg', ['-l'], { env: { ...process.env, COLUMNS: '200' }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    const installed = execFileSync('dpkg-query', ['--show', '--showformat', '${db:Status-Status} ${Package} ${Version} ${Architecture}\\n'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
      .split('\n')
      .filter((l) => l.startsWith('installed '))
      .map((l) => l.split(' ').slice(1).join(' '))
      .sort();
    const parsed = parsePackagesTxt(table).map((p) => `${p.name} ${p.version} ${p.architecture}`).sort();
    expect(parsed.length).toBeGreaterThan(50);
    expect(parsed).toEqual(installed);
  });

  it("reads the test stemcells' packages.txt", () => {
    expect(parsePackagesTxt(PACKAGES_TXT)).toEqual([{ name: 'openssh-server', version: '1:9.2p1-2+deb12u3', architecture: 'amd64' }]);
  });

  it.each([
    ['a row cut short', 'ii  openssh-server\n', /line 1 is not a row of dpkg -l/],
    ['a package listed twice', 'ii  a 1 amd64 x\nii  a:amd64 2 amd64 y\n', /"a:amd64" is listed twice \(line 2\)/],
    ['an unknown wanted state', 'Xi  a 1 amd64 x\n', /line 1 is not a row/],
  ])('refuses %s', (_what, text, message) => {
    expect(() => parsePackagesTxt(text)).toThrow(InvalidStemcellError);
    expect(() => parsePackagesTxt(text)).toThrow(message);
  });
});
