import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkOwnStages, composeCollection, osImageStageSettings, resolveOsImageSettings, settingsForRecord } from '../../lib/builder/os-image-settings';
import { shellQuote } from '../../lib/builder/shell';
import { renderSettingsEnv } from '../../lib/builder/stage-settings';
import { tempDir } from '../helpers/stemcells';

const base = { os: 'debian-bookworm', out: '/tmp/out/os.tgz' };

describe('resolving settings', () => {
  it('defaults to the Debian archives, mmdebstrap and a per-OS package cache', () => {
    const s = resolveOsImageSettings(base);
    expect(s).toMatchObject({
      mirror: 'http://deb.debian.org/debian',
      securityMirror: 'http://deb.debian.org/debian-security',
      components: ['main'],
      bootstrapTool: 'mmdebstrap',
      packageCache: '/var/cache/stemcell-farm/apt/debian-bookworm',
      extraPackages: [],
    });
  });

  it('turns a snapshot into snapshot URLs and a reproducible SOURCE_DATE_EPOCH', () => {
    const s = resolveOsImageSettings({ ...base, snapshot: '20251101T000000Z' });
    expect(s.mirror).toBe('http://snapshot.debian.org/archive/debian/20251101T000000Z');
    expect(s.securityMirror).toBe('http://snapshot.debian.org/archive/debian-security/20251101T000000Z');
    expect(s.sourceDateEpoch).toBe(Date.UTC(2025, 10, 1) / 1000);
  });

  it('leaves the clock of a live-archive build to the Release files, never the host clock', () => {
    expect(resolveOsImageSettings(base).sourceDateEpoch).toBeUndefined();
  });

  it('keeps an explicit mirror over the default, without a trailing slash', () => {
    expect(resolveOsImageSettings({ ...base, mirror: 'http://mirror.internal/debian/' }).mirror).toBe('http://mirror.internal/debian');
  });

  it.each([
    [{ os: 'centos-7' }, /unsupported operating system "centos-7"; choose one of: ubuntu-jammy, ubuntu-noble, debian-bookworm/],
    [{ snapshot: '2025-11-01' }, /snapshot "2025-11-01": it must look like 20251101T000000Z/],
    [{ mirror: 'deb.debian.org' }, /mirror "deb.debian.org" is not a URL/],
    [{ mirror: 'ftp://deb.debian.org/debian' }, /mirror "ftp:\/\/deb.debian.org\/debian" must use http or https or file/],
    [{ proxy: 'socks5://p:1080' }, /proxy "socks5:\/\/p:1080" must use http or https/],
    [{ extraPackages: ['htop', 'rm -rf /'] }, /"rm -rf \/" is not a Debian package name/],
    [{ bootstrapTool: 'cdebootstrap' }, /bootstrap tool must be mmdebstrap or debootstrap/],
  ])('refuses %j', (change, message) => {
    expect(() => resolveOsImageSettings({ ...base, ...change } as never)).toThrow(message);
  });

  it('hides proxy credentials in the build record', () => {
    const s = resolveOsImageSettings({ ...base, proxy: 'http://user:secret@proxy.internal:3128' });
    expect(JSON.stringify(settingsForRecord(s))).not.toContain('secret');
    expect(settingsForRecord(s).proxy).toBe('http://***:***@proxy.internal:3128/');
  });
});

describe('settings.env', () => {
  it('gives every stage the exact values, whatever characters they hold', () => {
    const dir = tempDir('settings-');
    const weird = path.join(dir, "it's a \"script\" $(touch pwned) `x`.sh");
    const s = resolveOsImageSettings({ ...base, customizeScript: weird, extraPackages: ['htop', 'jq'] });
    const env = path.join(dir, 'settings.env');
    fs.writeFileSync(env, renderSettingsEnv(osImageStageSettings(s, 1_763_596_800)));
    const r = spawnSync('bash', ['-c', 'source "$1"; printf "%s\\n" "$STEMCELL_CUSTOMIZE_SCRIPT" "$STEMCELL_EXTRA_PACKAGES" "$STEMCELL_OS_CODENAME"', '_', env], { encoding: 'utf8', cwd: dir });
    expect(r.stdout).toBe(`${weird}\nhtop jq\nbookworm\n`);
    expect(fs.existsSync(path.join(dir, 'pwned'))).toBe(false);
  });

  it('quotes for the shell', () => {
    expect(shellQuote("a'b")).toBe("'a'\\''b'");
  });
});

describe('composing the collection', () => {
  const collection = '# comment\nbootstrap\nbase_packages\nfile_permissions\nclean\n';
  it('runs customize right before file_permissions when there is a script', () => {
    expect(composeCollection(collection, true)).toBe('bootstrap\nbase_packages\ncustomize\nfile_permissions\nclean\n');
    expect(composeCollection(collection, false)).toBe('bootstrap\nbase_packages\nfile_permissions\nclean\n');
  });

  it('adds the operator\'s own stages after customize', () => {
    expect(composeCollection(collection, true, ['acme_agent', 'acme_certs'])).toBe('bootstrap\nbase_packages\ncustomize\nacme_agent\nacme_certs\nfile_permissions\nclean\n');
  });

  it('finds own stages by folder and refuses names that would shadow ours', () => {
    expect(checkOwnStages(['/opt/acme/stages/acme_agent', '/srv/x/acme_certs'], ['bootstrap', 'ssh'])).toEqual({
      names: ['acme_agent', 'acme_certs'],
      searchPath: '/opt/acme/stages:/srv/x',
    });
    expect(() => checkOwnStages(['/opt/acme/ssh'], ['bootstrap', 'ssh'])).toThrow("a stage named 'ssh' already exists; rename the folder /opt/acme/ssh");
    expect(() => checkOwnStages(['/a/mine', '/b/mine'], [])).toThrow("a stage named 'mine' already exists");
    expect(() => checkOwnStages(['/a/My Stage'], [])).toThrow(/must be lower case/);
  });

  it('matches the real collections', () => {
    for (const os of ['debian-bookworm', 'ubuntu-jammy', 'ubuntu-noble']) {
      const text = fs.readFileSync(path.join(__dirname, '..', '..', 'stage-scripts', 'collections', 'os-image', os), 'utf8');
      const stages = composeCollection(text, true).trim().split('\n');
      expect(stages[0]).toBe('bootstrap');
      expect(stages.slice(-4)).toEqual(['customize', 'file_permissions', 'clean', 'package_os_image']);
      for (const stage of stages) expect(fs.existsSync(path.join(__dirname, '..', '..', 'stage-scripts', 'stages', stage, 'apply.sh'))).toBe(true);
    }
  });
});
