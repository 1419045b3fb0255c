/**
 * Ubuntu OS images are built on Ubuntu hosts, which this test machine is not.
 * These tests run the real stage scripts in dry-run mode (commands recorded in
 * dry-run.log instead of run; files written as usual) with settings rendered
 * by the real TypeScript code, and check what they write and would run.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CHECKS } from '../../lib/check/checks';
import { CheckContext } from '../../lib/check/context';
import { DirectoryView } from '../../lib/check/fs-view';
import { DISTRIBUTION_FILES, dryRun, LIB, settingsEnv } from '../helpers/stages';
import { tempDir } from '../helpers/stemcells';

describe.each([
  ['ubuntu-jammy', 'jammy'],
  ['ubuntu-noble', 'noble'],
])('%s', (os, codename) => {
  it('bootstraps with mmdebstrap from the release, updates and security pockets, main and universe, with the base packages', () => {
    const { commands } = dryRun('bootstrap', os, { extraPackages: ['htop'] });
    const mmdebstrap = commands.find((c) => c.startsWith('host: mmdebstrap'))!;
    expect(mmdebstrap).toContain('--keyring=/usr/share/keyrings/ubuntu-archive-keyring.gpg');
    expect(mmdebstrap).toContain('--variant=minbase');
    expect(mmdebstrap).toContain(
      `deb http://archive.ubuntu.com/ubuntu ${codename} main universe deb http://archive.ubuntu.com/ubuntu ${codename}-updates main universe deb http://security.ubuntu.com/ubuntu ${codename}-security main universe`,
    );
    const include = /--include=(\S+)/.exec(mmdebstrap)![1].split(',');
    expect(include).toEqual(expect.arrayContaining(['openssh-server', 'ubuntu-keyring', 'htop', os === 'ubuntu-noble' ? 'libssl3t64' : 'libssl3']));
  });

  it('writes deb822 sources with updates and security pockets', () => {
    const { read, chroot } = dryRun('apt_sources', os);
    expect(read('etc/apt/sources.list.d/ubuntu.sources')).toBe(
      [
        'Types: deb',
        'URIs: http://archive.ubuntu.com/ubuntu',
        `Suites: ${codename} ${codename}-updates`,
        'Components: main universe',
        'Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg',
        '',
        'Types: deb',
        'URIs: http://security.ubuntu.com/ubuntu',
        `Suites: ${codename}-security`,
        'Components: main universe',
        'Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg',
        '',
      ].join('\n'),
    );
    expect(fs.existsSync(path.join(chroot, 'etc/apt/sources.list'))).toBe(false);
    expect(read('etc/apt/apt.conf.d/90stemcell-build')).not.toMatch(/Proxy|Check-Valid-Until/);
  });

  it('uses the snapshot archive and the build proxy when asked', () => {
    const { read } = dryRun('apt_sources', os, { snapshot: '20251101T000000Z', proxy: 'http://proxy.internal:3128' });
    const sources = read('etc/apt/sources.list.d/ubuntu.sources');
    expect(sources).toContain('URIs: https://snapshot.ubuntu.com/ubuntu/20251101T000000Z\nSuites: ' + `${codename} ${codename}-updates`);
    expect(sources).toContain(`Suites: ${codename}-security`);
    const build = read('etc/apt/apt.conf.d/90stemcell-build');
    expect(build).toContain('Acquire::http::Proxy "http://proxy.internal:3128";');
    expect(build).toContain('Acquire::Check-Valid-Until "false";');
  });

  it('installs the common list, the Ubuntu names and the extra packages in one apt run', () => {
    const { commands } = dryRun('base_packages', os, { extraPackages: ['htop', 'jq'] });
    expect(commands[0]).toMatch(/^chroot: apt-get -y .*--force-unsafe-io update$/);
    expect(commands[1]).toMatch(/^chroot: apt-get -y .*--force-unsafe-io dist-upgrade$/);
    const install = commands[2].split(' ');
    expect(install).toEqual(expect.arrayContaining(['--no-install-recommends', 'install', 'openssh-server', 'auditd', 'libpam-pwquality', 'grub-pc-bin', 'grub-efi-amd64-bin', 'ubuntu-keyring', 'htop', 'jq']));
    const versioned = os === 'ubuntu-noble' ? ['libssl3t64', 'libcurl4t64', 'libaio1t64'] : ['libssl3', 'libcurl4', 'libaio1'];
    expect(install).toEqual(expect.arrayContaining(versioned));
    expect(install.at(-2)).toBe('htop');
    expect(commands).toHaveLength(3);
  });

  /** The product's own checks, run on what the stage left in the dry-run chroot. */
  function checksOn(chroot: string, ids: string[]): Record<string, string> {
    const ctx = new CheckContext(new DirectoryView(chroot));
    return Object.fromEntries(ids.map((id) => {
      const outcome = CHECKS.find((c) => c.id === id)!.run(ctx);
      return [id, outcome.ok ? 'pass' : `FAIL: ${outcome.detail}`];
    }));
  }
  const activeLines = (text: string): string[] => text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));

  it('writes the same PAM policy as Debian over the distribution files: faillock, pwquality, pwhistory, no nullok', () => {
    const { read, chroot } = dryRun('password_policies', os);
    expect(checksOn(chroot, ['pam.faillock', 'pam.password-min-length', 'pam.password-history', 'pam.no-nullok'])).toEqual({
      'pam.faillock': 'pass',
      'pam.password-min-length': 'pass',
      'pam.password-history': 'pass',
      'pam.no-nullok': 'pass',
    });
    expect(read('etc/pam.d/common-auth')).toMatch(/^auth\trequired\t+pam_faillock\.so preauth$/m);
    expect(read('etc/pam.d/common-auth')).toMatch(/^auth\t\[default=die\]\t+pam_faillock\.so authfail$/m);
    expect(read('etc/security/faillock.conf')).toMatch(/^deny = 3$/m);
    expect(read('etc/security/pwquality.conf')).toMatch(/^minlen = 14$/m);
    // The distribution's common-auth had nullok; none is left anywhere.
    expect(fs.readFileSync(path.join(DISTRIBUTION_FILES, 'etc/pam.d/common-auth'), 'utf8')).toMatch(/pam_unix\.so nullok/);
    // login.defs: only the UMASK line changes.
    const before = fs.readFileSync(path.join(DISTRIBUTION_FILES, 'etc/login.defs'), 'utf8').split('\n');
    const after = read('etc/login.defs').split('\n');
    expect(after).toHaveLength(before.length);
    expect(after.filter((line, i) => line !== before[i])).toEqual(['UMASK\t\t077']);
    // pam.d/login keeps every line the distribution wrote.
    expect(activeLines(read('etc/pam.d/login'))).toEqual(activeLines(fs.readFileSync(path.join(DISTRIBUTION_FILES, 'etc/pam.d/login'), 'utf8')));
  });

  it('restricts su to bosh_sudoers, keeping the rest of the distribution file', () => {
    const { read, chroot } = dryRun('restrict_su', os);
    expect(checksOn(chroot, ['su.restricted'])).toEqual({ 'su.restricted': 'pass' });
    const lines = activeLines(read('etc/pam.d/su'));
    expect(lines[0]).toBe('auth       required   pam_wheel.so use_uid group=bosh_sudoers');
    expect(read('etc/pam.d/su').match(/pam_wheel/g)).toHaveLength(1);
    const original = activeLines(fs.readFileSync(path.join(DISTRIBUTION_FILES, 'etc/pam.d/su'), 'utf8'));
    expect(lines.slice(1)).toEqual(original);
    expect(original).toEqual(expect.arrayContaining(['auth       sufficient pam_rootok.so', '@include common-auth']));
  });

  it('masks motd-news (Ubuntu fetches it from the internet) and apt timers', () => {
    const { chroot } = dryRun('systemd_settings', os);
    for (const unit of ['motd-news.timer', 'apt-daily.timer', 'apt-daily-upgrade.timer']) {
      expect(fs.readlinkSync(path.join(chroot, 'etc/systemd/system', unit))).toBe('/dev/null');
    }
  });

  it('syncs time with the Ubuntu NTP pool', () => {
    const { read, commands } = dryRun('time_sync', os);
    expect(read('etc/chrony/sources.d/default.sources')).toBe('pool ntp.ubuntu.com iburst maxsources 4\n');
    expect(commands).toEqual(['chroot: systemctl enable chrony.service']);
  });

  it('points resolv.conf at systemd-resolved when cleaning', () => {
    const { chroot } = dryRun('clean', os);
    expect(fs.readlinkSync(path.join(chroot, 'etc/resolv.conf'))).toBe('../run/systemd/resolve/stub-resolv.conf');
  });
});

describe('kernel choice (stage-scripts/data/kernels.txt)', () => {
  function kernel(os: string, infrastructure: string): { code: number | null; out: string; err: string } {
    const work = tempDir('kernel-');
    fs.writeFileSync(path.join(work, 'settings.env'), settingsEnv(os, work));
    const r = spawnSync('bash', ['-c', 'source "$STEMCELL_LIB/common.sh"; kernel_package "$1"', '_', infrastructure], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, STEMCELL_SETTINGS: path.join(work, 'settings.env'), STEMCELL_CHROOT: work, STEMCELL_STAGE: 'kernel', STEMCELL_STAGE_DIR: work, STEMCELL_LIB: LIB, STEMCELL_WORK: work },
    });
    return { code: r.status, out: r.stdout.trim(), err: r.stderr };
  }

  it.each([
    ['ubuntu-jammy', 'aws', 'linux-generic'],
    ['ubuntu-jammy', 'vsphere', 'linux-generic'],
    ['ubuntu-noble', 'openstack', 'linux-generic'],
    ['debian-bookworm', 'aws', 'linux-image-cloud-amd64'],
    ['debian-bookworm', 'openstack', 'linux-image-cloud-amd64'],
    ['debian-bookworm', 'vsphere', 'linux-image-amd64'],
    ['debian-bookworm', 'vcloud', 'linux-image-amd64'],
  ])('%s on %s: %s', (os, infrastructure, expected) => {
    expect(kernel(os, infrastructure)).toMatchObject({ code: 0, out: expected });
  });

  it('says so when there is none', () => {
    const r = kernel('debian-bookworm', 'google');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/no kernel for debian-bookworm on google in stage-scripts\/data\/kernels.txt/);
  });
});

describe('debian-bookworm in the same dry run', () => {
  it('uses the Debian archive, security archive and pool', () => {
    expect(dryRun('apt_sources', 'debian-bookworm').read('etc/apt/sources.list.d/debian.sources')).toMatch(
      /URIs: http:\/\/deb.debian.org\/debian\nSuites: bookworm bookworm-updates\nComponents: main\n[\s\S]*URIs: http:\/\/deb.debian.org\/debian-security\nSuites: bookworm-security/,
    );
    expect(dryRun('time_sync', 'debian-bookworm').read('etc/chrony/sources.d/default.sources')).toMatch(/2.debian.pool.ntp.org/);
    const { chroot } = dryRun('systemd_settings', 'debian-bookworm');
    expect(fs.existsSync(path.join(chroot, 'etc/systemd/system/motd-news.timer'))).toBe(false);
  });
});
