import { CompleteSnapshotCommand, EBSClient, PutSnapshotBlockCommand, StartSnapshotCommand } from '@aws-sdk/client-ebs';
import { FakeEbs } from '../helpers/fake-ebs';
import { CopyImageCommand, EC2Client } from '@aws-sdk/client-ec2';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { callerClients } from '../../lib/publish/aws-clients';
import { AwsClients, publishLight, PublishLightOptions } from '../../lib/publish/publish-light';
import { BLOCK_SIZE } from '../../lib/publish/snapshot-upload';
import { readStemcellTarball } from '../../lib/stemcell/tarball';
import { summarizeStemcell } from '../../lib/stemcell/summary';
import { FakeClock, FakeEc2 } from '../helpers/fake-ec2';
import { makeHeavyStemcell, tempDir } from '../helpers/stemcells';
import { archive, entry, tgz } from '../helpers/tar';

const MIB = 1024 * 1024;
const REGIONS = ['eu-west-1', 'eu-central-1', 'us-east-1'];

let dir: string;
let heavy: string;
let rootImg: Buffer;
let clock: FakeClock;
let ec2: FakeEc2;
let ebs: FakeEbs;
/** Blocks the fake EBS received: snapshot -> index -> bytes. */
let received: Map<string, Map<number, Buffer>>;
const session = { accessKeyId: 'ASIAIOSFODNN7EXAMPLE', secretAccessKey: 'secret', sessionToken: 'FwoGZXIvYXdzEXAMPLEsessiontoken' };
let clients: AwsClients;

beforeAll(async () => {
  dir = tempDir();
  // 3 MiB + 100 KiB: blocks 0 and 4 hold data, the rest are zeros; the last block is short.
  rootImg = Buffer.alloc(3 * MIB + 100 * 1024);
  rootImg.write('GPT and a boot loader', 0);
  rootImg.write('ext4 superblock', 4 * BLOCK_SIZE + 1024);
  heavy = await makeHeavyStemcell(dir, { rootImg, os: 'debian-bookworm', version: '1.5' });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

beforeEach(() => {
  clock = new FakeClock();
  ec2 = new FakeEc2(clock);
  ebs = new FakeEbs(ec2);
  received = ebs.received;
  clients = callerClients(async () => session);
});
afterEach(() => {
  ec2.mock.restore();
  ebs.mock.restore();
  for (const f of fs.readdirSync(dir)) if (f.startsWith('light-')) fs.rmSync(path.join(dir, f));
});

const options = (extra: Partial<PublishLightOptions> = {}): PublishLightOptions => ({ heavyPath: heavy, region: 'eu-west-1', copy: { includeRegions: REGIONS }, ...extra });
const publish = (extra: Partial<PublishLightOptions> = {}, lines: string[] = []) => publishLight(clients, options(extra), { clock, pollMs: 15_000 }, (l) => lines.push(l));

describe('stemcell publish-light', () => {
  it('uploads only the blocks that hold data, registers, copies, and writes a light stemcell that inspects clean', async () => {
    const lines: string[] = [];
    const result = await publish({}, lines);

    const start = ebs.mock.commandCalls(StartSnapshotCommand)[0].args[0].input;
    expect(start).toMatchObject({ VolumeSize: 1, ClientToken: expect.stringMatching(/^[0-9a-f]{64}$/), Description: expect.stringMatching(/^bosh-aws-xen-hvm-debian-bookworm-go_agent 1.5 build sha1-[0-9a-f]{16} root disk$/) });
    expect(start.Tags).toEqual(expect.arrayContaining([{ Key: 'managed-by', Value: 'stemcell-farm' }, { Key: 'published', Value: 'false' }]));
    const blocks = received.get(result.snapshotId)!;
    expect([...blocks.keys()].sort()).toEqual([0, 4]);
    expect(blocks.get(0)!.equals(rootImg.subarray(0, BLOCK_SIZE))).toBe(true);
    expect(blocks.get(4)!.equals(rootImg.subarray(4 * BLOCK_SIZE, 5 * BLOCK_SIZE))).toBe(true);
    expect(ebs.mock.commandCalls(CompleteSnapshotCommand)[0].args[0].input).toEqual({ SnapshotId: result.snapshotId, ChangedBlocksCount: 2 });

    expect(Object.keys(result.amis).sort()).toEqual([...REGIONS].sort());
    expect(result.lightPath).toBe(path.join(dir, 'light-bosh-stemcell-1.5-aws-xen-hvm-debian-bookworm-go_agent.tgz'));
    const light = summarizeStemcell(await readStemcellTarball(result.lightPath));
    expect(light).toMatchObject({ kind: 'light', version: '1.5', amis: result.amis, sha1: { matches: true } });
    for (const [r, ami] of Object.entries(result.amis)) expect(ec2.tagsOf(r, ami).published).toBe('true');
    expect(lines.join('\n')).toMatch(/snapshot snap-[0-9a-f]+: 2 blocks of 512 KiB sent, 1 GiB volume[\s\S]*copies: 3\/3 available, 0 pending, 0 failed[\s\S]*wrote /);
  });

  it('uploads a disk that GNU tar packed sparse (as builds pack it) byte for byte', async () => {
    // A real stemcell's root.img is a GNU sparse file inside its image: the
    // upload must place each stored run at its offset, not send the runs back to back.
    const sparseDir = fs.mkdtempSync(path.join(dir, 'sparse-'));
    const sparseHeavy = await makeHeavyStemcell(sparseDir, { rootImg, os: 'debian-bookworm', version: '1.6', sparse: true });
    const result = await publish({ heavyPath: sparseHeavy });
    const blocks = received.get(result.snapshotId)!;
    expect([...blocks.keys()].sort()).toEqual([0, 4]);
    expect(blocks.get(0)!.equals(rootImg.subarray(0, BLOCK_SIZE))).toBe(true);
    expect(blocks.get(4)!.equals(rootImg.subarray(4 * BLOCK_SIZE, 5 * BLOCK_SIZE))).toBe(true);
    expect(ebs.mock.commandCalls(StartSnapshotCommand)[0].args[0].input.VolumeSize).toBe(1);
    fs.rmSync(sparseDir, { recursive: true });
  });

  it('refuses a stemcell whose image hides a link instead of a disk, before any AWS call', async () => {
    const evilDir = fs.mkdtempSync(path.join(dir, 'evil-'));
    const evil = await makeHeavyStemcell(evilDir, { os: 'debian-bookworm', image: tgz(archive(entry({ name: 'root.img', type: '2', linkname: '/dev/vda' }))) });
    await expect(publish({ heavyPath: evil })).rejects.toThrow(/image: refusing entry "root.img": a symlink/);
    expect(ebs.mock.calls()).toHaveLength(0);
    expect(ec2.mock.calls()).toHaveLength(0);
    fs.rmSync(evilDir, { recursive: true });
  });

  it('refuses a stemcell swapped between its check and its upload, completes no snapshot and deletes it', async () => {
    const swapDir = fs.mkdtempSync(path.join(dir, 'swap-'));
    const checked = await makeHeavyStemcell(swapDir, { rootImg, os: 'debian-bookworm', version: '1.7' });
    const other = Buffer.from(rootImg);
    other.write('another disk', 0);
    const swapped = await makeHeavyStemcell(fs.mkdtempSync(path.join(dir, 'other-')), { rootImg: other, os: 'debian-bookworm', version: '1.7' });
    // The moment publish-light starts the upload, after its first pass checked the file:
    const swap = (line: string): void => {
      if (!line.startsWith('uploading')) return;
      fs.copyFileSync(swapped, `${checked}.new`);
      fs.renameSync(`${checked}.new`, checked);
    };
    await expect(publishLight(clients, options({ heavyPath: checked }), { clock, pollMs: 15_000 }, swap)).rejects.toThrow(/changed while it was being published.*snapshot snap-[0-9a-f]+ in eu-west-1 was deleted/);
    expect(ebs.mock.commandCalls(CompleteSnapshotCommand)).toHaveLength(0);
    expect(ec2.calls('DeleteSnapshot')).toHaveLength(1);
    expect(ec2.calls('RegisterImage')).toHaveLength(0);
    fs.rmSync(swapDir, { recursive: true });
  });

  it('carries the session token to every region, copies included', async () => {
    await publish();
    const copies = ec2.mock.commandCalls(CopyImageCommand);
    expect(copies).toHaveLength(2);
    for (const call of copies) {
      const client = call.thisValue as EC2Client;
      expect(await client.config.credentials()).toMatchObject({ sessionToken: session.sessionToken });
    }
    const ebsClient = ebs.mock.commandCalls(StartSnapshotCommand)[0].thisValue as EBSClient;
    expect(await ebsClient.config.credentials()).toMatchObject({ sessionToken: session.sessionToken });
  });

  it('carries on after an interruption: the same snapshot and AMI, no second upload or copy', async () => {
    ec2.copyDuration = () => 30 * 60_000;
    // A first run stopped (as by Ctrl-C) after its first round of copies.
    const stop = (line: string): void => {
      if (line.startsWith('copies:')) throw new Error('interrupted');
    };
    await expect(publishLight(clients, options(), { clock, pollMs: 15_000, roundMs: 60_000 }, stop)).rejects.toThrow('interrupted');
    expect(ec2.mock.commandCalls(CopyImageCommand)).toHaveLength(2);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('light-'))).toEqual([]);

    const lines: string[] = [];
    const again = await publish({}, lines);
    expect(lines[0]).toMatch(/^snapshot snap-[0-9a-f]+ from an earlier run/);
    expect(lines[1]).toMatch(/^AMI ami-[0-9a-f]+ in eu-west-1: available/);
    expect(ebs.mock.commandCalls(StartSnapshotCommand)).toHaveLength(1);
    expect(ec2.calls('RegisterImage')).toHaveLength(1);
    expect(ec2.mock.commandCalls(CopyImageCommand)).toHaveLength(2);
    expect(Object.keys(again.amis)).toHaveLength(3);
  });

  it('writes no light stemcell when a region fails, unless a partial map is allowed', async () => {
    ec2.failingCopies.add('us-east-1');
    await expect(publish()).rejects.toThrow(/the copy failed in us-east-1 \(us-east-1: copy ami-[0-9a-f]+ is failed: .*\); no light stemcell written.*--retry-failed.*--allow-partial/);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('light-'))).toEqual([]);
    const partial = await publish({ allowPartial: true });
    expect(Object.keys(partial.amis).sort()).toEqual(['eu-central-1', 'eu-west-1']);
    expect(partial.failed['us-east-1']).toMatch(/is failed/);
  });

  it('deletes the snapshot when the upload fails part-way', async () => {
    ebs.mock.on(PutSnapshotBlockCommand).callsFake(() => {
      throw Object.assign(new Error('Access denied to the snapshot'), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 403 } });
    });
    await expect(publish()).rejects.toThrow(/Access denied to the snapshot \(the unfinished snapshot snap-[0-9a-f]+ in eu-west-1 was deleted\)/);
    expect(ec2.calls('DeleteSnapshot')).toEqual(['eu-west-1']);
    expect(ec2.region('eu-west-1').snapshots.size).toBe(0);
    expect(ec2.calls('RegisterImage')).toEqual([]);
  });

  it('checks everything it can before calling AWS', async () => {
    await expect(publish({ copy: { visibility: 'friends' } })).rejects.toThrow(/'visibility' is 'friends'/);
    await expect(publish({ region: 'eu-west' })).rejects.toThrow(/"eu-west" is not an AWS region name/);
    await expect(publish({ buildId: 'my build' })).rejects.toThrow(/invalid build id 'my build'/);
    const openstack = await makeHeavyStemcell(dir, { infrastructure: 'openstack' });
    await expect(publish({ heavyPath: openstack })).rejects.toThrow(/is a stemcell for openstack; light stemcells are made from heavy AWS stemcells/);
    fs.writeFileSync(path.join(dir, 'light-bosh-stemcell-1.5-aws-xen-hvm-debian-bookworm-go_agent.tgz'), 'x');
    await expect(publish()).rejects.toThrow(/already exists/);
    expect(ec2.log).toEqual([]);
    expect(ebs.mock.calls()).toHaveLength(0);
  });
});
