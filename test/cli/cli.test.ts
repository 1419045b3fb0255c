/**
 * The `stemcell` CLI end to end: real processes, real tarballs, exit codes
 * as scripts see them.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { EMPTY_SHA1, readStemcellTarball } from '../../lib/stemcell';
import { DEV_TOOLS, makeHeavyStemcell, PACKAGES_TXT, tempDir } from '../helpers/stemcells';

const CLI = path.join(__dirname, '..', '..', 'bin', 'stemcell.js');

function stemcell(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

let dir: string;
let heavy: string;
let openstack: string;
const AMI_EAST = 'us-east-1=ami-0123456789abcdef0';
const AMI_WEST = 'eu-west-1=ami-0fedcba9876543210';

beforeAll(async () => {
  dir = tempDir();
  heavy = await makeHeavyStemcell(dir, { version: '1.10' });
  openstack = await makeHeavyStemcell(dir, { infrastructure: 'openstack' });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function freshDir(): string {
  return fs.mkdtempSync(path.join(dir, 'out-'));
}

describe('help', () => {
  it.each([[], ['inspect'], ['light']])('stemcell %s --help exits 0', (...cmd) => {
    const r = stemcell(...cmd, '--help');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/Usage: stemcell/);
  });

  it('an unknown command or option is a usage error', () => {
    expect(stemcell('frobnicate').code).toBe(2);
    expect(stemcell('inspect', heavy, '--yaml').code).toBe(2);
    expect(stemcell('inspect').code).toBe(2);
  });
});

describe('stemcell inspect', () => {
  it('describes a heavy stemcell', () => {
    const r = stemcell('inspect', heavy);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Name\s+bosh-aws-xen-hvm-ubuntu-jammy-go_agent$/m);
    expect(r.out).toMatch(/^Kind\s+heavy$/m);
    expect(r.out).toMatch(/^Version\s+1\.10$/m);
    expect(r.out).toMatch(/^OS\s+ubuntu-jammy$/m);
    expect(r.out).toMatch(/^Infrastructure\s+aws$/m);
    expect(r.out).toMatch(/^Hypervisor\s+xen-hvm$/m);
    expect(r.out).toMatch(/^Formats\s+aws-raw$/m);
    expect(r.out).toMatch(/^Disk\s+5120 MiB raw$/m);
    expect(r.out).toMatch(/^SHA1\s+[0-9a-f]{40} \(matches image\)$/m);
    expect(r.out).toMatch(new RegExp(`^  packages.txt\\s+${PACKAGES_TXT.length} bytes$`, 'm'));
    expect(r.out).toMatch(new RegExp(`^  dev_tools_file_list.txt\\s+${DEV_TOOLS.length} bytes$`, 'm'));
  });

  it('prints JSON for machines', () => {
    const r = stemcell('inspect', '--json', heavy);
    expect(r.code).toBe(0);
    const json = JSON.parse(r.out);
    expect(json).toMatchObject({
      name: 'bosh-aws-xen-hvm-ubuntu-jammy-go_agent',
      version: '1.10',
      kind: 'heavy',
      operatingSystem: 'ubuntu-jammy',
      infrastructure: 'aws',
      hypervisor: 'xen-hvm',
      stemcellFormats: ['aws-raw'],
      builtByStemcellFarm: true,
      sha1: { matches: true },
    });
    expect(json.files.map((f: { name: string }) => f.name)).toEqual(['stemcell.MF', 'dev_tools_file_list.txt', 'image', 'packages.txt']);
  });

  it('exits 1 and says MISMATCH when the image does not match the sha1', async () => {
    const tampered = await makeHeavyStemcell(freshDir(), { tamper: (m) => ({ ...m, sha1: '0'.repeat(40) }) });
    const r = stemcell('inspect', tampered);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^SHA1\s+MISMATCH: manifest says 0{40}, image is [0-9a-f]{40}$/m);
    expect(r.err).toMatch(/image does not match the manifest's sha1/);
  });

  it('exits 1 with a clear message on a malicious tarball', () => {
    const evil = path.join(freshDir(), 'evil.tgz');
    fs.writeFileSync(evil, gzipSync(Buffer.alloc(1024)));
    const r = stemcell('inspect', evil);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^stemcell: \S+evil.tgz: not a stemcell: stemcell.MF and image missing/);
  });

  it('exits 3 on a missing file', () => {
    const r = stemcell('inspect', path.join(dir, 'nope.tgz'));
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/^stemcell: stemcell \S+nope.tgz does not exist; give the path of a stemcell .tgz$/m);
  });
});

describe('stemcell light', () => {
  it('writes the light stemcell and prints its path', async () => {
    const out = freshDir();
    const r = stemcell('light', heavy, '--ami', AMI_WEST, '--ami', AMI_EAST, '--out', out);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const file = path.join(out, 'light-bosh-stemcell-1.10-aws-xen-hvm-ubuntu-jammy-go_agent.tgz');
    expect(r.out).toBe(`${file}\n`);
    const light = await readStemcellTarball(file);
    expect(light.manifest).toEqual({
      name: 'bosh-aws-xen-hvm-ubuntu-jammy-go_agent',
      version: '1.10',
      bosh_protocol: 1,
      api_version: 3,
      sha1: EMPTY_SHA1,
      operating_system: 'ubuntu-jammy',
      stemcell_formats: ['aws-light'],
      cloud_properties: { infrastructure: 'aws', ami: { 'eu-west-1': 'ami-0fedcba9876543210', 'us-east-1': 'ami-0123456789abcdef0' } },
    });
    expect(light.imageSize).toBe(0);
    expect(light.sha1Matches).toBe(true);
    expect(light.sideFiles.get('packages.txt')?.toString()).toBe(PACKAGES_TXT);
    expect(light.sideFiles.get('dev_tools_file_list.txt')?.toString()).toBe(DEV_TOOLS);

    const inspected = stemcell('inspect', file);
    expect(inspected.code).toBe(0);
    expect(inspected.out).toMatch(/^Kind\s+light$/m);
    expect(inspected.out).toMatch(/^  eu-west-1  ami-0fedcba9876543210$/m);
    expect(inspected.out).toMatch(/^  us-east-1  ami-0123456789abcdef0$/m);
  });

  it('takes comma-separated pairs and gives the same bytes every time', () => {
    const a = freshDir();
    const b = freshDir();
    expect(stemcell('light', heavy, '--ami', `${AMI_EAST},${AMI_WEST}`, '--out', a).code).toBe(0);
    expect(stemcell('light', heavy, '--ami', AMI_WEST, '--ami', AMI_EAST, '--out', b).code).toBe(0);
    const name = 'light-bosh-stemcell-1.10-aws-xen-hvm-ubuntu-jammy-go_agent.tgz';
    expect(fs.readFileSync(path.join(a, name)).equals(fs.readFileSync(path.join(b, name)))).toBe(true);
  });

  it('never replaces an existing light stemcell', () => {
    const out = freshDir();
    expect(stemcell('light', heavy, '--ami', AMI_EAST, '--out', out).code).toBe(0);
    const r = stemcell('light', heavy, '--ami', AMI_WEST, '--out', out);
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/already exists; remove it or write elsewhere/);
  });

  const usageErrors: [string, () => string[], RegExp][] = [
    ['no AMIs', () => [heavy], /no AMIs given: pass --ami REGION=AMI/],
    ['a pair without =', () => [heavy, '--ami', 'us-east-1'], /"us-east-1" is not REGION=AMI/],
    ['a malformed region', () => [heavy, '--ami', 'useast1=ami-0123456789abcdef0'], /"useast1" is not an AWS region name/],
    ['a malformed AMI id', () => [heavy, '--ami', 'us-east-1=ami-12345'], /"ami-12345" \(for us-east-1\) is not an AMI id/],
    ['a region given twice', () => [heavy, '--ami', AMI_EAST, '--ami', 'us-east-1=ami-0fedcba9876543210'], /region us-east-1 is given twice/],
    ['a non-AWS stemcell', () => [openstack, '--ami', AMI_EAST], /is a stemcell for openstack; light stemcells are made from heavy AWS stemcells/],
  ];
  it.each(usageErrors)('exits 2 on %s and writes nothing', (_what, args, message) => {
    const out = freshDir();
    const r = stemcell('light', ...args(), '--out', out);
    expect(r.err).toMatch(message);
    expect(r.code).toBe(2);
    expect(fs.readdirSync(out)).toEqual([]);
  });

  it('exits 2 on an already light stemcell', () => {
    const out = freshDir();
    const first = stemcell('light', heavy, '--ami', AMI_EAST, '--out', out).out.trim();
    const r = stemcell('light', first, '--ami', AMI_EAST, '--out', freshDir());
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/already a light stemcell/);
  });

  it('exits 1 on a heavy stemcell whose image does not match its sha1', async () => {
    const tampered = await makeHeavyStemcell(freshDir(), { tamper: (m) => ({ ...m, sha1: 'f'.repeat(40) }) });
    const out = freshDir();
    const r = stemcell('light', tampered, '--ami', AMI_EAST, '--out', out);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/image does not match the manifest's sha1 .* the heavy stemcell is corrupt/);
    expect(fs.readdirSync(out)).toEqual([]);
  });

  it('creates a missing output directory', () => {
    const out = path.join(freshDir(), 'new', 'dir');
    const r = stemcell('light', heavy, '--ami', AMI_EAST, '--out', out);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`${path.join(out, 'light-bosh-stemcell-1.10-aws-xen-hvm-ubuntu-jammy-go_agent.tgz')}\n`);
  });
});

describe('stemcell publish-light', () => {
  /** The CLI with no AWS configuration at all: no keys, no profile, no instance metadata. */
  function withoutAws(...args: string[]): { code: number; out: string; err: string } {
    const home = freshDir();
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...env, HOME: home, AWS_EC2_METADATA_DISABLED: 'true' } });
    return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
  }

  it('has --help', () => {
    const r = stemcell('publish-light', '--help');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/--visibility <who>[\s\S]*"private",\s+"shared", "public"/);
  });

  it.each([
    [['--visibility', 'friends', '--region', 'eu-west-1'], /argument 'friends' is invalid/],
    [[], /required option '--region <region>' not specified/],
    [['--region', 'eu-west-1', '--visibility', 'shared'], /visibility 'shared' needs 'shareWith'/],
    [['--region', 'eu-west-1', '--kms-key', 'alias/x'], /"alias\/x" is not REGION=KEY/],
  ])('refuses %j with exit 2, before any AWS call', (args, message) => {
    const r = withoutAws('publish-light', heavy, ...args);
    expect(r.err).toMatch(message);
    expect(r.code).toBe(2);
  });

  it('refuses a non-AWS stemcell with exit 2', () => {
    const r = withoutAws('publish-light', openstack, '--region', 'eu-west-1');
    expect(r.err).toMatch(/light stemcells are made from heavy AWS stemcells/);
    expect(r.code).toBe(2);
  });

  it('says how to give credentials when there are none (exit 3)', () => {
    const r = withoutAws('publish-light', heavy, '--region', 'eu-west-1');
    expect(r.err).toMatch(/no AWS credentials: .*Set AWS_PROFILE \(SSO or role_arn work\) or AWS_ACCESS_KEY_ID\/AWS_SECRET_ACCESS_KEY\/AWS_SESSION_TOKEN/);
    expect(r.code).toBe(3);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('light-'))).toEqual([]);
  });
});
