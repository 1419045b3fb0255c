/**
 * `stemcell farm-build` end to end, as root: Prepare writes a real request
 * into a real S3-protocol server on localhost (test/helpers/s3-server.ts, the
 * farm's two buckets), and the builder command builds a debian-bookworm OS
 * image and AWS and OpenStack stemcells from it, checks them, uploads them
 * with conditional writes and streams the AWS root.img into an EBS snapshot
 * (the EBS direct APIs simulated). Then: the same request again overwrites
 * nothing; a run that died before result.json is finished from what it
 * stored; a failure midway leaves no snapshot, no result and no scratch.
 *
 * The agent is the test stand-in (test/fixtures/agent-stand-in). Packages go
 * to this suite's own cache, so it can run beside the local build suite.
 */
import { EBSClient } from '@aws-sdk/client-ebs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { DeleteObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { systemClock } from '../../lib/aws/runtime';
import { readObjectText } from '../../lib/aws/s3';
import { farmBuild, FarmBuildClients } from '../../lib/farm/build';
import { prepareBuild, timestampVersions } from '../../lib/farm/prepare';
import { resultKey } from '../../lib/farm/keys';
import { parseBuildResult } from '../../lib/farm/result';
import { mountsBelow } from '../../lib/scratch';
import { FakeClock, FakeEc2 } from '../helpers/fake-ec2';
import { FakeEbs } from '../helpers/fake-ebs';
import { requireRootForSuite } from '../helpers/root';
import { S3_CREDENTIALS, S3Server, startS3Server } from '../helpers/s3-server';

const CLI = path.join(__dirname, '..', '..', 'bin', 'stemcell.js');
const AGENT = path.join(__dirname, '..', 'fixtures', 'agent-stand-in', 'bosh-agent');
// Not below /var/tmp: the local build suite, running beside this one, asserts that nothing is mounted there once its commands end.
const ROOT = fs.mkdtempSync('/var/cache/stemcell-farm-e2e-');
const REGION = 'eu-west-1';
const BUCKETS = { stemcellBucket: 'farm-stemcells', osImageBucket: 'farm-os-images' };
const BUILDER_AMI = 'ami-0123456789abcdef0';

jest.setTimeout(20 * 60 * 1000);

let server: S3Server;
let s3: S3Client;
let ec2: FakeEc2;
let ebs: FakeEbs;
const ssm = mockClient(SSMClient);
const credentials = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'secret' };
const lines: string[] = [];

beforeAll(async () => {
  requireRootForSuite();
  server = await startS3Server(Object.values(BUCKETS));
  s3 = server.client();
  ec2 = new FakeEc2(new FakeClock());
  ebs = new FakeEbs(ec2);
  ssm.on(GetParameterCommand).resolves({ Parameter: { Value: BUILDER_AMI } });
});
afterAll(async () => {
  await server?.close();
  ec2?.mock.restore();
  ebs?.mock.restore();
  ssm.restore();
  if (mountsBelow(ROOT).length === 0) fs.rmSync(ROOT, { recursive: true, force: true });
});

const clients = (): FarmBuildClients => ({ s3, ebs: new EBSClient({ region: REGION, credentials }), ec2: new EC2Client({ region: REGION, credentials }) });

/** Prepare, as the runbook's first step runs it: the request lands in the stemcell bucket. */
async function prepare(executionId: string, parameters: Record<string, unknown>): Promise<string> {
  const state = await prepareBuild({ s3, ssm: new SSMClient({ region: REGION, credentials }), ec2: new EC2Client({ region: REGION, credentials }) }, { region: REGION, ...BUCKETS, builderImageParameter: '/farm/builder-ami', subnetIds: ['subnet-0123456789abcdef0'] }, { executionId, parameters }, timestampVersions, systemClock);
  return state.requestUri;
}

const build = (requestUri: string) =>
  farmBuild(clients(), { requestUri, region: REGION, agentBinary: AGENT, packageCacheRoot: path.join(ROOT, 'cache'), scratchRoot: ROOT, say: (l) => lines.push(l), clock: systemClock });

async function keys(bucket: string): Promise<string[]> {
  return ((await s3.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).map((o) => o.Key!).sort();
}

/** Every object file s3rver keeps, with its modification time: what "nothing overwritten" compares. */
function objectFiles(): Record<string, number> {
  const found: Record<string, number> = {};
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else found[path.relative(server.directory, p)] = fs.statSync(p).mtimeMs;
    }
  };
  walk(server.directory);
  return found;
}

/** The CLI against the S3 server, which runs in this process: so not spawnSync, which would stop it from answering. */
function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env, AWS_REGION: REGION, AWS_ENDPOINT_URL_S3: server.endpoint, AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey };
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

const scratchLeft = (): string[] => fs.readdirSync(ROOT).filter((n) => n.startsWith('stemcell-farm-build-'));

const A = 'e2e00000-0000-4000-8000-00000000000a';
const B = 'e2e00000-0000-4000-8000-00000000000b';
let requestA: string;

describe('stemcell farm-build', () => {
  it('builds the OS image and aws + openstack stemcells from it, checks, uploads and snapshots them, and writes result.json', async () => {
    requestA = await prepare(A, { OperatingSystem: 'debian-bookworm', Infrastructures: ['aws', 'openstack'], Version: '9.1' });
    const result = await build(requestA);

    expect(result.osImage).toMatchObject({ key: `debian-bookworm/${A}/bosh-debian-bookworm-os-image.tgz`, built: true });
    expect(result.osImage.stages.map((s) => s.stage)).toContain('bootstrap');
    expect(await keys(BUCKETS.osImageBucket)).toEqual([`debian-bookworm/${A}/bosh-debian-bookworm-os-image.build.json`, `debian-bookworm/${A}/bosh-debian-bookworm-os-image.tgz`]);
    expect(await keys(BUCKETS.stemcellBucket)).toEqual([
      `builds/${A}/request.json`,
      `builds/${A}/result.json`,
      'debian-bookworm/9.1/bosh-stemcell-9.1-aws-xen-hvm-debian-bookworm-go_agent.tgz',
      'debian-bookworm/9.1/bosh-stemcell-9.1-openstack-kvm-debian-bookworm-go_agent.tgz',
    ]);
    const stored = parseBuildResult((await readObjectText(s3, BUCKETS.stemcellBucket, resultKey(A), 1 << 20, systemClock))!);
    expect(stored).toEqual(result);
    for (const s of result.stemcells) {
      expect(s.reused).toBe(false);
      expect(s.checks.failed).toBe(0);
      expect(s.checks.passed).toBeGreaterThan(100);
      expect(s.stages.map((t) => t.stage)).toContain('image_create');
      expect(s.sha1).toMatch(/^[0-9a-f]{40}$/);
    }
    const aws = result.stemcells.find((s) => s.infrastructure === 'aws')!;
    expect(result.stemcells.find((s) => s.infrastructure === 'openstack')!.snapshotId).toBeUndefined();
    const snapshot = ec2.region(REGION).snapshots.get(aws.snapshotId!)!;
    expect(snapshot.State).toBe('completed');
    expect(ec2.tagsOf(REGION, aws.snapshotId!)).toMatchObject({ 'managed-by': 'stemcell-farm', 'build-id': A, 'stemcell-version': '9.1', 'stemcell-name': 'bosh-aws-xen-hvm-debian-bookworm-go_agent' });
    expect(ebs.received.get(aws.snapshotId!)!.size).toBeGreaterThan(10);
    expect(scratchLeft()).toEqual([]);
  });

  it('run again, overwrites nothing; after a run that died before result.json, finishes from what is stored', async () => {
    const before = objectFiles();
    const again = await build(requestA);
    expect(objectFiles()).toEqual(before);
    expect(again.stemcells.every((s) => !s.reused)).toBe(true);

    await s3.send(new DeleteObjectCommand({ Bucket: BUCKETS.stemcellBucket, Key: resultKey(A) }));
    const snapshots = ec2.region(REGION).snapshots.size;
    const resumed = await build(requestA);
    expect(resumed.stemcells.map((s) => s.reused)).toEqual([true, true]);
    expect(resumed.stemcells.map((s) => s.snapshotId)).toEqual(again.stemcells.map((s) => s.snapshotId));
    expect(resumed.stemcells.map((s) => s.sha1)).toEqual(again.stemcells.map((s) => s.sha1));
    expect(ec2.region(REGION).snapshots.size).toBe(snapshots);
    const after = objectFiles();
    for (const [file, mtime] of Object.entries(before)) if (!file.includes('result.json')) expect(after[file]).toBe(mtime);
  });

  it('a failure midway leaves no snapshot, no result and no scratch; the same request then finishes', async () => {
    const requestB = await prepare(B, { OperatingSystem: 'debian-bookworm', Infrastructures: ['aws'], Version: '9.2', OsImage: 'latest' });
    const snapshots = ec2.region(REGION).snapshots.size;
    ebs.failNextBlock = Object.assign(new Error('Access denied to the snapshot'), { name: 'AccessDeniedException', $fault: 'client', $metadata: { httpStatusCode: 403 } });
    await expect(build(requestB)).rejects.toThrow(/Access denied to the snapshot.*unfinished snapshot snap-\w+ in eu-west-1 was deleted/);
    expect(ec2.region(REGION).snapshots.size).toBe(snapshots);
    expect(await keys(BUCKETS.stemcellBucket)).not.toContain(resultKey(B));
    expect(scratchLeft()).toEqual([]);
    expect(mountsBelow(ROOT)).toEqual([]);

    const result = await build(requestB);
    expect(result.osImage).toMatchObject({ key: `debian-bookworm/${A}/bosh-debian-bookworm-os-image.tgz`, built: false });
    expect(result.stemcells[0]).toMatchObject({ reused: true, snapshotId: expect.stringMatching(/^snap-/) });
  });

  it('the CLI: a finished build prints its stemcell keys; a missing request is a usage error', async () => {
    const done = await cli(['farm-build', '--request', requestA]);
    expect(done.stderr).toMatch(/is done already/);
    expect(done.code).toBe(0);
    expect(done.stdout.trim().split('\n')).toEqual(['debian-bookworm/9.1/bosh-stemcell-9.1-aws-xen-hvm-debian-bookworm-go_agent.tgz', 'debian-bookworm/9.1/bosh-stemcell-9.1-openstack-kvm-debian-bookworm-go_agent.tgz']);
    const missing = await cli(['farm-build', '--request', `s3://${BUCKETS.stemcellBucket}/builds/nope/request.json`]);
    expect(missing.stderr).toMatch(/does not exist; the runbook's Prepare step writes it/);
    expect(missing.code).toBe(2);
  });
});
