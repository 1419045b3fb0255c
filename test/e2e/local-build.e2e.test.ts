/**
 * End to end, as root with the Debian archive reachable, in one file because
 * each step builds on the last (and two builds must not share the package
 * cache at once):
 *
 * 1. a real debian-bookworm OS image (mmdebstrap, chroot, apt), with a
 *    customization script that fails first and is fixed on resume; every
 *    hardening check on it, and on a deliberately weakened copy;
 *    It is rebuilt from the same inputs to the same bytes, and once more with
 *    one package more, which `stemcell diff` must name.
 * 2. stemcells from that OS image: AWS raw (BIOS), OpenStack qcow2, AWS EFI
 *    and vSphere OVA; inspected, checked, and booted under QEMU; stemcells
 *    with a broken fstab or no kernel must fail the boot test. The AWS one
 *    carries valid SBOMs and is rebuilt to the same bytes.
 *
 * The agent in these stemcells is a STAND-IN (test/fixtures/agent-stand-in):
 * a shell script that only records that runit started it. The real agent
 * never runs here.
 *
 * Downloads go to the default package cache, so later builds in the same CI
 * run (and the benchmark) start warm.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TarballView } from '../../lib/check/fs-view';
import { loopDevicesBelow } from '../../lib/scratch';
import { defineStemcell, heavyManifest, readStemcellTarball, renderManifest, writeTarball } from '../../lib/stemcell';
import { requireRootForSuite, scratchOfEndedProcesses } from '../helpers/root';
import { spdxProblems, validateCycloneDx } from '../helpers/sbom-validation';

const CLI = path.join(__dirname, '..', '..', 'bin', 'stemcell.js');
const ROOT = fs.mkdtempSync('/var/tmp/stemcell-e2e-');
const WORK = path.join(ROOT, 'work');
const OUT_DIR = path.join(ROOT, 'out');
const OUT = path.join(OUT_DIR, 'bosh-debian-bookworm-os-image.tgz');

function stemcell(args: string[], logName: string): { code: number | null; out: string; log: string } {
  const logFile = path.join(ROOT, `${logName}.log`);
  const fd = fs.openSync(logFile, 'w');
  const r = spawnSync(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', fd], encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  fs.closeSync(fd);
  return { code: r.status, out: r.stdout, log: fs.readFileSync(logFile, 'utf8') };
}

/** Expect a command to have succeeded; when it did not, the failure shows the end of its log (the suite deletes the logs). */
function expectSuccess(r: { code: number | null; log: string }): void {
  if (r.code !== 0) throw new Error(`exited with ${r.code}; the end of its log:\n${r.log.split('\n').slice(-60).join('\n')}`);
}

function script(name: string, body: string): string {
  const file = path.join(ROOT, name);
  fs.writeFileSync(file, `#!/bin/sh\nset -e\n${body}\n`, { mode: 0o755 });
  return file;
}

function mountsBelow(dir: string): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m && m.startsWith(dir));
}

/** No mount and no loop device below `dir` is left. */
function expectNothingHeldBelow(dir: string): void {
  expect(mountsBelow(dir)).toEqual([]);
  expect(spawnSync('losetup', ['--list', '--noheadings', '--output', 'BACK-FILE'], { encoding: 'utf8' }).stdout).not.toContain(dir);
}

/**
 * Run the CLI, send `signal` once `ready()` holds (looking every `everyMs` for
 * at most 600 looks; `ready` must have held), and return its exit code and stderr.
 */
async function interruptWhen(args: string[], ready: () => boolean, everyMs: number, signal: NodeJS.Signals): Promise<{ code: number | null; log: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d) => (log += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  for (let i = 0; i < 600 && !ready(); i++) await new Promise((r) => setTimeout(r, everyMs));
  expect(ready()).toBe(true);
  child.kill(signal);
  return { code: await exited, log };
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

const buildArgs = ['build-os-image', '--os', 'debian-bookworm', '--work', WORK, '--out', OUT_DIR, '--extra-packages', 'jq', '--add-stage', OWN_STAGE, '--install-host-packages'];

describe('debian-bookworm OS image', () => {
  it('releases every mount when interrupted in the middle of bootstrapping', async () => {
    const work = path.join(ROOT, 'interrupted');
    // Interrupt once mmdebstrap has the package cache and the chroot's file systems mounted.
    const { code, log } = await interruptWhen(
      ['build-os-image', '--work', work, '--out', path.join(ROOT, 'interrupted-out'), '--install-host-packages'],
      () => mountsBelow(work).length >= 3,
      200,
      'SIGINT',
    );
    expect(code).toBe(130);
    expect(log).toMatch(/interrupted \(SIGINT\) during stage bootstrap/);
    expectNothingHeldBelow(work);
    expect(fs.readdirSync(path.join(ROOT, 'interrupted-out'))).toEqual([]);
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('fails at the customize stage with the script output shown, and leaves nothing mounted', () => {
    const bad = script('customize-bad.sh', 'echo "customizing the image"\necho "cannot find /opt/acme/installer" >&2\nexit 7');
    const r = stemcell([...buildArgs, '--customize', bad], 'build-failing');
    expect(r.code).toBe(4);
    expect(r.log).toMatch(/cannot find \/opt\/acme\/installer/);
    expect(r.log).toMatch(/stage customize failed \(exit 7\)/);
    expect(r.log).toMatch(/^stemcell: stage customize failed; the work directory .* is kept: after fixing the cause, run the same command with --resume-from customize$/m);
    expect(mountsBelow(WORK)).toEqual([]);
    expect(fs.existsSync(OUT)).toBe(false);
    expect(fs.readdirSync(path.dirname(OUT))).toEqual([]);
  });

  it('resumes from customize with a fixed script and writes the image and its build record', () => {
    const good = script('customize-good.sh', 'echo "acme agent v1" > /etc/acme-release\njq --version');
    const r = stemcell([...buildArgs, '--customize', good, '--resume-from', 'customize'], 'build-resumed');
    expect(r.log).toMatch(/jq-1\.6/);
    expectSuccess(r);
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

  /** The OS image of `args`, built into a folder of its own; its path and build record. */
  const buildAgain = (name: string, args: string[]) => {
    const out = path.join(ROOT, name);
    const r = stemcell(['build-os-image', '--os', 'debian-bookworm', '--work', path.join(ROOT, `work-${name}`), '--out', out, ...args], `build-${name}`);
    expectSuccess(r);
    const tarball = path.join(out, 'bosh-debian-bookworm-os-image.tgz');
    return { tarball, record: JSON.parse(fs.readFileSync(tarball.replace(/\.tgz$/, '.build.json'), 'utf8')) };
  };
  const sameInputs = () => ['--extra-packages', 'jq', '--add-stage', OWN_STAGE, '--customize', path.join(ROOT, 'customize-good.sh')];

  it('rebuilds byte for byte from the same inputs, straight through this time', () => {
    const first = JSON.parse(fs.readFileSync(OUT.replace(/\.tgz$/, '.build.json'), 'utf8'));
    let again = buildAgain('rebuilt', sameInputs());
    // The mirror may publish between two builds; then the next two builds share one mirror state.
    const stateOf = (record: { inputs: { releasesUsed: unknown } }) => JSON.stringify(record.inputs.releasesUsed);
    let reference = first;
    if (stateOf(again.record) !== stateOf(first)) {
      reference = again.record;
      again = buildAgain('rebuilt-again', sameInputs());
    }
    expect(again.record.inputs.sourceDateEpoch).toBe(reference.inputs.sourceDateEpoch);
    expect(again.record.inputs.releases.map((r: { date: string }) => r.date)).toEqual(reference.inputs.releases.map((r: { date: string }) => r.date));
    expect(again.record.output.sha256).toBe(reference.output.sha256);
    expect(again.record.output.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('names the one extra package of a build that adds it, and nothing else that a package does not explain', () => {
    const more = buildAgain('one-more-package', [...sameInputs(), '--extra-packages', 'tree']);
    const r = stemcell(['diff', '--json', OUT, more.tarball], 'diff-one-more');
    expectSuccess(r);
    const diff = JSON.parse(r.out);
    expect(diff.packages.added.map((p: { name: string }) => p.name)).toEqual(['tree']);
    expect(diff.packages).toMatchObject({ removed: [], upgraded: [], downgraded: [] });
    // Every file that differs is tree's: a package change explains it, so none is listed.
    expect(diff.files).toEqual({ added: [], removed: [], changed: [] });
    const text = stemcell(['diff', OUT, more.tarball], 'diff-one-more-text');
    expect(text.out).toMatch(/^Packages: 1 added, 0 removed, 0 upgraded, 0 downgraded$/m);
  });

  it('carries the customization', async () => {
    const view = await TarballView.fromFile(OUT);
    expect(view.read('/etc/acme-release')).toBe('acme agent v1\n');
    expect(view.read('/etc/acme-build')).toBe('ACME build\n');
    expect(view.lstat('/usr/bin/jq')?.type).toBe('file');
    expect(view.lstat('/tmp/stemcell-customize')).toBeUndefined();
  });

  it('carries no manual pages, info pages, documentation or translations, but every copyright file', () => {
    const files = spawnSync('tar', ['-tzf', OUT], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }).stdout.split('\n');
    const excluded = files.filter((f) => /^\.\/usr\/share\/(man|info|doc|locale)\/.*[^/]$/.test(f) && !/^\.\/usr\/share\/doc\/.+\/copyright$/.test(f));
    expect(excluded).toEqual([]);
    // Copyright files at any depth stay (dpkg's * matches across slashes); bash's is extracted
    // by mmdebstrap before dpkg reads the excludes.
    expect(files).toEqual(expect.arrayContaining(['./usr/share/doc/bash/copyright', './usr/share/doc/openssh-client/copyright']));
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

describe('stemcells from that OS image', () => {
  const AGENT = path.join(__dirname, '..', 'fixtures', 'agent-stand-in', 'bosh-agent');
  const STEMCELLS = path.join(ROOT, 'stemcells');
  const build = (name: string, ...args: string[]) =>
    stemcell(['build', '--os-image', OUT, '--agent-binary', AGENT, '--version', '1.10', '--out', path.join(STEMCELLS, name), '--work', path.join(ROOT, `work-${name}`), ...args], `build-${name}`);
  const tarballIn = (name: string): string => path.join(STEMCELLS, name, fs.readdirSync(path.join(STEMCELLS, name)).find((f) => f.endsWith('.tgz'))!);
  const bootTest = (tarball: string) => {
    const r = stemcell(['boot-test', '--json', '--timeout', '420', tarball], 'boot');
    return { code: r.code, result: r.out ? JSON.parse(r.out) : undefined, log: r.log };
  };

  it('builds the AWS stemcell: manifest, files, image holding exactly root.img', async () => {
    const r = build('aws', '--keep-work');
    expectSuccess(r);
    const tarball = tarballIn('aws');
    expect(path.basename(tarball)).toBe('bosh-stemcell-1.10-aws-xen-hvm-debian-bookworm-go_agent.tgz');
    const contents = await readStemcellTarball(tarball);
    expect(contents.sha1Matches).toBe(true);
    expect(contents.manifest).toMatchObject({ name: 'bosh-aws-xen-hvm-debian-bookworm-go_agent', version: '1.10', stemcell_formats: ['aws-raw'] });
    expect(contents.manifest.cloud_properties).toMatchObject({ disk: 5120, disk_format: 'raw', root_device_name: '/dev/sda1' });
    expect(contents.entries.map((e) => e.name)).toEqual(['stemcell.MF', 'dev_tools_file_list.txt', 'image', 'packages.txt', 'sbom.cdx.json', 'sbom.spdx.json']);
    expect(contents.sideFiles.get('packages.txt')!.toString()).toMatch(/^ii {2}linux-image-cloud-amd64 /m);
    expect(contents.sideFiles.get('dev_tools_file_list.txt')!.toString()).toMatch(/^\/usr\/bin\/x86_64-linux-gnu-gcc-12$/m);
    // Its build record names what decides its bytes.
    const record = JSON.parse(fs.readFileSync(tarball.replace(/\.tgz$/, '.build.json'), 'utf8'));
    const osImageRecord = JSON.parse(fs.readFileSync(OUT.replace(/\.tgz$/, '.build.json'), 'utf8'));
    const sha256 = (file: string) => spawnSync('sha256sum', [file], { encoding: 'utf8' }).stdout.split(' ')[0];
    expect(record).toMatchObject({ kind: 'stemcell', name: 'bosh-aws-xen-hvm-debian-bookworm-go_agent', version: '1.10', output: { sha256: sha256(tarball) } });
    expect(record.inputs).toMatchObject({ sourceDateEpoch: osImageRecord.inputs.sourceDateEpoch, osImage: { sha256: osImageRecord.output.sha256 }, agent: { sha256: sha256(AGENT) } });

    // The initramfs is zstd, as initramfs.conf asks (gzip is mkinitramfs's fallback when the command is missing).
    const boot = path.join(ROOT, 'work-aws', 'chroot', 'boot');
    const initrd = fs.readdirSync(boot).find((f) => f.startsWith('initrd.img-'))!;
    expect(fs.readFileSync(path.join(boot, initrd)).subarray(0, 4).toString('hex')).toBe('28b52ffd');

    const dir = fs.mkdtempSync(path.join(ROOT, 'aws-image-'));
    await readStemcellTarball(tarball, { extractTo: dir });
    const listing = spawnSync('tar', ['-tzvf', path.join(dir, 'image')], { encoding: 'utf8' }).stdout.trim().split('\n');
    expect(listing).toHaveLength(1);
    expect(listing[0]).toMatch(/ root\.img$/);
    expect(listing[0]).toMatch(/ 5368709120 /);
    fs.rmSync(dir, { recursive: true });
  });

  it('passes every check, with the stemcell checks, on the mounted image', () => {
    const r = stemcell(['check', '--json', tarballIn('aws')], 'check-aws');
    const report = JSON.parse(r.out);
    expect(report.results.filter((x: { ok: boolean }) => !x.ok)).toEqual([]);
    expect(report.results.map((x: { id: string }) => x.id)).toEqual(expect.arrayContaining(['boot.grub-cfg-mode', 'boot.kernel-args', 'agent.settings']));
    expectSuccess(r);
    expect(mountsBelow('/var/tmp')).toEqual([]);
  });

  it('carries SBOMs, valid, with one package for each package dpkg -l lists', async () => {
    const contents = await readStemcellTarball(tarballIn('aws'));
    const listed = contents.sideFiles.get('packages.txt')!.toString().split('\n').filter((l) => /^[a-z][a-z] {2}\S/.test(l));
    expect(listed.every((l) => l.startsWith('ii '))).toBe(true);
    const cdx = JSON.parse(contents.sideFiles.get('sbom.cdx.json')!.toString());
    const spdx = JSON.parse(contents.sideFiles.get('sbom.spdx.json')!.toString());
    expect(validateCycloneDx(cdx) ? [] : validateCycloneDx.errors).toEqual([]);
    expect(spdxProblems(spdx)).toEqual([]);
    expect(cdx.components).toHaveLength(listed.length);
    // SPDX adds the operating system that contains the packages.
    expect(spdx.packages).toHaveLength(listed.length + 1);
    expect(cdx.components.map((c: { purl: string }) => c.purl)).toContainEqual(expect.stringMatching(/^pkg:deb\/debian\/linux-image-cloud-amd64@.*distro=debian-12$/));
  });

  it('rebuilds the AWS stemcell byte for byte from the same OS image', () => {
    expectSuccess(build('aws-rebuilt'));
    const sha256 = (file: string) => spawnSync('sha256sum', [file], { encoding: 'utf8' }).stdout.split(' ')[0];
    expect(sha256(tarballIn('aws-rebuilt'))).toBe(sha256(tarballIn('aws')));
  });

  it('tells a stemcell by its manifest, not by the order of its entries', async () => {
    const dir = fs.mkdtempSync(path.join(ROOT, 'image-first-'));
    const contents = await readStemcellTarball(tarballIn('aws'), { extractTo: dir });
    const first = path.join(dir, 'image-first.tgz');
    await writeTarball(first, contents.entries.map((e) => ({ name: e.name, path: path.join(dir, e.name) })), { first: 'image', pigz: true });
    expect((await readStemcellTarball(first)).entries[0].name).toBe('image');
    const r = stemcell(['check', '--json', first], 'check-image-first');
    const report = JSON.parse(r.out);
    expect(report.results.filter((x: { ok: boolean }) => !x.ok)).toEqual([]);
    expect(report.results.map((x: { id: string }) => x.id)).toEqual(expect.arrayContaining(['boot.kernel-installed', 'agent.settings']));
    expectSuccess(r);
    fs.rmSync(dir, { recursive: true });
  });

  const scratchOf = (pattern: RegExp): string | undefined => fs.readdirSync('/var/tmp').filter((f) => pattern.test(f)).map((f) => path.join('/var/tmp', f))[0];
  const expectNoScratch = (): void => {
    // QEMU's snapshot overlay (vl.XXXXXX) included: it lives in the scratch space.
    // What the interrupted command left; the unit suites beside this one may be checking a stemcell right now.
    expect(scratchOfEndedProcesses()).toEqual({ dirs: [], mounts: [], loops: [] });
    expect(fs.readdirSync('/var/tmp').filter((f) => /^vl\./.test(f))).toEqual([]);
    expect(spawnSync('pgrep', ['-f', 'qemu-system-x86_64']).status).toBe(1);
  };

  it.each([
    ['check', /^stemcell-check-\d+-/, (scratch: string) => fs.existsSync(path.join(scratch, 'root.img'))],
    ['boot-test', /^stemcell-boot-\d+-/, (scratch: string) => fs.existsSync(path.join(scratch, 'console.log'))],
  ])('releases the half-written disk (and QEMU) when %s is interrupted', async (command, pattern, busy) => {
    const { code, log } = await interruptWhen([command, tarballIn('aws')], () => scratchOf(pattern) !== undefined && busy(scratchOf(pattern)!), 50, 'SIGINT');
    expect(code).toBe(130);
    expect(log).toMatch(/interrupted \(SIGINT\); scratch space and partial outputs released/);
    expectNoScratch();
  });

  it('sweeps the mount, loop device and disk of a check killed outright, at the next command', async () => {
    // SIGKILL cannot be handled: freeze the check while its disk is mounted, then kill it.
    const child = spawn(process.execPath, [CLI, 'check', tarballIn('aws')], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    let scratch: string | undefined;
    for (let i = 0; i < 3000 && !(scratch && mountsBelow(scratch).length > 0); i++) {
      scratch = scratchOf(/^stemcell-check-\d+-/);
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGSTOP');
    expect(mountsBelow(scratch!)).not.toEqual([]);
    child.kill('SIGKILL');
    await exited;
    expect(loopDevicesBelow(scratch!)).not.toEqual([]);
    // The next command that makes scratch space sweeps what the dead one left.
    const again = stemcell(['check', tarballIn('aws')], 'check-after-kill');
    expectSuccess(again);
    expect(fs.existsSync(scratch!)).toBe(false);
    expectNoScratch();
  });

  it('boots the AWS stemcell (BIOS) to a login prompt with the agent started by runit', () => {
    const { code, result, log } = bootTest(tarballIn('aws'));
    expect(log).toMatch(/raw, bios/);
    expect(result).toMatchObject({ ok: true, firmware: 'bios', format: 'raw', reachedLogin: true, agentStarted: true, standInAgentStarted: true });
    expect(code).toBe(0);
  });

  it('releases the scratch disk mount and loop devices when interrupted while installing GRUB', async () => {
    const work = path.join(ROOT, 'work-aws');
    const { code, log } = await interruptWhen(
      ['build', '--os-image', OUT, '--agent-binary', AGENT, '--version', '1.10', '--out', path.join(STEMCELLS, 'aws-again'), '--work', work, '--resume-from', 'bootloader'],
      () => mountsBelow(work).length > 0,
      20,
      'SIGTERM',
    );
    expect(code).toBe(143);
    expect(log).toMatch(/interrupted \(SIGTERM\) during stage bootloader/);
    expectNothingHeldBelow(work);
    // A resume goes on with the chroot of the OS image the build started from: another one (here the same tar, gzipped again) is refused.
    const other = path.join(ROOT, 'other-os-image.tgz');
    execFileSync('bash', ['-c', `zcat "$1" | gzip -1 >"$2"`, 'regzip', OUT, other]);
    const refused = stemcell(['build', '--os-image', other, '--agent-binary', AGENT, '--version', '1.10', '--out', path.join(STEMCELLS, 'aws-again'), '--work', work, '--resume-from', 'bootloader'], 'build-other-os-image');
    expect(refused.code).toBe(2);
    expect(refused.log).toMatch(/started from another OS image than .*other-os-image\.tgz \(its sha256 differs\); resume with that OS image, or start again without --resume-from/);
    fs.rmSync(other);
    // Resumed from a chroot saved on disk, the build still gives the same bytes as one straight through.
    expectSuccess(stemcell(['build', '--os-image', OUT, '--agent-binary', AGENT, '--version', '1.10', '--out', path.join(STEMCELLS, 'aws-again'), '--work', work, '--resume-from', 'bootloader'], 'build-aws-again'));
    const sha256 = (file: string) => spawnSync('sha256sum', [file], { encoding: 'utf8' }).stdout.split(' ')[0];
    expect(sha256(tarballIn('aws-again'))).toBe(sha256(tarballIn('aws')));
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('builds and boots the OpenStack stemcell (qcow2)', async () => {
    expectSuccess(build('openstack', '--infrastructure', 'openstack'));
    const contents = await readStemcellTarball(tarballIn('openstack'));
    expect(contents.manifest).toMatchObject({ name: 'bosh-openstack-kvm-debian-bookworm-go_agent', stemcell_formats: ['openstack-qcow2'] });
    const { code, result } = bootTest(tarballIn('openstack'));
    expect(result).toMatchObject({ ok: true, format: 'qcow2', firmware: 'bios', agentStarted: true });
    expect(code).toBe(0);
  });

  it('builds and boots an EFI image (GPT, ESP, OVMF)', async () => {
    expectSuccess(build('efi', '--firmware', 'efi'));
    const contents = await readStemcellTarball(tarballIn('efi'));
    expect(contents.manifest.cloud_properties?.boot_mode).toBe('uefi-preferred');
    const { code, result } = bootTest(tarballIn('efi'));
    expect(result).toMatchObject({ ok: true, firmware: 'efi', agentStarted: true });
    expect(code).toBe(0);
  });

  describe('the boot test can fail', () => {
    /** A copy of the AWS stemcell whose root file system `edit` changes. */
    async function tampered(name: string, edit: (root: string) => void): Promise<string> {
      const dir = fs.mkdtempSync(path.join(ROOT, `${name}-`));
      const contents = await readStemcellTarball(tarballIn('aws'), { extractTo: dir });
      expect(spawnSync('tar', ['-xzf', path.join(dir, 'image'), '-C', dir, '--sparse']).status).toBe(0);
      const disk = path.join(dir, 'root.img');
      const root = path.join(dir, 'mnt');
      fs.mkdirSync(root);
      const loop = spawnSync('losetup', ['--find', '--show', '--offset', String(2048 * 512), disk], { encoding: 'utf8' }).stdout.trim();
      expect(spawnSync('mount', [loop, root]).status).toBe(0);
      try {
        edit(root);
      } finally {
        spawnSync('umount', [root]);
        spawnSync('losetup', ['--detach', loop]);
      }
      const image = path.join(dir, 'image.new');
      // As package_image does it: sparse tar, pigz (a 5 GiB disk through zlib would take minutes).
      expect(spawnSync('sh', ['-c', 'tar --create --sparse --directory="$1" root.img | pigz > "$2"', '_', dir, image]).status).toBe(0);
      const sha1 = spawnSync('sha1sum', [image], { encoding: 'utf8' }).stdout.split(' ')[0];
      const manifest = heavyManifest(defineStemcell({ infrastructure: 'aws', os: 'debian-bookworm' }), { version: contents.manifest.version, imageSha1: sha1 });
      const out = path.join(dir, `${name}.tgz`);
      await writeTarball(out, [{ name: 'stemcell.MF', data: renderManifest(manifest) }, { name: 'image', path: image }]);
      return out;
    }

    it('fails with a broken fstab, and shows the console', async () => {
      const broken = await tampered('broken-fstab', (root) =>
        fs.appendFileSync(path.join(root, 'etc/fstab'), '/dev/vdz1 /srv ext4 defaults,x-systemd.device-timeout=5s 0 2\n'),
      );
      const { code, result, log } = bootTest(broken);
      expect(code).toBe(1);
      expect(result.ok).toBe(false);
      expect(result.reason).toMatch(/emergency mode|Failed to mount|no agent start/);
      expect(log).toMatch(/--- last console lines ---/);
    });

    it('fails without a kernel', async () => {
      const broken = await tampered('no-kernel', (root) => {
        for (const f of fs.readdirSync(path.join(root, 'boot')).filter((n) => n.startsWith('vmlinuz-'))) fs.rmSync(path.join(root, 'boot', f));
      });
      const { code, result } = bootTest(broken);
      expect(code).toBe(1);
      expect(result).toMatchObject({ ok: false, reachedLogin: false });
    });
  });

  it('builds the vSphere stemcell: an OVF that references its streamOptimized VMDK with the right size', async () => {
    expectSuccess(build('vsphere', '--infrastructure', 'vsphere'));
    const dir = fs.mkdtempSync(path.join(ROOT, 'ova-'));
    const contents = await readStemcellTarball(tarballIn('vsphere'), { extractTo: dir });
    expect(contents.manifest).toMatchObject({ name: 'bosh-vsphere-esxi-debian-bookworm-go_agent', stemcell_formats: ['vsphere-ova'] });
    const names = spawnSync('tar', ['-tzf', path.join(dir, 'image')], { encoding: 'utf8' }).stdout.trim().split('\n');
    expect(names).toEqual(['image.ovf', 'image-disk1.vmdk']);
    expect(spawnSync('tar', ['-xzf', path.join(dir, 'image'), '-C', dir]).status).toBe(0);
    const ovf = fs.readFileSync(path.join(dir, 'image.ovf'), 'utf8');
    const vmdkSize = fs.statSync(path.join(dir, 'image-disk1.vmdk')).size;
    expect(ovf).toContain(`<File ovf:href="image-disk1.vmdk" ovf:id="file1" ovf:size="${vmdkSize}"/>`);
    expect(ovf).toContain(`ovf:capacity="${5120 * 2 ** 20}"`);
    expect(ovf).toContain('<VirtualSystem ovf:id="bosh-vsphere-esxi-debian-bookworm-go_agent">');
    const info = JSON.parse(spawnSync('qemu-img', ['info', '--output=json', path.join(dir, 'image-disk1.vmdk')], { encoding: 'utf8' }).stdout);
    expect(info).toMatchObject({ format: 'vmdk', 'virtual-size': 5120 * 2 ** 20 });
    expect(info['format-specific'].data['create-type']).toBe('streamOptimized');
    expect(spawnSync('xmllint', ['--noout', path.join(dir, 'image.ovf')]).status ?? 0).toBe(0);
  });
});
