import { ConfigError } from '../../lib/config';
import { parseStemcellLines, StemcellLineConfig } from '../../lib/farm/lines';
import { parseBuildParameters, ParameterName, RUNBOOK_PARAMETERS } from '../../lib/farm/parameters';
import { DEFAULT_VERSION_FORMAT } from '../../lib/farm/version-format';

/** The ConfigError a value is refused with; fails the test when it is accepted or fails otherwise. */
function refusal(raw: unknown): ConfigError {
  try {
    parseStemcellLines(raw);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error(`accepted ${JSON.stringify(raw)}`);
}

/** How Automation hands a schedule's Parameters to Prepare: lists stay lists, Booleans become booleans, Strings strings. */
function asAutomationHandsThem(parameters: Record<string, string[]>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(parameters).map(([name, values]) => {
      const type = RUNBOOK_PARAMETERS[name as ParameterName].type;
      return [name, type === 'StringList' ? values : type === 'Boolean' ? values[0] === 'true' : values[0]];
    }),
  );
}

const noble = (entry: Record<string, unknown>): Record<string, unknown> => ({ 'ubuntu-noble': entry });
const weekly = 'cron(0 3 ? * MON *)';

describe('stemcell lines', () => {
  it('become schedules of the runbook with the line as OperatingSystem and every value a list of strings', () => {
    const lines = parseStemcellLines({
      'ubuntu-noble': {
        schedule: weekly,
        timeZone: 'Europe/Berlin',
        versionFormat: '{major}.{n}.0',
        major: 2,
        parameters: {
          Infrastructures: ['aws', 'openstack'],
          Regions: ['eu-central-1', 'us-east-1'],
          Visibility: 'shared',
          ShareWith: ['111122223333'],
          Encrypt: true,
          ImdsV2: false,
          InstanceType: 'm7i.2xlarge',
          Firmware: 'efi',
        },
      },
      'ubuntu-jammy': { schedule: 'rate(7 days)', enabled: false },
    });
    expect(lines).toEqual<StemcellLineConfig[]>([
      {
        line: 'ubuntu-noble',
        schedule: weekly,
        timeZone: 'Europe/Berlin',
        enabled: true,
        versionFormat: { format: '{major}.{n}.0', major: 2 },
        parameters: {
          OperatingSystem: ['ubuntu-noble'],
          Infrastructures: ['aws', 'openstack'],
          Regions: ['eu-central-1', 'us-east-1'],
          Visibility: ['shared'],
          ShareWith: ['111122223333'],
          Encrypt: ['true'],
          ImdsV2: ['false'],
          InstanceType: ['m7i.2xlarge'],
          Firmware: ['efi'],
        },
      },
      { line: 'ubuntu-jammy', schedule: 'rate(7 days)', timeZone: 'UTC', enabled: false, versionFormat: DEFAULT_VERSION_FORMAT, parameters: { OperatingSystem: ['ubuntu-jammy'] } },
    ]);
  });

  it('take the strings a -c override gives: the whole value as JSON, lists comma-separated, Booleans and numbers as text', () => {
    const json = JSON.stringify({
      'debian-bookworm': { schedule: 'rate(1 day)', enabled: 'false', major: '3', parameters: { Infrastructures: 'aws, vsphere', PublishLight: 'false', ImdsV2: 'true' } },
    });
    expect(parseStemcellLines(json)).toEqual([
      {
        line: 'debian-bookworm',
        schedule: 'rate(1 day)',
        timeZone: 'UTC',
        enabled: false,
        versionFormat: { format: '{major}.{n}', major: 3 },
        parameters: { OperatingSystem: ['debian-bookworm'], Infrastructures: ['aws', 'vsphere'], PublishLight: ['false'], ImdsV2: ['true'] },
      },
    ]);
    expect(parseStemcellLines('{}')).toEqual([]);
    expect(parseStemcellLines({})).toEqual([]);
  });

  it('leave empty values to the runbook defaults they equal', () => {
    const [line] = parseStemcellLines(noble({ schedule: weekly, parameters: { ExtraPackages: [], Regions: '', CustomizeScript: '', BuilderAmi: '', OsImage: 'latest' } }));
    expect(line.parameters).toEqual({ OperatingSystem: ['ubuntu-noble'], OsImage: ['latest'] });
  });

  it('check a customization script below customize/ now and leave its bucket to Prepare, which knows the farm bucket', () => {
    const [line] = parseStemcellLines(noble({ schedule: weekly, parameters: { CustomizeScript: 's3://farm-os-images-1a2b3c/customize/harden.sh', ExtraPackages: ['auditd', 'jq'] } }));
    expect(line.parameters).toMatchObject({ CustomizeScript: ['s3://farm-os-images-1a2b3c/customize/harden.sh'], ExtraPackages: ['auditd', 'jq'] });
    expect(refusal(noble({ schedule: weekly, parameters: { CustomizeScript: 's3://farm-os-images-1a2b3c/scripts/harden.sh' } })).message).toMatch(/^cdk context 'stemcellLines\.ubuntu-noble\.parameters\.CustomizeScript': /);
  });

  it('give Prepare a form it accepts, once Automation has typed the values', () => {
    const lines = parseStemcellLines({
      'ubuntu-noble': { schedule: weekly, parameters: { Infrastructures: 'aws,openstack', Visibility: 'public', PublishLight: 'true', ExcludeRegions: ['me-south-1'] } },
      'ubuntu-jammy': { schedule: weekly, parameters: { Infrastructures: ['vsphere'], PublishLight: false, OsImage: 'latest' } },
    });
    const buckets = { osImageBucket: 'os', stemcellBucket: 'stemcells' };
    const [nobleForm, jammyForm] = lines.map((l) => parseBuildParameters(asAutomationHandsThem(l.parameters), buckets));
    expect(nobleForm).toMatchObject({ operatingSystem: 'ubuntu-noble', infrastructures: ['aws', 'openstack'], visibility: 'public', publishLight: true, excludeRegions: ['me-south-1'] });
    expect(jammyForm).toMatchObject({ operatingSystem: 'ubuntu-jammy', infrastructures: ['vsphere'], osImage: 'latest', publishLight: false });
  });

  it.each([
    'cron(0 3 ? * MON *)',
    'cron(30 2 1 * ? *)',
    'cron(0 */6 * * ? *)',
    'cron(0 0-23/4 * * ? *)',
    'cron(15 4 ? * MON-FRI *)',
    'cron(0 5 L * ? *)',
    'cron(0 5 15W * ? *)',
    'cron(0 5 ? * 6#3 *)',
    'cron(0 5 ? * 6L *)',
    'cron(0 0 ? jan,JUL SUN 2027-2030)',
    'rate(1 hour)',
    'rate(90 minutes)',
    'rate(12 hours)',
    'rate(1 day)',
    'rate(7 days)',
  ])('take the schedule %s', (schedule) => {
    expect(parseStemcellLines(noble({ schedule }))[0].schedule).toBe(schedule);
  });

  it.each([
    ['weekly', /is neither a cron nor a rate expression/],
    ['at(2026-12-01T03:00:00)', /is neither a cron nor a rate expression/],
    ['cron(0 3 ? * MON)', /has 5 fields; a cron expression has six/],
    ['cron(0 3 * * MON *)', /give '\?' in exactly one of day-of-month and day-of-week/],
    ['cron(0 3 ? * ? *)', /give '\?' in exactly one of day-of-month and day-of-week/],
    ['cron(60 3 ? * MON *)', /the minutes field "60" is not valid/],
    ['cron(0 24 ? * MON *)', /the hours field "24" is not valid/],
    ['cron(0 3 32 * ? *)', /the day-of-month field "32" is not valid/],
    ['cron(0 3 ? 13 MON *)', /the month field "13" is not valid/],
    ['cron(0 3 ? * FUNDAY *)', /the day-of-week field "FUNDAY" is not valid/],
    ['cron(0 3 ? * 2#1,3#1 *)', /the day-of-week field "2#1,3#1" is not valid/],
    ['cron(0 3 ? * MON 1969)', /the year field "1969" is not valid/],
    ['cron(0 3/0 ? * MON *)', /the hours field "3\/0" is not valid/],
    ['cron(*/15 * * * ? *)', /more often than once an hour/],
    ['cron(0,30 3 * * ? *)', /more often than once an hour/],
    ['rate(30 minutes)', /more often than once an hour/],
    ['rate(1 days)', /write rate\(1 day\)/],
    ['rate(2 day)', /write rate\(1 day\), or rate\(2 days\)/],
    ['rate(0 hours)', /is not a rate expression/],
    ['rate(1 week)', /is not a rate expression/],
    ['cron( 0  3 ? * MON * )', /write the six fields with one space between them, "cron\(0 3 \? \* MON \*\)"/],
    ['cron(0 3 ? * MON 2001)', /would never start a build: its years are past/],
    ['cron(0 3 30 FEB ? *)', /February has no day 30/],
    ['cron(0 3 31 2 ? *)', /February has no day 31/],
    [7, /expected a schedule expression/],
    [undefined, /expected a schedule expression/],
  ])('refuse the schedule %j, naming its key', (schedule, problem) => {
    const { message } = refusal(noble({ schedule }));
    expect(message).toMatch(/^cdk context 'stemcellLines\.ubuntu-noble\.schedule': /);
    expect(message).toMatch(problem);
  });

  it.each([
    [{ 'ubuntu-focal': { schedule: weekly } }, 'stemcellLines.ubuntu-focal', /no such stemcell line: a line is an operating system, one of ubuntu-jammy, ubuntu-noble, debian-bookworm/],
    [[{ schedule: weekly }], 'stemcellLines', /expected an object of stemcell lines/],
    [null, 'stemcellLines', /expected an object of stemcell lines/],
    ['{"ubuntu-noble": ', 'stemcellLines', /is not JSON/],
    [noble('weekly' as unknown as Record<string, unknown>), 'stemcellLines.ubuntu-noble', /expected an object with schedule/],
    [noble({ schedule: weekly, scheduel: weekly }), 'stemcellLines.ubuntu-noble.scheduel', /no such field; an entry has schedule, timeZone, enabled, versionFormat, major, parameters/],
    [noble({ schedule: weekly, timeZone: 'Mars/Olympus_Mons' }), 'stemcellLines.ubuntu-noble.timeZone', /"Mars\/Olympus_Mons" is not one/],
    [noble({ schedule: weekly, timeZone: 'europe/berlin' }), 'stemcellLines.ubuntu-noble.timeZone', /case-sensitive: write "Europe\/Berlin"/],
    [noble({ schedule: weekly, timeZone: '+01:00' }), 'stemcellLines.ubuntu-noble.timeZone', /expected an IANA time zone/],
    [noble({ schedule: weekly, timeZone: 1 }), 'stemcellLines.ubuntu-noble.timeZone', /expected an IANA time zone/],
    [noble({ schedule: weekly, enabled: 'yes' }), 'stemcellLines.ubuntu-noble.enabled', /expected true or false/],
    [noble({ schedule: weekly, versionFormat: '{major}' }), 'stemcellLines.ubuntu-noble.versionFormat', /must hold \{n\} exactly once/],
    [noble({ schedule: weekly, versionFormat: '{major}.{n}.{patch}' }), 'stemcellLines.ubuntu-noble.versionFormat', /has the placeholder \{patch\}/],
    [noble({ schedule: weekly, versionFormat: '{n}/{major}' }), 'stemcellLines.ubuntu-noble.versionFormat', /not a stemcell version/],
    [noble({ schedule: weekly, versionFormat: 2 }), 'stemcellLines.ubuntu-noble.versionFormat', /expected a format such as "\{major\}.\{n\}"/],
    [noble({ schedule: weekly, major: -1 }), 'stemcellLines.ubuntu-noble.major', /major must be a whole number from 0 to 99999/],
    [noble({ schedule: weekly, major: 'two' }), 'stemcellLines.ubuntu-noble.major', /major must be a whole number/],
    [noble({ schedule: weekly, parameters: ['aws'] }), 'stemcellLines.ubuntu-noble.parameters', /expected an object of runbook parameters/],
  ])('refuse %j at %s', (raw, key, problem) => {
    const { message } = refusal(raw);
    expect(message.startsWith(`cdk context '${key}': `)).toBe(true);
    expect(message).toMatch(problem);
  });

  const known = Object.keys(RUNBOOK_PARAMETERS).join(', ');
  it.each([
    { parameters: { Regoins: ['us-east-1'] }, name: 'Regoins', problem: `no such parameter; the parameters are ${known}` },
    { parameters: { Encrypt: 'yes' }, name: 'Encrypt', problem: 'expected true or false, got "yes"' },
    { parameters: { Regions: 5 }, name: 'Regions', problem: 'expected a list of strings, got 5' },
    { parameters: { InstanceType: 't3.micro' }, name: 'InstanceType', problem: '"t3.micro" is not one of m6i.xlarge' },
    { parameters: { Regions: ['eu-central-1', 'moon-1'] }, name: 'Regions', problem: '"moon-1" is not valid' },
    { parameters: { ExtraPackages: Array.from({ length: 101 }, (_, i) => `pkg${i}`) }, name: 'ExtraPackages', problem: 'at most 100 items, got 101' },
    { parameters: { Infrastructures: [] }, name: 'Infrastructures', problem: 'choose at least one of aws' },
    { parameters: { Version: '1.300' }, name: 'Version', problem: 'a schedule builds again and again, and a version is built only once' },
    { parameters: { Version: '' }, name: 'Version', problem: 'leave Version out' },
    { parameters: { OperatingSystem: 'ubuntu-noble' }, name: 'OperatingSystem', problem: "the line's key is the operating system" },
    { parameters: { Snapshot: '20261101T000000Z' }, name: 'Snapshot', problem: 'a fixed snapshot would build the same OS image every time' },
    { parameters: { ShareWith: ['111122223333'] }, name: 'ShareWith', problem: 'is only for Visibility shared (Visibility is private)' },
    { parameters: { Visibility: 'shared' }, name: 'ShareWith', problem: 'Visibility shared needs at least one account' },
    { parameters: { Visibility: 'public', Encrypt: true }, name: 'Encrypt', problem: 'encrypted AMIs cannot be public' },
    { parameters: { OsImage: 'latest', ExtraPackages: ['jq'] }, name: 'ExtraPackages', problem: 'packages are added when the OS image is built' },
  ])('refuse bad parameters at the parameter: $name, $problem', ({ parameters, name, problem }) => {
    const { message } = refusal(noble({ schedule: weekly, parameters }));
    expect(message.startsWith(`cdk context 'stemcellLines.ubuntu-noble.parameters.${name}': `)).toBe(true);
    expect(message).toContain(problem);
    // -c sets only the whole key.
    expect(message).toMatch(/ with -c stemcellLines=\.\.\.$/);
  });

  it('read a key of another name', () => {
    expect(() => parseStemcellLines({ 'ubuntu-noble': { schedule: 'weekly' } }, 'lines')).toThrow(/^cdk context 'lines\.ubuntu-noble\.schedule': /);
  });
});
