import { GetParameterCommand, SSMClient, SSMServiceException } from '@aws-sdk/client-ssm';
import { S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { parsePrepareEvent, prepareBuild, PrepareConfig, timestampVersions, VersionSource } from '../../lib/farm/prepare';
import { requestKey } from '../../lib/farm/keys';
import { MAX_REQUEST_BYTES, parseBuildRequest } from '../../lib/farm/request';
import { parseBuildResult, RESULT_SCHEMA } from '../../lib/farm/result';
import { afterCopy, lightInput, readBuildResult } from '../../lib/farm/steps';
import { FarmState, MARKERS } from '../../lib/farm/state';
import { FakeClock, FakeEc2, testClients } from '../helpers/fake-ec2';
import { FakeS3 } from '../helpers/fake-s3';

const CONFIG: PrepareConfig = { region: 'eu-west-1', stemcellBucket: 'farm-stemcells', osImageBucket: 'farm-os-images', builderImageParameter: '/farm/builder', subnetIds: ['subnet-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbbb'] };
const EXECUTION = '4105a4fc-f944-11e6-9d32-0123456789ab';
const ssmMock = mockClient(SSMClient);
let clock: FakeClock;
let s3: FakeS3;
let ec2: FakeEc2;
const clients = () => ({ s3: new S3Client({ region: 'eu-west-1' }), ssm: new SSMClient({ region: 'eu-west-1' }), ec2: testClients('eu-west-1') });
const prepare = (parameters: Record<string, unknown> = {}, versions: VersionSource = timestampVersions, executionId = EXECUTION) =>
  prepareBuild(clients(), CONFIG, { executionId, parameters }, versions, clock);

beforeEach(() => {
  clock = new FakeClock();
  s3 = new FakeS3(clock, [CONFIG.stemcellBucket, CONFIG.osImageBucket]);
  ec2 = new FakeEc2(clock);
  ssmMock.reset();
  ssmMock.on(GetParameterCommand, { Name: '/farm/builder' }).resolves({ Parameter: { Value: 'ami-0123456789abcdef0' } });
});
afterEach(() => {
  s3.mock.restore();
  ec2.mock.restore();
});

describe('Prepare', () => {
  it('writes the request as a new object and hands the runbook its decisions', async () => {
    const state = await prepare({ OperatingSystem: 'debian-bookworm', Infrastructures: ['aws', 'vsphere'], Version: '3.1', ExtraPackages: ['jq'], Regions: ['eu-central-1'] });
    expect(state).toMatchObject({
      buildId: EXECUTION,
      version: '3.1',
      requestUri: `s3://farm-stemcells/builds/${EXECUTION}/request.json`,
      builderAmi: 'ami-0123456789abcdef0',
      instanceType: 'm6i.xlarge',
      volumeSizeGiB: 40,
      publish: true,
      stemcellKeys: ['debian-bookworm/3.1/bosh-stemcell-3.1-aws-xen-hvm-debian-bookworm-go_agent.tgz', 'debian-bookworm/3.1/bosh-stemcell-3.1-vsphere-esxi-debian-bookworm-go_agent.tgz'],
      aws: { stemcell: { name: 'bosh-aws-xen-hvm-debian-bookworm-go_agent', version: '3.1', operatingSystem: 'debian-bookworm' }, imdsSupport: 'v2.0', copy: { visibility: 'private', encrypted: false, includeRegions: ['eu-central-1'] } },
    });
    expect(CONFIG.subnetIds).toContain(state.subnetId);
    const request = parseBuildRequest(s3.get('farm-stemcells', requestKey(EXECUTION))!.body.toString());
    expect(request).toMatchObject({ operatingSystem: 'debian-bookworm', version: '3.1', extraPackages: ['jq'], osImage: { build: true, key: `debian-bookworm/${EXECUTION}/bosh-debian-bookworm-os-image.tgz` } });
    // Every value the runbook reads stays under Automation's 512 characters.
    for (const [key, value] of Object.entries(state)) if (typeof value === 'string') expect([key, value.length <= 512]).toEqual([key, true]);
    expect(JSON.stringify(state)).toContain(MARKERS.publish);
  });

  it('EFI stemcells are registered uefi-preferred, as their manifest says', async () => {
    const state = await prepare({ OperatingSystem: 'ubuntu-noble', Version: '1.1' });
    expect(state.aws!.stemcell.bootMode).toBe('uefi-preferred');
  });

  it('answers a retried Prepare of the same execution with the first decisions, even later and with another builder image', async () => {
    const first = await prepare({ Infrastructures: ['aws'] });
    clock.time += 3600_000;
    ssmMock.on(GetParameterCommand).resolves({ Parameter: { Value: 'ami-0fffffffffffffff0' } });
    const again = await prepare({ Infrastructures: ['aws'] });
    expect(again).toEqual(first);
    expect(first.version).toBe('0.20261122050000');
  });

  it('asks the version source once per execution, naming the line', async () => {
    const asked: string[] = [];
    const versions: VersionSource = { versionFor: async (line, executionId, requested) => (asked.push(`${line} ${executionId} ${requested}`), '7.5') };
    await prepare({ OperatingSystem: 'ubuntu-noble' }, versions);
    await prepare({ OperatingSystem: 'ubuntu-noble' }, versions);
    expect(asked).toEqual([`ubuntu-noble ${EXECUTION} undefined`]);
  });

  it("uses the newest OS image of the OS for 'latest', and checks that a given key exists", async () => {
    s3.put('farm-os-images', 'ubuntu-jammy/b1/bosh-ubuntu-jammy-os-image.tgz', 'old');
    clock.time += 1000;
    s3.put('farm-os-images', 'ubuntu-jammy/a2/bosh-ubuntu-jammy-os-image.tgz', 'new');
    s3.put('farm-os-images', 'ubuntu-noble/z9/bosh-ubuntu-noble-os-image.tgz', 'other OS');
    await prepare({ OsImage: 'latest' });
    expect(parseBuildRequest(s3.get('farm-stemcells', requestKey(EXECUTION))!.body.toString()).osImage).toEqual({ build: false, key: 'ubuntu-jammy/a2/bosh-ubuntu-jammy-os-image.tgz' });
    await expect(prepare({ OsImage: 'ubuntu-jammy/none/bosh-ubuntu-jammy-os-image.tgz' }, timestampVersions, 'other-execution')).rejects.toThrow(/^OsImage: s3:\/\/farm-os-images\/ubuntu-jammy\/none\/bosh-ubuntu-jammy-os-image.tgz does not exist/);
  });

  it('refuses a missing customization script and a builder image parameter that holds no AMI id', async () => {
    await expect(prepare({ CustomizeScript: 's3://farm-os-images/customize/none.sh' })).rejects.toThrow(/^CustomizeScript: .* does not exist; upload the script first/);
    ssmMock.on(GetParameterCommand).resolves({ Parameter: { Value: 'latest' } });
    await expect(prepare()).rejects.toThrow(/builder image parameter \/farm\/builder holds "latest", not an AMI id/);
    ssmMock.on(GetParameterCommand).rejects(new SSMServiceException({ name: 'ParameterNotFound', $fault: 'client', $metadata: {}, message: 'not found' }));
    await expect(prepare()).rejects.toThrow(/no builder image: no parameter \/farm\/builder exists; give BuilderAmi, or run the builder image pipeline/);
    await expect(prepare({ BuilderAmi: 'ami-0123456789abcdef1' })).resolves.toMatchObject({ builderAmi: 'ami-0123456789abcdef1' });
  });

  it("starts from the stock image until the farm's builder image parameter exists", async () => {
    const config = { ...CONFIG, fallbackBuilderImageParameter: '/aws/service/canonical/ubuntu' };
    ssmMock.on(GetParameterCommand, { Name: '/farm/builder' }).rejects(new SSMServiceException({ name: 'ParameterNotFound', $fault: 'client', $metadata: {}, message: 'not found' }));
    ssmMock.on(GetParameterCommand, { Name: '/aws/service/canonical/ubuntu' }).resolves({ Parameter: { Value: 'ami-0cccccccccccccccc' } });
    const first = await prepareBuild(clients(), config, { executionId: EXECUTION, parameters: {} }, timestampVersions, clock);
    expect(first.builderAmi).toBe('ami-0cccccccccccccccc');
    // The pipeline's first image: the farm's parameter decides from then on.
    ssmMock.on(GetParameterCommand, { Name: '/farm/builder' }).resolves({ Parameter: { Value: 'ami-0dddddddddddddddd' } });
    const next = await prepareBuild(clients(), config, { executionId: 'other-execution', parameters: {} }, timestampVersions, clock);
    expect(next.builderAmi).toBe('ami-0dddddddddddddddd');
    // Neither exists: the message names both.
    ssmMock.on(GetParameterCommand).rejects(new SSMServiceException({ name: 'ParameterNotFound', $fault: 'client', $metadata: {}, message: 'not found' }));
    await expect(prepareBuild(clients(), config, { executionId: 'third-execution', parameters: {} }, timestampVersions, clock)).rejects.toThrow(/no parameter \/farm\/builder nor \/aws\/service\/canonical\/ubuntu exists/);
  });

  it('takes the decisions of a Prepare that raced it to the request (S3 refuses the second write)', async () => {
    let raced = false;
    const versions: VersionSource = {
      versionFor: async () => {
        // The other Prepare of the same execution writes between this one's look and its write.
        if (!raced) {
          raced = true;
          await prepare({ Version: '5.0' });
        }
        return '6.0';
      },
    };
    const state = await prepare({}, versions);
    expect(state.version).toBe('5.0');
    expect(s3.writes.filter((w) => w.endsWith('request.json'))).toHaveLength(1);
  });

  it('refuses regions the account does not have or has not enabled, before anything is launched', async () => {
    await expect(prepare({ Regions: ['eu-west-9'] })).rejects.toThrow(/^Regions: eu-west-9: no such region in this partition/);
    await expect(prepare({ Regions: ['ap-east-1'] }, timestampVersions, 'e2')).rejects.toThrow(/^Regions: ap-east-1: not enabled in this account/);
    await expect(prepare({ ExcludeRegions: ['zz-fake-9'] }, timestampVersions, 'e3')).rejects.toThrow(/^ExcludeRegions: zz-fake-9: no such region/);
    await expect(prepare({ Regions: ['af-south-1', 'eu-central-1'] }, timestampVersions, 'e4')).resolves.toMatchObject({ publish: true });
  });

  it('reads its event: the execution id and the form beside it', () => {
    expect(parsePrepareEvent({ executionId: EXECUTION, Version: '1.2' })).toEqual({ executionId: EXECUTION, parameters: { Version: '1.2' } });
    expect(() => parsePrepareEvent({ Version: '1.2' })).toThrow(/'executionId' is required/);
    expect(() => parsePrepareEvent([])).toThrow(/must be a JSON object/);
  });
});

describe('the build request, read as hostile input', () => {
  let text: string;
  beforeEach(async () => {
    await prepare({ Infrastructures: ['aws', 'openstack'], Version: '1.2' });
    text = s3.get('farm-stemcells', requestKey(EXECUTION))!.body.toString();
  });
  const tampered = (change: (r: Record<string, unknown>) => void): string => {
    const r = JSON.parse(text);
    change(r);
    return JSON.stringify(r);
  };

  it.each<[string, (r: Record<string, unknown>) => void, RegExp]>([
    ['another schema', (r) => (r.schema = 'v0'), /schema is "v0", not stemcell-farm\/build-request\/v1/],
    ['a version with ..', (r) => (r.version = '1..2'), /invalid stemcell version/],
    ['a build id with a slash', (r) => (r.buildId = 'a/b'), /invalid build id/],
    ['an OS image key of another OS', (r) => (r.osImage = { build: false, key: 'debian-bookworm/x/bosh-debian-bookworm-os-image.tgz' }), /'osImage.key'/],
    ['an OS image key with ..', (r) => (r.osImage = { build: false, key: 'ubuntu-jammy/../x.tgz' }), /'osImage.key'/],
    ['a built OS image at another key', (r) => (r.osImage = { build: true, key: 'ubuntu-jammy/other/bosh-ubuntu-jammy-os-image.tgz' }), /must be ubuntu-jammy\/4105a4fc/],
    ['a stemcell key elsewhere', (r) => ((r.stemcells as Record<string, unknown>[])[0].key = 'builds/x.tgz'), /'stemcells\[0\]' must be/],
    ['an infrastructure twice', (r) => ((r.stemcells as Record<string, unknown>[])[1].infrastructure = 'aws'), /each infrastructure once/],
    ['a package name with a space', (r) => (r.extraPackages = ['jq; rm -rf /']), /'extraPackages'/],
    ['a bucket name with a slash', (r) => ((r.buckets as Record<string, unknown>).osImageBucket = 'a/b'), /'buckets.osImageBucket'/],
    ['a customization script outside customize/', (r) => (r.customizeScriptKey = 'ubuntu-jammy/x.sh'), /'customizeScriptKey'/],
  ])('refuses %s', (_, change, message) => {
    expect(() => parseBuildRequest(tampered(change))).toThrow(message);
  });

  it('refuses what is not a request at all', () => {
    expect(() => parseBuildRequest('x'.repeat(MAX_REQUEST_BYTES + 1))).toThrow(/over 65536 bytes/);
    expect(() => parseBuildRequest('{')).toThrow(/not JSON/);
    expect(() => parseBuildRequest('[]')).toThrow(/must be a JSON object/);
  });
});

describe('the runbook steps after the build', () => {
  const result = (extra: Record<string, unknown> = {}) => ({
    schema: RESULT_SCHEMA,
    buildId: EXECUTION,
    version: '1.2',
    osImage: { key: `ubuntu-jammy/${EXECUTION}/bosh-ubuntu-jammy-os-image.tgz`, sha256: 'a'.repeat(64), built: true, stages: [] },
    stemcells: [{ infrastructure: 'aws', key: 'ubuntu-jammy/1.2/bosh-stemcell-1.2-aws-xen-hvm-ubuntu-jammy-go_agent.tgz', sha1: 'b'.repeat(40), bytes: 1, reused: false, checks: { passed: 129, failed: 0 }, stages: [], snapshotId: 'snap-0123456789abcdef0' }],
    startedAt: '2026-11-22T05:00:00Z',
    finishedAt: '2026-11-22T05:20:00Z',
    ...extra,
  });
  let state: FarmState;
  beforeEach(async () => {
    state = await prepare({ Version: '1.2' });
  });
  const read = () => readBuildResult(new S3Client({ region: 'eu-west-1' }), state, { clock, deadline: clock.now() + 60_000, pollMs: 1000 });

  it('takes the snapshot from the result and marks the AMI to register', async () => {
    s3.put('farm-stemcells', state.resultKey, JSON.stringify(result()));
    const next = await read();
    expect(next.snapshotId).toBe('snap-0123456789abcdef0');
    expect(JSON.stringify(next)).toContain(MARKERS.notRegistered);
  });

  it.each<[string, Record<string, unknown> | undefined, RegExp]>([
    ['no result', undefined, /the builder wrote no result/],
    ['the result of another build', { buildId: 'other' }, /is the result of build other 1.2/],
    ['a stemcell that failed checks', { stemcells: [{ ...result().stemcells[0], checks: { passed: 1, failed: 2 } }] }, /failed 2 checks/],
    ['no snapshot of the AWS stemcell', { stemcells: [{ ...result().stemcells[0], snapshotId: undefined }] }, /gives no EBS snapshot/],
    ['a stemcell missing', { stemcells: [{ ...result().stemcells[0], key: 'ubuntu-jammy/1.2/other.tgz' }] }, /names ubuntu-jammy\/1.2\/other.tgz, not the stemcells asked for/],
  ])('fails on %s', async (_, extra, message) => {
    if (extra) s3.put('farm-stemcells', state.resultKey, JSON.stringify(result(extra)));
    await expect(read()).rejects.toThrow(message);
  });

  it('refuses a result.json that is no result', () => {
    expect(() => parseBuildResult(JSON.stringify(result({ stemcells: [{ ...result().stemcells[0], sha1: 'x' }] })))).toThrow(/'sha1'/);
    expect(() => parseBuildResult(JSON.stringify(result({ stemcells: [] })))).toThrow(/at least one stemcell/);
  });

  it('writes no light stemcell while copies are pending', () => {
    const pending = afterCopy({ ...state, imageId: 'ami-0123456789abcdef0' }, { sourceRegion: 'eu-west-1', sourceImageId: 'ami-0123456789abcdef0', done: false, amis: { 'eu-west-1': 'ami-0123456789abcdef0' }, pending: ['us-east-1'], failed: {}, regions: [] });
    expect(JSON.stringify(pending)).toContain(MARKERS.notCopied);
    expect(() => lightInput(pending)).toThrow(/still pending when the copy loop ran out of iterations/);
  });
});
