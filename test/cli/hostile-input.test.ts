/**
 * The findings of issue 9, each as the user or attacker met it: the CLI as a
 * real process, bad input refused with exit 1, 2 or 3 and one line, no stack
 * trace, nothing read outside the stemcell, nothing left behind.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { scratchOfEndedProcesses } from '../helpers/root';
import { makeHeavyStemcell, tempDir } from '../helpers/stemcells';
import { archive, entry, tgz } from '../helpers/tar';

const CLI = path.join(__dirname, '..', '..', 'bin', 'stemcell.js');

interface Result {
  code: number;
  out: string;
  err: string;
}

function stemcell(args: string[], env: NodeJS.ProcessEnv = process.env): Result {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** No stack trace, and exactly one line on stderr. */
function expectOneLine(r: Result): void {
  expect(r.err).not.toMatch(/^\s+at /m);
  expect(r.err.trimEnd().split('\n')).toHaveLength(1);
}

let dir: string;
let heavy: string;
beforeAll(async () => {
  dir = tempDir('hostile-cli-');
  heavy = await makeHeavyStemcell(dir, { version: '1.10' });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const fresh = (): string => fs.mkdtempSync(path.join(dir, 'x-'));

function file(name: string, bytes: Buffer): string {
  const f = path.join(fresh(), name);
  fs.writeFileSync(f, bytes);
  return f;
}

describe('4. no stack traces: broken tarballs and manifests in every command', () => {
  const broken: [string, () => string, RegExp][] = [
    ['a truncated stemcell', () => file('cut.tgz', fs.readFileSync(heavy).subarray(0, 600)), /corrupt or truncated gzip data|truncated tarball/],
    ['a file that is not gzip', () => file('text.tgz', Buffer.from('not a stemcell at all\n')), /is not a gzip file/],
    ['an alias bomb in stemcell.MF', () => file('bomb.tgz', tgz(archive(entry({ name: 'stemcell.MF' }, `a: &a [x,x,x,x,x,x,x,x,x]\n${'bcdefghi'.split('').map((c, i) => `${c}: &${c} [*${'abcdefgh'[i]},*${'abcdefgh'[i]},*${'abcdefgh'[i]},*${'abcdefgh'[i]}]`).join('\n')}\n`), entry({ name: 'image' })))), /too many YAML aliases/],
  ];
  const commands: [string, string[]][] = [
    ['inspect', []],
    ['check', []],
    ['boot-test', []],
    ['light', ['--ami', 'us-east-1=ami-0123456789abcdef0']],
  ];
  for (const [command, extra] of commands) {
    it.each(broken)(`${command} on %s: exit 1, one line`, (_what, make, message) => {
      const r = stemcell([command, make(), ...extra]);
      expect(r.err).toMatch(message);
      expect(r.code).toBe(1);
      expectOneLine(r);
    });
  }

  it.each([
    ['a read-only pseudo file system', '/sys/stemcell-out'],
    ['a directory /proc refuses', '/proc/stemcell-out'],
    ['a file where the directory should be', 'FILE'],
  ])('light --out onto %s: exit 3 before reading the stemcell', (_what, out) => {
    const target = out === 'FILE' ? file('not-a-dir', Buffer.from('x')) : out;
    const r = stemcell(['light', heavy, '--ami', 'us-east-1=ami-0123456789abcdef0', '--out', target]);
    expect(r.err).toMatch(/^stemcell: (cannot (create|write to) the output directory .*|the output directory .* is not a directory); pass another --out$/m);
    expect(r.code).toBe(3);
    expectOneLine(r);
  });
});

describe('5. nothing left behind', () => {
  it('an interrupted light leaves no partial file', async () => {
    // A large, incompressible side file makes the light stemcell slow enough to write to be interrupted.
    const slow = await makeHeavyStemcell(fresh(), { packagesTxt: randomBytes(48 * 1024 * 1024) });
    const out = fresh();
    const child = spawn(process.execPath, [CLI, 'light', slow, '--ami', 'us-east-1=ami-0123456789abcdef0', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    for (let i = 0; i < 1500 && !fs.readdirSync(out).some((f) => f.includes('.partial-')); i++) await new Promise((r) => setTimeout(r, 5));
    // Frozen mid-write, so the signal cannot lose a race with the end of the write.
    child.kill('SIGSTOP');
    expect(fs.readdirSync(out).some((f) => f.includes('.partial-'))).toBe(true);
    child.kill('SIGINT');
    child.kill('SIGCONT');
    expect(await exited).toBe(130);
    expect(err).toMatch(/interrupted \(SIGINT\); scratch space and partial outputs released/);
    expect(fs.readdirSync(out)).toEqual([]);
  });
});

describe('8. text from input never reaches the terminal raw', () => {
  it('escapes control characters of manifest fields in inspect', async () => {
    const evil = await makeHeavyStemcell(fresh(), { tamper: (m) => ({ ...m, cloud_properties: { ...m.cloud_properties, infrastructure: 'aws\u001b[2J\u001b[Hstemcell: all good', disk_format: 'raw\u009b31m' } }) });
    const r = stemcell(['inspect', evil]);
    expect(r.code).toBe(0);
    expect(r.out).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    expect(r.out).toMatch(/^Infrastructure\s+aws\\x1b\[2J\\x1b\[Hstemcell: all good$/m);
    expect(r.out).toMatch(/raw\\x9b31m/);
  });

  it('refuses entry names with control characters or that are not UTF-8 (exit 1)', () => {
    for (const name of ['evil\n\u001b[32mPASS', Buffer.from([0x65, 0xff, 0x66])]) {
      const bytes = tgz(archive(entry({ name }, 'x')));
      const r = stemcell(['inspect', file('names.tgz', bytes)]);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/control characters in the name|not UTF-8/);
      expect(r.err).not.toMatch(/\u001b/);
      expectOneLine(r);
    }
  });

  it('inspect and light refuse the same bad version the same way (exit 1)', async () => {
    const evil = await makeHeavyStemcell(fresh(), { tamper: (m) => ({ ...m, version: '../../x' }) });
    const inspect = stemcell(['inspect', evil]);
    const light = stemcell(['light', evil, '--ami', 'us-east-1=ami-0123456789abcdef0', '--out', fresh()]);
    for (const r of [inspect, light]) {
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/stemcell\.MF: invalid stemcell version "\.\.\/\.\.\/x"/);
    }
  });
});

describe('9. numbers are numbers', () => {
  it.each([['abc'], ['-5'], ['0'], ['1e9'], ['3.5']])('boot-test --timeout %s: exit 2', (value) => {
    const r = stemcell(['boot-test', heavy, '--timeout', value]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/option '--timeout <seconds>' argument .* is invalid\. expected a whole number from 1 to 86400/);
  });

  it('publish-light --concurrency is checked the same way', () => {
    const r = stemcell(['publish-light', heavy, '--region', 'eu-west-1', '--concurrency', 'lots']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/argument 'lots' is invalid\. expected a whole number from 1 to 50/);
  });
});

describe('10. publish-light checks everything before AWS', () => {
  /** Without any AWS configuration: reaching AWS would end in exit 3 "no AWS credentials". */
  function offline(args: string[]): Result {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
    return stemcell(['publish-light', heavy, '--region', 'eu-west-1', ...args], { ...env, HOME: fresh(), AWS_EC2_METADATA_DISABLED: 'true' });
  }

  it.each([
    ['an IAM ARN to share with', ['--visibility', 'shared', '--share-with', '111122223333,arn:aws:iam::111122223333:role/x'], /cannot share with "arn:aws:iam::111122223333:role\/x"/, 2],
    ['a prototype key as a KMS region', ['--kms-key', '__proto__=alias/x'], /"__proto__" is not an AWS region name/, 2],
    ['a KMS key that is not one', ['--kms-key', 'eu-west-1=my key'], /"my key" \(for eu-west-1\) is not a KMS key/, 2],
    ['a region named twice for KMS', ['--kms-key', 'eu-west-1=alias/a', '--kms-key', 'eu-west-1=alias/b'], /region eu-west-1 is given twice/, 2],
    ['a malformed region to copy to', ['--regions', 'eu-west-1,mars'], /"mars" is not an AWS region name/, 2],
    ['both include and exclude lists', ['--regions', 'eu-west-1', '--exclude-regions', 'us-east-1'], /give --regions or --exclude-regions, not both/, 2],
    ['a required region that is excluded', ['--require-regions', 'eu-west-3', '--exclude-regions', 'eu-west-3'], /--require-regions eu-west-3: not among the regions copied to/, 2],
    ['a required region outside --regions', ['--require-regions', 'eu-west-3', '--regions', 'eu-west-1,us-east-1'], /--require-regions eu-west-3: not among the regions copied to/, 2],
    ['an output directory that cannot be written', ['--out', '/sys/stemcell-out'], /cannot create the output directory \/sys\/stemcell-out/, 3],
  ])('refuses %s before looking for credentials', (_what, args, message, code) => {
    const r = offline(args as string[]);
    expect(r.err).toMatch(message as RegExp);
    expect(r.err).not.toMatch(/no AWS credentials/);
    expect(r.code).toBe(code);
    expectOneLine(r);
  });

  it('prints no AWS SDK banner on this Node.js', () => {
    const r = offline([]);
    expect(r.code).toBe(3);
    expect(r.err).not.toMatch(/NodeVersionSupportWarning|upgrade to node/i);
    expectOneLine(r);
  });

  it('light: a prototype key as a region is not a region, not a duplicate', () => {
    const r = stemcell(['light', heavy, '--ami', '__proto__=ami-0123456789abcdef0', '--out', fresh()]);
    expect(r.err).toMatch(/"__proto__" is not an AWS region name/);
    expect(r.code).toBe(2);
  });
});

describe('11. build-os-image refuses bad input before anything runs', () => {
  it.each([
    ['a mirror with a newline', ['--mirror', 'http://deb.debian.org/debian\nURIs: http://evil.example/'], /mirror "http:\/\/deb.debian.org\/debian\\nURIs: http:\/\/evil.example\/" holds white space or control characters/, 2],
    ['a snapshot that is not a date', ['--snapshot', '20251399T999999Z'], /snapshot "20251399T999999Z" is not a real date and time/, 2],
    ['a snapshot in the future', ['--snapshot', '20991231T000000Z'], /snapshot 20991231T000000Z is in the future/, 2],
    ['a directory as the customize script', ['--customize', '/etc'], /customization script \/etc is a directory/, 3],
    ['a missing customize script', ['--customize', '/nonexistent/script.sh'], /customization script \/nonexistent\/script.sh does not exist/, 3],
    ['a file as the work directory', ['--work', 'FILE'], /--work .* is not a directory/, 3],
    ['a stage folder that is a file', ['--add-stage', 'FILE'], /stage folder .* is not a directory/, 3],
    ['a file as the package cache', ['--package-cache', 'FILE'], /the package cache .* is not a directory; pass another --package-cache/, 3],
    ['a package cache /proc refuses', ['--package-cache', '/proc/stemcell-cache'], /cannot create the package cache \/proc\/stemcell-cache \(the file system does not allow it there\)/, 3],
    ['an empty output directory', ['--out', ''], /option '--out <dir>' argument '' is invalid\. expected a path, not an empty string/, 2],
    ['an output directory inside the work directory', ['--work', '/var/tmp/stemcell-test-work', '--out', '/var/tmp/stemcell-test-work/out'], /--out \/var\/tmp\/stemcell-test-work\/out is inside the work directory \/var\/tmp\/stemcell-test-work, which is removed after the build/, 2],
  ])('%s', (_what, args, message, code) => {
    const resolved = (args as string[]).map((a) => (a === 'FILE' ? file('plain-file', Buffer.from('x')) : a));
    const r = stemcell(['build-os-image', ...(resolved.includes('--out') ? [] : ['--out', fresh()]), ...resolved]);
    expect(r.err).toMatch(message as RegExp);
    expect(r.code).toBe(code);
    expectOneLine(r);
  });
});

describe('12. help and limits', () => {
  it.each([[['help']], [['--help']], [['help', 'inspect']], [['inspect', '--help']], [['doctor', '--help']]])('stemcell %j exits 0 with the usage', (args) => {
    const r = stemcell(args);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/Usage: stemcell/);
  });

  it('stemcell --version is the CLI\'s; build --version is the stemcell\'s', () => {
    const own = stemcell(['--version']);
    expect(own.out).toMatch(/^\d+\.\d+\.\d+\n$/);
    expect(own.code).toBe(0);
    const build = stemcell(['build', '--version', '1.10', '--os-image', '/nonexistent/os.tgz']);
    expect(build.out).toBe('');
    expect(build.err).toMatch(/OS image \/nonexistent\/os\.tgz does not exist/);
    expect(build.code).toBe(3);
  });

  it('stemcell without a command shows the usage and exits 2', () => {
    const r = stemcell([]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/Usage: stemcell/);
  });

  it('light refuses 30,000 AMI pairs, which would make a manifest inspect refuses', () => {
    // Distinct regions (a-z, 1-99 digit), in --ami options of 2,000 pairs (one argument may hold 128 KiB).
    const regions = Array.from({ length: 30_000 }, (_, i) => `u${String.fromCharCode(97 + (i % 26))}-east${String.fromCharCode(97 + Math.floor(i / 26) % 26)}${String.fromCharCode(97 + Math.floor(i / 676) % 26)}-${(i % 9) + 1}`);
    const args = [];
    for (let i = 0; i < regions.length; i += 2000) args.push('--ami', regions.slice(i, i + 2000).map((r) => `${r}=ami-0123456789abcdef0`).join(','));
    const r = stemcell(['light', heavy, ...args, '--out', fresh()]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/\d+ regions given; no partition has more than 64/);
  });

  it('light refuses 65 distinct regions', () => {
    const pairs = Array.from({ length: 65 }, (_, i) => `us-east-${i + 1}=ami-0123456789abcdef0`).join(',');
    const r = stemcell(['light', heavy, '--ami', pairs, '--out', fresh()]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/65 regions given; no partition has more than 64/);
  });
});

describe('3. links inside the image never reach a file outside the stemcell', () => {
  it.each([
    ['a symlink to a host file', entry({ name: 'root.img', type: '2', linkname: '/etc/hostname' })],
    ['a symlink to the host disk', entry({ name: 'root.img', type: '2', linkname: '/dev/vda' })],
    ['a hard link', entry({ name: 'root.img', type: '1', linkname: 'etc/hostname' })],
    ['a device node', entry({ name: 'root.img', type: '4' })],
  ])('check and boot-test refuse an image whose root.img is %s (exit 1)', async (_what, evil) => {
    const stemcellFile = await makeHeavyStemcell(fresh(), { image: tgz(archive(evil)) });
    for (const command of ['check', 'boot-test', 'inspect']) {
      const r = stemcell([command, stemcellFile]);
      expect(r.err).toMatch(/image: refusing entry "root.img": a (symlink|hardlink|block-device); it holds regular files only/);
      expect(r.code).toBe(1);
      expectOneLine(r);
    }
    // Left behind by a process that has ended (the build suite beside this one may be booting a stemcell right now).
    expect(scratchOfEndedProcesses().dirs).toEqual([]);
  });

  it('refuses a qcow2 disk with a backing file before QEMU opens anything', () => {
    const work = fresh();
    const qcow2 = path.join(work, 'root.img');
    const made = spawnSync('qemu-img', ['create', '-f', 'qcow2', '-o', 'backing_file=/etc/hostname,backing_fmt=raw', qcow2], { encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`qemu-img: ${made.stderr}`);
    const bytes = gzipSync(spawnSync('tar', ['--create', '-C', work, 'root.img']).stdout);
    return makeHeavyStemcell(fresh(), { infrastructure: 'openstack', image: bytes }).then((evil) => {
      const r = stemcell(['boot-test', evil]);
      expect(r.err).toMatch(/root\.img names a backing file; a stemcell's disk must stand alone/);
      expect(r.code).toBe(1);
    });
  });
});

describe('an OVA disk (vSphere, vCloud) is one streamOptimized VMDK, or it is not checked', () => {
  const asRoot = process.getuid?.() === 0 ? it : it.skip;
  /** A vSphere stemcell whose OVA holds an .ovf and the VMDK qemu-img makes with these options. */
  async function ovaWith(options: string): Promise<string> {
    const work = fresh();
    fs.writeFileSync(path.join(work, 'image.ovf'), '<?xml version="1.0"?><Envelope/>\n');
    // A parent disk outside the stemcell, for the descriptor to name.
    const parent = path.join(fresh(), 'parent.vmdk');
    spawnSync('qemu-img', ['create', '-f', 'vmdk', parent, '8M']);
    const made = spawnSync('qemu-img', ['create', '-f', 'vmdk', '-o', options.replace('PARENT', parent), path.join(work, 'image-disk1.vmdk'), '8M'], { encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`qemu-img: ${made.stderr}`);
    const files = fs.readdirSync(work).sort((a, b) => (a.endsWith('.ovf') ? -1 : b.endsWith('.ovf') ? 1 : a.localeCompare(b)));
    const bytes = gzipSync(spawnSync('tar', ['--create', '-C', work, ...files], { maxBuffer: 64 * 1024 * 1024 }).stdout);
    return makeHeavyStemcell(fresh(), { infrastructure: 'vsphere', image: bytes });
  }

  asRoot.each([
    ['names a parent disk', 'subformat=streamOptimized,backing_file=PARENT,backing_fmt=vmdk', /is not one streamOptimized VMDK \(it names a parent or other extents\)/],
    ['is a descriptor of other files', 'subformat=monolithicFlat', /is not a sparse VMDK \(no KDMV header\)/],
  ])('check refuses a VMDK that %s before QEMU opens it (exit 1)', async (_what, options, message) => {
    const r = stemcell(['check', await ovaWith(options)]);
    expect(r.err).toMatch(message);
    expect(r.code).toBe(1);
    expectOneLine(r);
  });

  asRoot('check reads a streamOptimized VMDK (an empty one has no partition table: exit 1)', async () => {
    const r = stemcell(['check', await ovaWith('subformat=streamOptimized')]);
    expect(r.err).toMatch(/does not contain a recognized partition table/);
    expect(r.code).toBe(1);
  });

  it('boot-test still boots only raw and qcow2 disks (exit 2)', async () => {
    const r = stemcell(['boot-test', await ovaWith('subformat=streamOptimized')]);
    expect(r.err).toMatch(/vsphere-ova stemcells hold no disk this command reads; aws-raw, openstack-raw, openstack-qcow2 stemcells do/);
    expect(r.code).toBe(2);
  });
});

describe('1. one install for a whole build', () => {
  const asRoot = process.getuid?.() === 0 ? it : it.skip;
  // With nothing on PATH, every package whose tools live in /usr/bin looks missing.
  const bare = { ...process.env, PATH: '/nonexistent' };
  const agent = path.join(__dirname, '..', 'fixtures', 'agent-stand-in', 'bosh-agent');

  asRoot('stemcell build with no OS image checks (and would install) the OS image build\'s packages too', () => {
    const r = stemcell(['build', '--agent-binary', agent, '--out', fresh()], bare);
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/^stemcell: missing host packages: .*\bgrub-common\b.*\bmmdebstrap\b.*\(or pass --install-host-packages\)$/m);
  });

  asRoot('with an OS image given, only the stemcell build\'s', () => {
    const r = stemcell(['build', '--agent-binary', agent, '--os-image', heavy, '--out', fresh()], bare);
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/missing host packages: .*\bgrub-common\b/);
    expect(r.err).not.toMatch(/mmdebstrap/);
  });

  it('doctor says what each command lacks (exit 3), and nothing is missing on a complete host (exit 0)', () => {
    const lacking = stemcell(['doctor', 'boot-test'], bare);
    expect(lacking.out).toMatch(/^boot-test\s+missing qemu-system-x86 \(qemu-system-x86_64\), qemu-utils \(qemu-img\)$/m);
    expect(lacking.out).toMatch(/^\s+needs qemu-system-x86 qemu-utils ovmf fdisk$/m);
    expect(lacking.err).toMatch(/Install them with: stemcell doctor --install boot-test/);
    expect(lacking.code).toBe(3);
    const complete = stemcell(['doctor']);
    expect(complete.out).toMatch(/^build-os-image\s+ok$/m);
    expect(complete.out).toMatch(/^test\s+ok$/m);
    expect(complete.code).toBe(0);
  });

  it('doctor refuses a command it does not know (exit 2)', () => {
    const r = stemcell(['doctor', 'frobnicate']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/no host packages are listed for frobnicate; commands with host packages: build-os-image, build, boot-test, check, test/);
  });
});

describe('4. output file systems that refuse or fill up (as root: they are mounted for the test)', () => {
  const asRoot = process.getuid?.() === 0 ? it : it.skip;
  /** A tmpfs of `size` mounted for `use`, then unmounted. */
  async function withTmpfs(options: string, use: (dir: string) => Promise<void> | void): Promise<void> {
    const mnt = fresh();
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'stemcell-test', mnt]).status).toBe(0);
    try {
      await use(mnt);
    } finally {
      spawnSync('umount', [mnt]);
    }
  }

  asRoot('a read-only file system: exit 3 before any work', () =>
    withTmpfs('size=1m,ro', (mnt) => {
      const r = stemcell(['light', heavy, '--ami', 'us-east-1=ami-0123456789abcdef0', '--out', mnt]);
      expect(r.err).toMatch(/^stemcell: cannot write to the output directory .* \(read-only file system\); pass another --out$/m);
      expect(r.code).toBe(3);
    }));

  asRoot('a file system that fills up while writing: exit 3, no partial file', async () => {
    const big = await makeHeavyStemcell(fresh(), { packagesTxt: randomBytes(2 * 1024 * 1024) });
    await withTmpfs('size=256k', (mnt) => {
      const r = stemcell(['light', big, '--ami', 'us-east-1=ami-0123456789abcdef0', '--out', mnt]);
      expect(r.err).toMatch(/^stemcell: cannot write .*light-bosh-stemcell-1\.260-aws-xen-hvm-ubuntu-jammy-go_agent\.tgz \(no space left on the device\); nothing was written$/m);
      expect(r.code).toBe(3);
      expectOneLine(r);
      expect(fs.readdirSync(mnt)).toEqual([]);
    });
  });
});
