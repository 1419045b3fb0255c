/**
 * A build's end as an EMF line: the structure the embedded metric format
 * specification requires (CloudWatch user guide, "Specification: Embedded
 * metric format"), the values for each outcome, bounded hostile text; and the
 * build-status handler, which writes the line once, for the announced end only.
 */
import { announcedBuild, BUILD_END_EVENT, BUILD_METRICS, buildEndLog, LINE_DIMENSION, lineDimensionValue, METRICS_NAMESPACE, NEWEST_LIGHT_STEMCELL_QUERY } from '../../lib/farm/build-metrics';
import { buildStatus as buildStatusCore, BuildStatusResult } from '../../lib/farm/build-status';
import { Notification } from '../../lib/farm/notification';
import { BuildRecord } from '../../lib/farm/records';

// The handler's core, replaced: these tests are about what the handler writes.
jest.mock('../../lib/farm/build-status', () => ({ buildStatus: jest.fn() }));
const buildStatus = buildStatusCore as jest.MockedFunction<typeof buildStatusCore>;

const EXECUTION = '333ba70b-2333-48db-b17e-a5e69c6f4d1c';
const SUCCESS: BuildRecord = {
  executionId: EXECUTION,
  line: 'ubuntu-jammy',
  version: '1.42',
  status: 'Success',
  startedAt: '2026-11-29T18:31:20.000Z',
  endedAt: '2026-11-29T19:43:26.000Z',
  durationSeconds: 4326,
  lightKey: 'ubuntu-jammy/1.42/light-bosh-stemcell-1.42-aws-xen-hvm-ubuntu-jammy-go_agent.tgz',
  amis: { 'eu-west-1': 'ami-0123456789abcdef0' },
  stageSeconds: { base_debootstrap: 120.5 },
};
const FAILED: BuildRecord = { executionId: EXECUTION, line: 'debian-bookworm', version: '1.7', status: 'Failed', startedAt: '2026-11-29T18:31:20.000Z', endedAt: '2026-11-29T18:40:00.000Z', durationSeconds: 520, failedStep: 'BuildOnHost', failure: 'stage bosh_agent failed' };

type Emf = Record<string, unknown> & {
  _aws: { Timestamp: number; CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit?: string }[] }[] };
};
const parse = (line: string): Emf => JSON.parse(line) as Emf;

/** What the specification requires of an EMF document (MUSTs of the root node, the metadata, the directives and the target members). */
function expectValidEmf(line: string): Emf {
  expect(line).not.toMatch(/\n/);
  const doc = parse(line);
  expect(typeof doc).toBe('object');
  expect(Array.isArray(doc)).toBe(false);
  const meta = doc._aws;
  expect(Number.isInteger(meta.Timestamp)).toBe(true);
  expect(meta.Timestamp).toBeGreaterThan(0);
  expect(Array.isArray(meta.CloudWatchMetrics)).toBe(true);
  expect(meta.CloudWatchMetrics.length).toBeGreaterThan(0);
  for (const directive of meta.CloudWatchMetrics) {
    expect(Object.keys(directive).sort()).toEqual(['Dimensions', 'Metrics', 'Namespace']);
    expect(directive.Namespace).toMatch(/^[^:].{0,254}$/);
    expect(directive.Dimensions.length).toBeGreaterThan(0);
    for (const set of directive.Dimensions) {
      expect(set.length).toBeGreaterThan(0);
      expect(set.length).toBeLessThanOrEqual(30);
      for (const key of set) expect(typeof doc[key]).toBe('string');
    }
    expect(directive.Metrics.length).toBeGreaterThan(0);
    expect(directive.Metrics.length).toBeLessThanOrEqual(100);
    for (const m of directive.Metrics) {
      expect(m.Name.length).toBeGreaterThan(0);
      expect(m.Name.length).toBeLessThanOrEqual(1024);
      expect(['Count', 'Seconds']).toContain(m.Unit);
      expect(typeof doc[m.Name]).toBe('number');
    }
  }
  return doc;
}

describe('buildEndLog', () => {
  it('writes a successful build as one EMF line: Builds 1, Succeeded 1, its duration, by line, stamped with its end', () => {
    const doc = expectValidEmf(buildEndLog(SUCCESS));
    expect(doc._aws).toEqual({
      Timestamp: Date.parse('2026-11-29T19:43:26.000Z'),
      CloudWatchMetrics: [
        {
          Namespace: 'StemcellFarm',
          Dimensions: [['Line']],
          Metrics: [
            { Name: 'Builds', Unit: 'Count' },
            { Name: 'Succeeded', Unit: 'Count' },
            { Name: 'DurationSeconds', Unit: 'Seconds' },
          ],
        },
      ],
    });
    expect(doc).toEqual({
      _aws: doc._aws,
      event: 'build-end',
      Line: 'ubuntu-jammy',
      Builds: 1,
      Succeeded: 1,
      DurationSeconds: 4326,
      status: 'Success',
      executionId: EXECUTION,
      version: '1.42',
      endedAt: '2026-11-29T19:43:26.000Z',
      lightKey: SUCCESS.lightKey,
    });
  });

  it.each(['Failed', 'TimedOut', 'Cancelled'] as const)('counts a %s build as a build that did not succeed, with the step that failed', (status) => {
    const doc = expectValidEmf(buildEndLog({ ...FAILED, status }));
    expect(doc).toMatchObject({ Line: 'debian-bookworm', Builds: 1, Succeeded: 0, DurationSeconds: 520, status, failedStep: 'BuildOnHost', version: '1.7' });
    expect(doc).not.toHaveProperty('lightKey');
    // The failure text stays in the record and the mail.
    expect(JSON.stringify(doc)).not.toContain('bosh_agent');
  });

  it('leaves out what the record lacks: no duration metric without a duration, no version before one was taken', () => {
    const { durationSeconds: _d, version: _v, lightKey: _l, ...bare } = SUCCESS;
    const doc = expectValidEmf(buildEndLog(bare));
    expect(doc._aws.CloudWatchMetrics[0].Metrics.map((m) => m.Name)).toEqual(['Builds', 'Succeeded']);
    expect(doc).not.toHaveProperty('DurationSeconds');
    expect(doc).not.toHaveProperty('version');
    expect(doc).not.toHaveProperty('lightKey');
    for (const bad of [Number.NaN, -1, Number.POSITIVE_INFINITY]) {
      expect(expectValidEmf(buildEndLog({ ...SUCCESS, durationSeconds: bad }))).not.toHaveProperty('DurationSeconds');
    }
  });

  it('is deterministic, and stamps a record without a readable end with the time it is given', () => {
    expect(buildEndLog(SUCCESS)).toBe(buildEndLog(SUCCESS));
    const at = Date.parse('2026-12-01T00:00:00.000Z');
    for (const endedAt of [undefined, 'not a time', '']) {
      const doc = expectValidEmf(buildEndLog({ ...SUCCESS, endedAt }, at));
      expect(doc._aws.Timestamp).toBe(at);
      expect(doc.endedAt).toBe('2026-12-01T00:00:00.000Z');
    }
    // EventBridge's times have no milliseconds: written the one ISO way, so that they sort as text.
    expect(parse(buildEndLog({ ...SUCCESS, endedAt: '2026-11-29T19:43:35Z' })).endedAt).toBe('2026-11-29T19:43:35.000Z');
  });

  it('keeps hostile text from the record inside its fields, bounded, and the line valid', () => {
    const hostile = '"}\n{"_aws":{}}\u0000\u2028\ud800' + 'x'.repeat(100_000) + '😀';
    const record: BuildRecord = { ...FAILED, executionId: hostile, version: hostile, failedStep: hostile, lightKey: hostile, status: hostile as BuildRecord['status'], line: hostile };
    const line = buildEndLog(record);
    expect(line.length).toBeLessThan(4_000);
    const doc = expectValidEmf(line);
    expect(doc.Line).toBe('unknown');
    for (const field of ['executionId', 'version', 'failedStep', 'status']) {
      expect((doc[field] as string).startsWith('"}\n{"_aws":{}}')).toBe(true);
      expect(Array.from(doc[field] as string).length).toBeLessThanOrEqual(256);
    }
    expect(Array.from(doc.lightKey as string).length).toBeLessThanOrEqual(1024);
    // A hostile record cannot add or replace members: the document's keys are the writer's.
    expect(Object.keys(doc).sort()).toEqual(['Builds', 'DurationSeconds', 'Line', 'Succeeded', '_aws', 'endedAt', 'event', 'executionId', 'failedStep', 'lightKey', 'status', 'version']);
    expect(doc.Succeeded).toBe(0);
  });

  it('cuts text at characters, not inside a surrogate pair', () => {
    const doc = parse(buildEndLog({ ...SUCCESS, version: '😀'.repeat(300) }));
    expect(doc.version).toBe(`${'😀'.repeat(255)}…`);
  });

  it.each([
    ['ubuntu-jammy', 'ubuntu-jammy'],
    ['debian-bookworm', 'debian-bookworm'],
    ['unknown', 'unknown'],
    ['', 'unknown'],
    [' ubuntu-jammy', 'unknown'],
    ['Ubuntu', 'unknown'],
    ['a'.repeat(65), 'unknown'],
    ['ubuntu/jammy', 'unknown'],
  ])('writes the line %j as the dimension value %j', (line, value) => {
    expect(lineDimensionValue(line)).toBe(value);
    expect(parse(buildEndLog({ ...SUCCESS, line })).Line).toBe(value);
  });

  it('names its metrics, namespace and dimension with the exported constants', () => {
    const doc = parse(buildEndLog(SUCCESS));
    const directive = doc._aws.CloudWatchMetrics[0];
    expect(directive.Namespace).toBe(METRICS_NAMESPACE);
    expect(directive.Dimensions).toEqual([[LINE_DIMENSION]]);
    expect(directive.Metrics).toEqual(Object.values(BUILD_METRICS).map((m) => ({ Name: m.name, Unit: m.unit })));
    expect(doc.event).toBe(BUILD_END_EVENT);
  });
});

describe('the newest light stemcell query', () => {
  it('reads fields the line has, and filters on the values it writes', () => {
    const doc = parse(buildEndLog(SUCCESS));
    const query = NEWEST_LIGHT_STEMCELL_QUERY.join('\n| ');
    expect(query).toContain(`event = "${doc.event}"`);
    expect(query).toContain(`status = "${doc.status}"`);
    const fields = NEWEST_LIGHT_STEMCELL_QUERY.find((l) => l.startsWith('fields '))!.slice('fields '.length);
    for (const f of fields.split(',').map((x) => x.trim().split(' ')[0])) expect(doc).toHaveProperty(f);
    expect(query).toContain('ispresent(lightKey)');
    // Sorted by the build's end, then one row per line: dedup keeps the first, and only limit may follow it.
    expect(NEWEST_LIGHT_STEMCELL_QUERY.slice(-2)).toEqual(['sort endedAt desc', 'dedup Line']);
  });
});

describe('announcedBuild', () => {
  const notification: Notification = { subject: 'ubuntu-jammy 1.42 built', message: '...' };
  it('is the record when build-status announced its end now, and nothing otherwise', () => {
    expect(announcedBuild({ record: SUCCESS, notification })).toBe(SUCCESS);
    expect(announcedBuild({ record: SUCCESS, ignored: 'announced already' })).toBeUndefined();
    expect(announcedBuild({ ignored: 'another runbook' })).toBeUndefined();
    expect(announcedBuild({ notification } as BuildStatusResult)).toBeUndefined();
  });
});

describe('the build-status handler', () => {
  const ENV = { RUNBOOK_NAME: 'StemcellFarm-Build', BUILDS_TABLE: 'builds', STEMCELL_BUCKET: 'stemcells', TOPIC_ARN: 'arn:aws:sns:eu-west-1:123456789012:t' };
  let write: jest.SpyInstance;
  const saved = { ...process.env };
  beforeEach(() => {
    Object.assign(process.env, ENV);
    write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    buildStatus.mockReset();
  });
  afterEach(() => {
    write.mockRestore();
    process.env = { ...saved };
  });

  it('writes the EMF line of an announced end once, alone on its line, and returns the result', async () => {
    const { handler } = await import('../../lambda/build-status/handler');
    const result = { record: SUCCESS, notification: { subject: 's', message: 'm' } };
    buildStatus.mockResolvedValue(result);
    await expect(handler({})).resolves.toBe(result);
    expect(write).toHaveBeenCalledTimes(1);
    expect(write.mock.calls[0][0]).toBe(`${buildEndLog(SUCCESS)}\n`);
  });

  it.each<[string, BuildStatusResult]>([
    ['a second delivery', { record: SUCCESS, ignored: `execution ${EXECUTION} is recorded (Success) and announced already` }],
    ['an event that is not ours', { ignored: 'an execution of Other, not of StemcellFarm-Build' }],
  ])('writes nothing for %s', async (_what, result) => {
    const { handler } = await import('../../lambda/build-status/handler');
    buildStatus.mockResolvedValue(result);
    await expect(handler({})).resolves.toBe(result);
    expect(write).not.toHaveBeenCalled();
  });
});
