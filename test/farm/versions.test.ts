/**
 * Version numbers per stemcell line: Prepare with the DynamoDB counter
 * (lib/farm/versions.ts) against a simulated DynamoDB that honours condition
 * expressions and interleaves concurrent calls, the versions table laid out
 * as the stack deploys it.
 */
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { Template } from 'aws-cdk-lib/assertions';
import { prepareBuild, PrepareConfig } from '../../lib/farm/prepare';
import { recordFromItem } from '../../lib/farm/records';
import { parseVersionFormats, versionFormatProblem } from '../../lib/farm/version-format';
import { DynamoVersions } from '../../lib/farm/versions';
import { FakeDynamoDB, schemaOf } from '../helpers/fake-dynamodb';
import { FakeClock, FakeEc2, testClients } from '../helpers/fake-ec2';
import { FakeS3 } from '../helpers/fake-s3';
import { farmApp } from '../helpers/farm';

const CONFIG: PrepareConfig = {
  region: 'eu-west-1',
  stemcellBucket: 'farm-stemcells',
  osImageBucket: 'farm-os-images',
  builderImageParameter: '/farm/builder',
  subnetIds: ['subnet-0aaaaaaaaaaaaaaaa'],
  buildsTable: 'builds',
};
const ssmMock = mockClient(SSMClient);
let clock: FakeClock;
let s3: FakeS3;
let ec2: FakeEc2;
let dynamodb: FakeDynamoDB;

// The tables' layouts as synthesized.
const resources = Template.fromStack(farmApp().stack).findResources('AWS::DynamoDB::Table');
const layout = (prefix: string) => schemaOf(Object.entries(resources).find(([id]) => id.startsWith(prefix))![1] as never);

const execution = (i: number) => `4105a4fc-f944-11e6-9d32-${String(i).padStart(12, '0')}`;
const versions = (formats = {}) => new DynamoVersions(new DynamoDBClient({ region: 'eu-west-1' }), { table: 'versions', formats }, clock);
const prepare = (i: number, parameters: Record<string, unknown> = {}, source = versions()) =>
  prepareBuild(
    { s3: new S3Client({ region: 'eu-west-1' }), ssm: new SSMClient({ region: 'eu-west-1' }), ec2: testClients('eu-west-1'), dynamodb: new DynamoDBClient({ region: 'eu-west-1' }) },
    CONFIG,
    { executionId: execution(i), parameters: { OperatingSystem: 'ubuntu-noble', Infrastructures: ['openstack'], ...parameters } },
    source,
    clock,
  );

beforeEach(() => {
  clock = new FakeClock();
  s3 = new FakeS3(clock, [CONFIG.stemcellBucket, CONFIG.osImageBucket]);
  ec2 = new FakeEc2(clock);
  dynamodb = new FakeDynamoDB();
  dynamodb.addTable('versions', layout('HistoryVersions'));
  dynamodb.addTable('builds', layout('HistoryBuilds'));
  ssmMock.reset();
  ssmMock.on(GetParameterCommand, { Name: '/farm/builder' }).resolves({ Parameter: { Value: 'ami-0123456789abcdef0' } });
});
afterEach(() => {
  s3.mock.restore();
  ec2.mock.restore();
  dynamodb.restore();
});

describe('version numbers per line', () => {
  it('twenty concurrent Prepares of one line get twenty distinct, consecutive versions', async () => {
    const states = await Promise.all(Array.from({ length: 20 }, (_, i) => prepare(i)));
    const numbers = states.map((s) => Number(s.version.replace(/^1\./, ''))).sort((a, b) => a - b);
    expect(numbers).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(states.every((s) => /^1\.\d+$/.test(s.version))).toBe(true);
    // They did contend: the simulated table refused stale conditional updates.
    expect(dynamodb.conditionFailures).toBeGreaterThan(0);
    // Each build's record names its version.
    const records = dynamodb.items('builds').map(recordFromItem);
    expect(records).toHaveLength(20);
    for (const s of states) expect(records.find((r) => r.executionId === s.buildId)).toMatchObject({ line: 'ubuntu-noble', version: s.version, status: 'InProgress' });
  });

  it('a retried Prepare of an execution gets its old number, even when the request was never written', async () => {
    const first = await prepare(1);
    await prepare(2);
    // Prepare died after taking its number: no request.json, but the table remembers.
    const source = versions();
    const unbuilt = async () => false;
    expect(await source.versionFor('ubuntu-noble', execution(3), undefined, new Date(), unbuilt)).toBe('1.3');
    expect(await source.versionFor('ubuntu-noble', execution(3), undefined, new Date(), unbuilt)).toBe('1.3');
    expect((await prepare(3)).version).toBe('1.3');
    expect((await prepare(1)).version).toBe(first.version);
    expect((await prepare(4)).version).toBe('1.4');
  });

  it('finds its number again when it died between taking it and recording it, as long as the counter still names it', async () => {
    await prepare(1);
    // Take number 2 for execution 2 as a dying Prepare would: the counter update only.
    const table = dynamodb.tables.get('versions')!;
    const counterKey = [...table.items.keys()].find((k) => k.includes('counter'))!;
    table.items.set(counterKey, { ...table.items.get(counterKey)!, n: { N: '2' }, owner: { S: execution(2) } });
    expect((await prepare(2)).version).toBe('1.2');
    expect((await prepare(3)).version).toBe('1.3');
  });

  it('burns the number of a failed build: the next build takes the next one', async () => {
    await prepare(1);
    // Build 1 failed; nothing gives its number back.
    expect((await prepare(2)).version).toBe('1.2');
  });

  it('refuses an explicit Version another execution holds, and the counter skips versions given explicitly', async () => {
    expect((await prepare(1, { Version: '1.2' })).version).toBe('1.2');
    await expect(prepare(2, { Version: '1.2' })).rejects.toThrow(/Version.*1\.2 of ubuntu-noble is already taken/);
    expect((await prepare(3)).version).toBe('1.1');
    // 1.2 is held by execution 1: number 2 is burned.
    expect((await prepare(4)).version).toBe('1.3');
  });

  it('skips numbers whose stemcells are in the bucket already (built by hand, or before the tables were new), and still refuses them given explicitly', async () => {
    s3.put(CONFIG.stemcellBucket, 'ubuntu-noble/1.1/bosh-stemcell-1.1-openstack-kvm-ubuntu-noble-go_agent.tgz', Buffer.from('x'));
    s3.put(CONFIG.stemcellBucket, 'ubuntu-noble/1.2/bosh-stemcell-1.2-openstack-kvm-ubuntu-noble-go_agent.tgz', Buffer.from('x'));
    expect((await prepare(1)).version).toBe('1.3');
    expect((await prepare(2)).version).toBe('1.4');
    await expect(prepare(3, { Version: '1.2' })).rejects.toThrow(/Version: 1\.2 of ubuntu-noble is already built/);
  });

  it('refuses an explicit Version already built for the line, found in the bucket', async () => {
    s3.put(CONFIG.stemcellBucket, 'ubuntu-noble/7.1/bosh-stemcell-7.1-openstack-kvm-ubuntu-noble-go_agent.tgz', Buffer.from('x'));
    await expect(prepare(1, { Version: '7.1' })).rejects.toThrow(/Version.*already built/);
  });

  it('numbers each line on its own, in its own format', async () => {
    const source = versions({ 'ubuntu-jammy': { format: '{major}.{n}.0', major: 621 } });
    expect((await prepare(1, {}, source)).version).toBe('1.1');
    expect((await prepare(2, { OperatingSystem: 'ubuntu-jammy' }, source)).version).toBe('621.1.0');
    expect((await prepare(3, { OperatingSystem: 'ubuntu-jammy' }, source)).version).toBe('621.2.0');
    expect((await prepare(4, {}, source)).version).toBe('1.2');
  });
});

describe('version formats', () => {
  it.each([
    [{ format: '{major}.{n}', major: 1 }, undefined],
    [{ format: '{n}', major: 1 }, undefined],
    [{ format: '{major}.{n}-custom', major: 3 }, undefined],
    [{ format: '{major}.0', major: 1 }, /exactly once/],
    [{ format: '{n}.{n}', major: 1 }, /exactly once/],
    [{ format: '{major}.{build}', major: 1 }, /placeholder \{build\}/],
    [{ format: '{major} {n}', major: 1 }, /not a stemcell version/],
    [{ format: '{major}.{n}', major: -1 }, /major must be/],
    [{ format: '{major}..{n}', major: 1 }, /not a stemcell version/],
  ])('%j', (format, problem) => {
    if (problem) expect(versionFormatProblem(format)).toMatch(problem);
    else expect(versionFormatProblem(format)).toBeUndefined();
  });

  it('are checked again when Prepare reads them from its environment', () => {
    expect(parseVersionFormats('{"ubuntu-jammy":{"format":"{major}.{n}","major":621}}')).toEqual({ 'ubuntu-jammy': { format: '{major}.{n}', major: 621 } });
    expect(() => parseVersionFormats('{"ubuntu-jammy":{"format":"{major}","major":1}}')).toThrow(/ubuntu-jammy.*exactly once/);
    expect(() => parseVersionFormats('[]')).toThrow(/JSON object/);
  });
});
