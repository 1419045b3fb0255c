import { InvalidParameterError, parseBuildParameters, RUNBOOK_PARAMETERS } from '../../lib/farm/parameters';
import { farmApp } from '../helpers/farm';
import { Template } from 'aws-cdk-lib/assertions';

const BUCKETS = { osImageBucket: 'farm-os-images', stemcellBucket: 'farm-stemcells' };
const NOW = Date.parse('2026-11-22T05:00:00Z');
const parse = (raw: Record<string, unknown>) => parseBuildParameters(raw, BUCKETS, NOW);

describe('runbook parameters', () => {
  it('defaults build a useful stemcell: a fresh ubuntu-jammy OS image, an AWS stemcell, published privately with IMDSv2', () => {
    expect(parse({})).toEqual({
      operatingSystem: 'ubuntu-jammy',
      infrastructures: ['aws'],
      version: undefined,
      osImage: 'build',
      extraPackages: [],
      customizeScript: undefined,
      firmware: undefined,
      publishLight: true,
      regions: [],
      excludeRegions: [],
      visibility: 'private',
      shareWith: { accounts: [], organizationArns: [], organizationalUnitArns: [] },
      encrypt: false,
      imdsV2: true,
      instanceType: 'm6i.xlarge',
      snapshot: undefined,
      builderAmi: undefined,
    });
  });

  it('are the runbook form, as synthesized: every parameter with its description, default and constraints, plus the role', () => {
    const template = Template.fromStack(farmApp().stack).toJSON();
    const doc = Object.values(template.Resources as Record<string, { Type: string; Properties: { DocumentType: string; Content: { parameters: Record<string, Record<string, unknown>> } } }>).find(
      (r) => r.Type === 'AWS::SSM::Document' && r.Properties.DocumentType === 'Automation',
    )!;
    const form = doc.Properties.Content.parameters;
    expect(Object.keys(form).sort()).toEqual(['AutomationAssumeRole', ...Object.keys(RUNBOOK_PARAMETERS)].sort());
    for (const [name, spec] of Object.entries(RUNBOOK_PARAMETERS)) {
      expect(form[name]).toMatchObject({ type: spec.type, description: spec.description, default: spec.default });
      expect((spec.description as string).length).toBeGreaterThan(30);
    }
  });

  it('patterns are RE2 (no lookaround, no back-references) and accept their own defaults', () => {
    for (const [name, spec] of Object.entries(RUNBOOK_PARAMETERS) as [string, { allowedPattern?: string; default: unknown; type: string }][]) {
      if (!spec.allowedPattern) continue;
      expect([name, /\(\?[=!<]|\\[1-9]/.test(spec.allowedPattern)]).toEqual([name, false]);
      if (spec.type === 'String') expect([name, new RegExp(spec.allowedPattern).test(spec.default as string)]).toEqual([name, true]);
    }
  });

  it('takes lists as lists or comma-separated text, and booleans as text (a schedule or the CLI gives them so)', () => {
    const p = parse({ Infrastructures: 'aws, openstack', PublishLight: 'false', ExtraPackages: 'jq,curl' });
    expect(p.infrastructures).toEqual(['aws', 'openstack']);
    expect(p.publishLight).toBe(false);
    expect(p.extraPackages).toEqual(['jq', 'curl']);
  });

  it.each<[Record<string, unknown>, RegExp]>([
    [{ Infrastructure: ['aws'] }, /^Infrastructure: no such parameter; the parameters are OperatingSystem, Infrastructures/],
    [{ OperatingSystem: 'ubuntu-focal' }, /^OperatingSystem: "ubuntu-focal" is not one of ubuntu-jammy, ubuntu-noble, debian-bookworm/],
    [{ Infrastructures: [] }, /^Infrastructures: choose at least one/],
    [{ Infrastructures: ['aws', 'aws'] }, /^Infrastructures: lists an item twice/],
    [{ Infrastructures: 42 }, /^Infrastructures: expected a list of strings, got 42/],
    [{ Version: '../1' }, /^Version: "..\/1" is not valid/],
    [{ OsImage: 'debian-bookworm/x/bosh-debian-bookworm-os-image.tgz' }, /^OsImage: .* is not the key of an OS image of ubuntu-jammy/],
    [{ OsImage: 'ubuntu-jammy/../x.tgz' }, /^OsImage: "ubuntu-jammy\/..\/x.tgz" is not valid/],
    [{ OsImage: `ubuntu-jammy/${'a/'.repeat(10)}x.tgz` }, /^OsImage: .* is not valid/],
    [{ OsImage: `ubuntu-jammy/${'a'.repeat(127)}/${'b'.repeat(127)}/${'c'.repeat(127)}/${'d'.repeat(127)}/${'e'.repeat(127)}/${'f'.repeat(127)}/${'g'.repeat(127)}/x.tgz` }, /^OsImage: .* at most 900 characters/],
    [{ Version: '1..2' }, /^Version: invalid stemcell version "1..2"/],
    [{ ExtraPackages: ['a'.repeat(101)] }, /^ExtraPackages: "a{101}" is not valid/],
    [{ '\u001b[31mEvil\nLine': 1 }, /^"\\u001b\[31mEvil\\nLine": no such parameter/],
    [{ OsImage: 'latest', ExtraPackages: ['jq'] }, /^ExtraPackages: packages are added when the OS image is built/],
    [{ OsImage: 'latest', Snapshot: '20261101T000000Z' }, /^Snapshot: a snapshot time applies when the OS image is built/],
    [{ CustomizeScript: 's3://other-bucket/customize/a.sh' }, /^CustomizeScript: upload the script to the farm's OS image bucket below customize\//],
    [{ CustomizeScript: 's3://farm-os-images/customize/../ubuntu-jammy/x.tgz' }, /^CustomizeScript: .* is not valid/],
    [{ CustomizeScript: 's3://farm-os-images/customize/a.sh', OsImage: 'latest' }, /^CustomizeScript: a script customizes the OS image as it is built/],
    [{ Snapshot: '20261399T000000Z' }, /^Snapshot: snapshot "20261399T000000Z" is not a real date/],
    [{ Snapshot: '20271101T000000Z' }, /^Snapshot: snapshot 20271101T000000Z is in the future/],
    [{ Regions: ['eu-west-1'], ExcludeRegions: ['us-east-1'] }, /^ExcludeRegions: give Regions or ExcludeRegions, not both/],
    [{ Regions: ['mars-north-1x'] }, /^Regions: "mars-north-1x" is not valid/],
    [{ Infrastructures: ['openstack'], Regions: ['eu-west-1'] }, /^Regions: applies only when publishing AMIs/],
    [{ PublishLight: false, ShareWith: ['111122223333'] }, /^ShareWith: applies only when publishing AMIs/],
    [{ Visibility: 'shared' }, /^ShareWith: Visibility shared needs at least one/],
    [{ ShareWith: ['111122223333'] }, /^ShareWith: is only for Visibility shared/],
    [{ Visibility: 'shared', ShareWith: ['1111'] }, /^ShareWith: "1111" is not valid/],
    [{ Visibility: 'public', Encrypt: true }, /^Encrypt: encrypted AMIs cannot be public/],
    [{ InstanceType: 't3.micro' }, /^InstanceType: "t3.micro" is not one of m6i.xlarge/],
    [{ BuilderAmi: 'ami-123' }, /^BuilderAmi: "ami-123" is not valid/],
    [{ PublishLight: 'yes' }, /^PublishLight: expected true or false, got "yes"/],
    [{ Regions: Array.from({ length: 65 }, () => 'eu-west-1') }, /^Regions: at most 64 items, got 65/],
  ])('refuses %j, naming the parameter', (raw, message) => {
    expect(() => parse(raw)).toThrow(InvalidParameterError);
    expect(() => parse(raw)).toThrow(message);
  });

  it('refuses what is not a form', () => {
    expect(() => parseBuildParameters(null as never, BUCKETS, NOW)).toThrow(/^parameters: expected the form as an object/);
    expect(() => parseBuildParameters([] as never, BUCKETS, NOW)).toThrow(/^parameters: expected the form as an object/);
  });

  it('leaves who may launch the AMIs alone when nothing is published', () => {
    expect(parse({ Infrastructures: ['openstack'], Visibility: 'public', Encrypt: true })).toMatchObject({ publishLight: false });
  });

  it('keeps hostile text short in its messages', () => {
    expect(() => parse({ Version: 'x'.repeat(5000) })).toThrow(/^Version: "x{200}\.\.\."/);
  });
});
