/**
 * What the farm reads back (a stored request, a result, the runbook's state,
 * S3 URIs) treated as hostile: each bad document refused with a message that
 * names the field, never a TypeError, and `stemcell farm-build` reporting
 * bad input, unreachable endpoints and foreign results in one line with the
 * README's exit codes.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { InvalidInputError } from '../../lib/aws/input';
import { systemClock } from '../../lib/aws/runtime';
import { parseS3Uri } from '../../lib/aws/s3';
import { farmBuild } from '../../lib/farm/build';
import { requestKey, resultKey } from '../../lib/farm/keys';
import { prepareBuild, timestampVersions } from '../../lib/farm/prepare';
import { parseBuildResult, RESULT_SCHEMA } from '../../lib/farm/result';
import { FarmState } from '../../lib/farm/state';
import { lightInput, registerInput } from '../../lib/farm/steps';
import { FakeClock, FakeEc2, testClients } from '../helpers/fake-ec2';
import { FakeS3 } from '../helpers/fake-s3';

const CONFIG = { region: 'eu-west-1', stemcellBucket: 'farm-stemcells', osImageBucket: 'farm-os-images', builderImageParameter: '/farm/builder', subnetIds: ['subnet-0aaaaaaaaaaaaaaaa'] };
const EXECUTION = '4105a4fc-f944-11e6-9d32-0123456789ab';
const CLI = path.join(__dirname, '..', '..', 'bin', 'stemcell.js');
const ssm = mockClient(SSMClient);
let clock: FakeClock;
let s3: FakeS3;
let ec2: FakeEc2;
let state: FarmState;
const prepare = () => prepareBuild({ s3: new S3Client({ region: 'eu-west-1' }), ssm: new SSMClient({ region: 'eu-west-1' }), ec2: testClients('eu-west-1') }, CONFIG, { executionId: EXECUTION, parameters: { Version: '1.2', Infrastructures: ['aws', 'openstack'] } }, timestampVersions, clock);

beforeEach(async () => {
  clock = new FakeClock();
  s3 = new FakeS3(clock, [CONFIG.stemcellBucket, CONFIG.osImageBucket]);
  ec2 = new FakeEc2(clock);
  ssm.reset();
  ssm.on(GetParameterCommand).resolves({ Parameter: { Value: 'ami-0123456789abcdef0' } });
  state = await prepare();
});
afterEach(() => {
  s3.mock.restore();
  ec2.mock.restore();
});

const storedRequest = (): Record<string, unknown> => JSON.parse(s3.get(CONFIG.stemcellBucket, requestKey(EXECUTION))!.body.toString());
const store = (request: Record<string, unknown>): void => s3.put(CONFIG.stemcellBucket, requestKey(EXECUTION), JSON.stringify(request));

describe('a retried Prepare reads the stored request as input', () => {
  it.each<[string, (r: Record<string, unknown>) => void, RegExp]>([
    ['a launch with another AMI id form', (r) => ((r.launch as Record<string, unknown>).builderAmi = 'ami-evil'), /'builderAmi' is 'ami-evil', which is not valid/],
    ['a launch into a subnet not the farm’s', (r) => ((r.launch as Record<string, unknown>).subnetId = 'subnet-0bbbbbbbbbbbbbbbb'), /'subnetId' .* not valid; expected something like subnet-0aaaaaaaaaaaaaaaa/],
    ['an instance type not on the list', (r) => ((r.launch as Record<string, unknown>).instanceType = 'p5.48xlarge'), /'instanceType' is 'p5.48xlarge'/],
    ['no form', (r) => delete r.form, /'form': the input must be a JSON object/],
    ['another execution’s id', (r) => (r.executionId = 'other'), /'executionId' is 'other', which is not valid/],
    ['a creation time that is no time', (r) => (r.createdAt = 'hello 2020'), /'createdAt' is 'hello 2020'/],
  ])('refuses %s', async (_, change, message) => {
    const r = storedRequest();
    change(r);
    store(r);
    await expect(prepare()).rejects.toThrow(message);
  });
});

describe('the runbook state, read as input', () => {
  it.each<[string, (s: FarmState) => Record<string, unknown>, RegExp]>([
    ['a region that is a host name', () => ({ region: 'evil.example.com/' }), /'region' is 'evil.example.com\/', which is not an AWS region name/],
    ['a snapshot id that is a volume', () => ({ snapshotId: 'vol-0123456789abcdef0' }), /'snapshotId' is 'vol-0123456789abcdef0'/],
    ['publishing that is not an object', () => ({ aws: 'x' }), /the state's 'aws': the input must be a JSON object/],
    ['a boot mode no AMI has', (s) => ({ aws: { ...s.aws, stemcell: { ...s.aws!.stemcell, bootMode: 'nonsense' } } }), /'stemcell.bootMode' is 'nonsense'/],
  ])('register refuses %s', (_, change, message) => {
    const hostile = { ...state, snapshotId: 'snap-0123456789abcdef0', ...change(state) } as FarmState;
    expect(() => registerInput(hostile)).toThrow(InvalidInputError);
    expect(() => registerInput(hostile)).toThrow(message);
  });

  it('light-stemcell refuses an AMI map that is a list, and a heavy key that leaves its folder', () => {
    expect(() => lightInput({ ...state, copied: true, amis: ['ami-0123456789abcdef0'] as never })).toThrow(/'amis'/);
    expect(() => lightInput({ ...state, copied: true, amis: { 'eu-west-1': 'ami-0123456789abcdef0' }, aws: { ...state.aws!, key: '../../x.tgz' } })).toThrow(/'heavyKey'/);
  });
});

describe('results and URIs', () => {
  const result = { schema: RESULT_SCHEMA, buildId: EXECUTION, version: '1.2', osImage: { key: 'ubuntu-jammy/b/bosh-ubuntu-jammy-os-image.tgz', built: true, stages: [{ stage: 'bootstrap', seconds: 40 }] }, stemcells: [{ infrastructure: 'aws', key: 'a/b.tgz', sha1: 'b'.repeat(40), bytes: 1, reused: false, checks: { passed: 1, failed: 0 }, stages: [] }], startedAt: '2026-11-22T05:00:00.000Z', finishedAt: '2026-11-22T05:20:00.000Z' };
  it.each<[string, string, RegExp]>([
    ['an endless stage', JSON.stringify(result).replace('"seconds":40', '"seconds":1e999'), /seconds must be a number of seconds up to/],
    ['a key with control characters', JSON.stringify({ ...result, stemcells: [{ ...result.stemcells[0], key: '\u001b]0;owned\u0007/x.tgz' }] }), /'key'/],
    ['a time that is no time', JSON.stringify({ ...result, startedAt: 'soon' }), /'startedAt' is 'soon'/],
    ['a size past what a number holds exactly', JSON.stringify({ ...result, stemcells: [{ ...result.stemcells[0], bytes: 1e300 }] }), /'bytes' must be a whole number/],
  ])('a result with %s is refused', (_, text, message) => {
    expect(() => parseBuildResult(text)).toThrow(message);
  });

  it.each(['s3://Bucket/x', 's3://a..b/x', 's3://192.168.0.1/x', 's3://xn--evil/x', 's3://farm/../../etc/passwd', 's3://farm//x', 's3://farm/x\u001b', `s3://farm/${'é'.repeat(10)}`, 's3://farm/', 'https://farm/x'])('parseS3Uri refuses %j', (uri) => {
    expect(() => parseS3Uri(uri, '--request')).toThrow(InvalidInputError);
  });

  it('parseS3Uri refuses what is not a string', () => {
    expect(() => parseS3Uri(undefined, '--request')).toThrow(/--request "undefined" is not an S3 URI/);
  });
});

describe('stemcell farm-build', () => {
  const asRoot = process.getuid?.() === 0 ? it : it.skip;
  const run = (args: string[], env: Record<string, string> = {}) => spawnSync(process.execPath, [CLI, 'farm-build', ...args], { encoding: 'utf8', env: { ...process.env, AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret', ...env }, timeout: 150_000 });

  it('refuses a request URI that is not a build request before any AWS call (exit 2)', () => {
    for (const uri of ['s3://farm-stemcells/../../x', 's3://farm-stemcells/builds/x/other.json', 's3://farm-stemcells/builds/x/request.json\n']) {
      const r = run(['--request', uri], { AWS_REGION: 'eu-west-1' });
      expect(r.stderr).toMatch(/is not a build request: s3:\/\/<stemcell bucket>\/builds\/<build id>\/request.json/);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.status).toBe(2);
    }
  });

  it('takes AWS_DEFAULT_REGION when AWS_REGION is empty', () => {
    const r = run(['--request', 's3://farm-stemcells/builds/x/request.json', '--agent-binary', '/nonexistent'], { AWS_REGION: '', AWS_DEFAULT_REGION: 'eu-west-1' });
    expect(r.stderr).not.toMatch(/AWS_REGION/);
  });

  asRoot('checks --agent-binary before any AWS call (exit 3), and says an unreachable endpoint is the network (exit 3)', () => {
    const unreachable = { AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9' };
    const agent = run(['--request', 's3://farm-stemcells/builds/x/request.json', '--agent-binary', '/tmp'], unreachable);
    expect(agent.stderr).toMatch(/agent binary \/tmp/);
    expect(agent.status).toBe(3);
    const down = run(['--request', 's3://farm-stemcells/builds/x/request.json'], unreachable);
    expect(down.stderr).toMatch(/^stemcell: cannot reach AWS \(.*ECONNREFUSED.*\); check the network, the proxy \(HTTPS_PROXY\) and the endpoint$/m);
    expect(down.status).toBe(3);
    // The calls are retried with backoff first (a network blip passes): some tens of seconds.
  }, 180_000);

  asRoot('refuses a result.json that is not this build’s, and leaves it alone', async () => {
    s3.put(CONFIG.stemcellBucket, resultKey(EXECUTION), JSON.stringify({ ...JSON.parse(JSON.stringify({ schema: RESULT_SCHEMA })), buildId: 'some-other-build', version: '9.9', osImage: { key: 'ubuntu-jammy/b/bosh-ubuntu-jammy-os-image.tgz', built: true, stages: [] }, stemcells: [{ infrastructure: 'aws', key: 'ubuntu-jammy/9.9/x.tgz', sha1: 'b'.repeat(40), bytes: 1, reused: false, checks: { passed: 1, failed: 0 }, stages: [] }], startedAt: '2026-11-22T05:00:00.000Z', finishedAt: '2026-11-22T05:00:00.000Z' }));
    const writes = s3.writes.length;
    await expect(
      farmBuild({ s3: new S3Client({ region: 'eu-west-1' }), ebs: undefined as never, ec2: testClients('eu-west-1') }, { requestUri: state.requestUri, region: 'eu-west-1', say: () => undefined, clock: systemClock }),
    ).rejects.toThrow(/is not this build's result: it is the result of build some-other-build 9.9, not of 4105a4fc-f944-11e6-9d32-0123456789ab 1.2; not touching it/);
    expect(s3.writes.length).toBe(writes);
  });
});
