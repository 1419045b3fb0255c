import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveOsImageSettings } from '../../lib/builder/os-image-settings';
import { curlDownload, fetchReleaseFiles, newestRelease, releaseDate, releaseUrls } from '../../lib/builder/release-files';
import { EnvironmentError } from '../../lib/errors';
import { tempDir } from '../helpers/stemcells';

/** The head of a real InRelease file (bookworm, as deb.debian.org serves it). */
const inRelease = (suite: string, date: string): string =>
  `-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nOrigin: Debian\nLabel: Debian\nSuite: ${suite}\nVersion: 12.15\nCodename: bookworm\n` +
  `Changelogs: https://metadata.ftp-master.debian.org/changelogs/@CHANGEPATH@_changelog\nDate: ${date}\nAcquire-By-Hash: yes\n` +
  'Architectures: all amd64 arm64\nComponents: main contrib non-free-firmware non-free\nSHA256:\n 0ed6d4c8891eb86358b94bb35d9e4da4  1484322 contrib/Contents-all\n' +
  '-----BEGIN PGP SIGNATURE-----\n\niQIzBAEBCAAdFiEE\n-----END PGP SIGNATURE-----\n';

const settings = resolveOsImageSettings({ os: 'debian-bookworm', out: '/tmp/out/os.tgz' });

describe('Release files: the build clock', () => {
  it('reads the release, updates and security pockets of the build', () => {
    expect(releaseUrls(settings)).toEqual([
      'http://deb.debian.org/debian/dists/bookworm/InRelease',
      'http://deb.debian.org/debian/dists/bookworm-updates/InRelease',
      'http://deb.debian.org/debian-security/dists/bookworm-security/InRelease',
    ]);
  });

  it('takes the Date field, in UTC', () => {
    expect(releaseDate(inRelease('oldstable', 'Sat, 11 Jul 2026 10:16:37 UTC'), 'u')).toBe(Date.UTC(2026, 6, 11, 10, 16, 37) / 1000);
  });

  it('takes the newest Date of the three as the build time', () => {
    const dates: Record<string, string> = {
      'http://deb.debian.org/debian/dists/bookworm/InRelease': 'Sat, 11 Jul 2026 10:16:37 UTC',
      'http://deb.debian.org/debian/dists/bookworm-updates/InRelease': 'Sun, 22 Nov 2026 08:26:53 UTC',
      'http://deb.debian.org/debian-security/dists/bookworm-security/InRelease': 'Sun, 22 Nov 2026 02:01:10 UTC',
    };
    const asked: (string | undefined)[] = [];
    const files = fetchReleaseFiles({ ...settings, proxy: 'http://proxy.internal:3128' }, (url, proxy) => {
      asked.push(proxy);
      return Buffer.from(inRelease('oldstable', dates[url]));
    });
    expect(asked).toEqual(['http://proxy.internal:3128', 'http://proxy.internal:3128', 'http://proxy.internal:3128']);
    expect(files.map((f) => f.date)).toEqual(['2026-07-11T10:16:37.000Z', '2026-11-22T08:26:53.000Z', '2026-11-22T02:01:10.000Z']);
    expect(files[0].sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(newestRelease(files)).toBe(Date.UTC(2026, 10, 22, 8, 26, 53) / 1000);
  });

  it.each([
    ['a captive portal page', '<html><body>Please log in</body></html>'],
    ['a Release file without a Date', 'Origin: Debian\nSuite: stable\n'],
    ['a Date that is no date', 'Origin: Debian\nSuite: stable\nDate: yesterday\n'],
  ])('refuses %s, naming the URL and what to check', (_, text) => {
    expect(() => fetchReleaseFiles(settings, () => Buffer.from(text))).toThrow(
      new EnvironmentError('http://deb.debian.org/debian/dists/bookworm/InRelease is not a Release file with a Date field; check --mirror and --security-mirror'),
    );
  });

  it.each([
    ['no time zone, which the host would read in its own', 'Sat, 11 Jul 2026 10:16:37'],
    ['a year alone', '1'],
    ['a date before any archive', 'Thu, 01 Jan 1970 00:00:00 UTC'],
    ['a date beyond tomorrow', 'Fri, 01 Jan 2100 00:00:00 UTC'],
  ])('refuses a Date with %s', (_, date) => {
    expect(() => releaseDate(inRelease('oldstable', date), 'u')).toThrow(/^u is (not a Release file with a Date field|dated .*, which no archive's Release file is); check --mirror and --security-mirror/);
  });

  it('reads a Date with a numeric offset as that offset says', () => {
    expect(releaseDate(inRelease('oldstable', 'Sat, 11 Jul 2026 12:16:37 +0200'), 'u')).toBe(Date.UTC(2026, 6, 11, 10, 16, 37) / 1000);
  });

  it('downloads with curl, file: mirrors included, and says which URL could not be read', () => {
    const dir = tempDir('release-');
    fs.mkdirSync(path.join(dir, 'dists', 'bookworm'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'dists', 'bookworm', 'InRelease'), inRelease('oldstable', 'Sat, 11 Jul 2026 10:16:37 UTC'));
    expect(curlDownload(`file://${dir}/dists/bookworm/InRelease`, undefined).toString()).toContain('Codename: bookworm');
    expect(() => curlDownload(`file://${dir}/dists/bookworm-updates/InRelease`, undefined)).toThrow(
      new RegExp(`^cannot download file://${dir}/dists/bookworm-updates/InRelease \\(curl: \\(37\\) .*\\); check the network, --mirror or --proxy$`),
    );
  });
});
