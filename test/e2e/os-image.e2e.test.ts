/**
 * End to end, as root with the Debian archive reachable: build a real
 * debian-bookworm OS image (mmdebstrap, chroot, apt), with a customization
 * script that fails first and is fixed on resume, then run every hardening
 * check on it, and on a deliberately weakened copy.
 *
 * Downloads go to the default package cache, so later builds in the same CI
 * run (and the benchmark) start warm.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TarballView } from '../../lib/check/fs-view';
import { requireRootForSuite } from '../helpers/root';

const CLI = path.join(__dirname, '..', '..', 'bin', 'stemcell.js');
const ROOT = fs.mkdtempSync('/var/tmp/stemcell-e2e-');
const WORK = path.join(ROOT, 'work');
const OUT = path.join(ROOT, 'out', 'bosh-debian-bookworm-os-image.tgz');

function stemcell(args: string[], logName: string): { code: number | null; out: string; log: string } {
  const logFile = path.join(ROOT, `${logName}.log`);
  const fd = fs.openSync(logFile, 'w');
  const r = spawnSync(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', fd], encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  fs.closeSync(fd);
  return { code: r.status, out: r.stdout, log: fs.readFileSync(logFile, 'utf8') };
}

function script(name: string, body: string): string {
  const file = path.join(ROOT, name);
  fs.writeFileSync(file, `#!/bin/sh\nset -e\n${body}\n`, { mode: 0o755 });
  return file;
}

function mountsBelow(dir: string): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m && m.startsWith(dir));
}

jest.setTimeout(20 * 60 * 1000);
beforeAll(requireRootForSuite);
afterAll(() => {
  if (mountsBelow(ROOT).length === 0) fs.rmSync(ROOT, { recursive: true, force: true });
});

// An operator's own stage, kept outside this repository.
const OWN_STAGE = path.join(ROOT, 'acme-stages', 'acme_issue');
fs.mkdirSync(OWN_STAGE, { recursive: true });
fs.writeFileSync(
  path.join(OWN_STAGE, 'apply.sh'),
  '#!/usr/bin/env bash\nsource "$STEMCELL_LIB/common.sh"\nprintf "ACME build\\n" | write_file /etc/acme-build 0644\n',
);

const buildArgs = ['build-os-image', '--os', 'debian-bookworm', '--work', WORK, '--out', OUT, '--extra-packages', 'jq', '--add-stage', OWN_STAGE, '--install-host-packages'];

describe('debian-bookworm OS image', () => {
  it('releases every mount when interrupted in the middle of installing packages', async () => {
    const work = path.join(ROOT, 'interrupted');
    const child = spawn(process.execPath, [CLI, 'build-os-image', '--work', work, '--out', path.join(ROOT, 'interrupted.tgz'), '--install-host-packages'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr!.on('data', (d) => (log += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Interrupt once base_packages has the chroot's file systems mounted.
    for (let i = 0; i < 600 && !(log.includes('==> stage base_packages') && mountsBelow(work).length >= 5); i++) {
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(mountsBelow(work).length).toBeGreaterThanOrEqual(5);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(log).toMatch(/interrupted \(SIGINT\) during stage base_packages/);
    expect(mountsBelow(work)).toEqual([]);
    expect(spawnSync('losetup', ['--list', '--noheadings', '--output', 'BACK-FILE'], { encoding: 'utf8' }).stdout).not.toContain(work);
    expect(fs.existsSync(path.join(ROOT, 'interrupted.tgz'))).toBe(false);
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('fails at the customize stage with the script output shown, and leaves nothing mounted', () => {
    const bad = script('customize-bad.sh', 'echo "customizing the image"\necho "cannot find /opt/acme/installer" >&2\nexit 7');
    const r = stemcell([...buildArgs, '--customize', bad], 'build-failing');
    expect(r.code).toBe(4);
    expect(r.log).toMatch(/cannot find \/opt\/acme\/installer/);
    expect(r.log).toMatch(/stage customize failed \(exit 7\)/);
    expect(r.log).toMatch(/run the same command with --resume-from customize/);
    expect(mountsBelow(WORK)).toEqual([]);
    expect(fs.existsSync(OUT)).toBe(false);
    expect(fs.readdirSync(path.dirname(OUT))).toEqual([]);
  });

  it('resumes from customize with a fixed script and writes the image and its build record', () => {
    const good = script('customize-good.sh', 'echo "acme agent v1" > /etc/acme-release\njq --version');
    const r = stemcell([...buildArgs, '--customize', good, '--resume-from', 'customize'], 'build-resumed');
    expect(r.log).toMatch(/jq-1\.6/);
    expect(r.code).toBe(0);
    expect(r.out.trim()).toBe(OUT);
    const record = JSON.parse(fs.readFileSync(OUT.replace(/\.tgz$/, '.build.json'), 'utf8'));
    const status = Object.fromEntries(record.stages.map((s: { stage: string; status: string }) => [s.stage, s.status]));
    expect(status).toMatchObject({ bootstrap: 'skipped', base_packages: 'skipped', customize: 'ok', acme_issue: 'ok', file_permissions: 'ok', package_os_image: 'ok' });
    expect(record.stages.map((st: { stage: string }) => st.stage).slice(-5)).toEqual(['customize', 'acme_issue', 'file_permissions', 'clean', 'package_os_image']);
    expect(record.packages).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'jq' }), expect.objectContaining({ name: 'openssh-server' })]));
    expect(record.output.bytes).toBe(fs.statSync(OUT).size);
    expect(record.settings.extraPackages).toEqual(['jq']);
    expect(fs.existsSync(WORK)).toBe(false);
    expect(mountsBelow(ROOT)).toEqual([]);
  });

  it('carries the customization', async () => {
    const view = await TarballView.fromFile(OUT);
    expect(view.read('/etc/acme-release')).toBe('acme agent v1\n');
    expect(view.read('/etc/acme-build')).toBe('ACME build\n');
    expect(view.lstat('/usr/bin/jq')?.type).toBe('file');
    expect(view.lstat('/tmp/stemcell-customize')).toBeUndefined();
  });

  it('passes every hardening check', () => {
    const table = stemcell(['check', OUT], 'check');
    expect(table.out).toMatch(/^\d+ passed, 0 failed$/m);
    expect(table.code).toBe(0);
    const report = JSON.parse(stemcell(['check', '--json', OUT], 'check-json').out);
    expect(report.results.length).toBeGreaterThanOrEqual(60);
    expect(report.results.filter((r: { ok: boolean }) => !r.ok)).toEqual([]);
  });

  describe('a weakened copy', () => {
    const weak = path.join(ROOT, 'weak');
    const weakTgz = path.join(ROOT, 'weak.tgz');
    const expectedFailures = [
      'ssh.permit-root-login',
      'ssh.password-authentication',
      'ssh.no-host-keys',
      'files.mode-etc-shadow',
      'files.setuid-allowlist',
      'files.no-world-writable-files',
      'files.machine-id-empty',
      'pam.no-nullok',
      'modules.usb-storage',
      'sysctl.net.ipv4.ip_forward',
      'users.only-root-uid-0',
      'su.restricted',
    ].sort();

    beforeAll(() => {
      fs.mkdirSync(weak);
      expect(spawnSync('tar', ['-xzf', OUT, '-C', weak, '--numeric-owner', '--xattrs']).status).toBe(0);
      const edit = (p: string, from: RegExp, to: string) => fs.writeFileSync(path.join(weak, p), fs.readFileSync(path.join(weak, p), 'utf8').replace(from, to));
      edit('etc/ssh/sshd_config', /^PermitRootLogin no$/m, 'PermitRootLogin yes');
      edit('etc/ssh/sshd_config', /^PasswordAuthentication no$/m, 'PasswordAuthentication yes');
      fs.writeFileSync(path.join(weak, 'etc/ssh/ssh_host_ed25519_key'), 'baked-in key');
      fs.chmodSync(path.join(weak, 'etc/shadow'), 0o644);
      fs.chmodSync(path.join(weak, 'usr/bin/find'), 0o4755);
      fs.writeFileSync(path.join(weak, 'etc/acme.conf'), 'anyone may write', { mode: 0o666 });
      fs.chmodSync(path.join(weak, 'etc/acme.conf'), 0o666);
      fs.writeFileSync(path.join(weak, 'etc/machine-id'), '0123456789abcdef0123456789abcdef\n');
      edit('etc/pam.d/common-auth', /pam_unix\.so$/m, 'pam_unix.so nullok');
      edit('etc/modprobe.d/60-bosh-blacklist.conf', /^(blacklist|install) usb-storage.*\n/gm, '');
      fs.writeFileSync(path.join(weak, 'etc/sysctl.d/99-router.conf'), 'net.ipv4.ip_forward = 1\n');
      edit('etc/passwd', /^sync:x:4:/m, 'sync:x:0:');
      edit('etc/pam.d/su', /^auth\s+required\s+pam_wheel\.so.*$/m, '# pam_wheel removed');
      expect(spawnSync('tar', ['--use-compress-program=pigz', '-cf', weakTgz, '-C', weak, '--numeric-owner', '.']).status).toBe(0);
    });

    it.each([
      ['as a directory', () => weak],
      ['as a tarball', () => weakTgz],
    ])('fails exactly the weakened checks %s', (_how, target) => {
      const r = stemcell(['check', '--json', target()], 'check-weak');
      expect(r.code).toBe(1);
      const failed = JSON.parse(r.out).results.filter((x: { ok: boolean }) => !x.ok).map((x: { id: string }) => x.id).sort();
      expect(failed).toEqual(expectedFailures);
    });
  });
});
