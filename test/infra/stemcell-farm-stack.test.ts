import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { farmApp } from '../helpers/farm';

function template(overrides: Record<string, unknown> = {}): Template {
  return Template.fromStack(farmApp(overrides).stack);
}

function nagViolations(overrides: Record<string, unknown> = {}, extend?: (app: ReturnType<typeof farmApp>) => void): string[] {
  const built = farmApp(overrides);
  extend?.(built);
  return new AwsSolutionsChecks(built.app).validateScope(built.app).violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} ${r.constructPath}`));
}

describe('buckets', () => {
  const t = template();
  const buckets = t.findResources('AWS::S3::Bucket');
  const logicalId = (prefix: string): string => Object.keys(buckets).find((id) => id.startsWith(prefix))!;

  it('has an OS image, a stemcell and an access log bucket', () => {
    expect(Object.keys(buckets).map((id) => id.replace(/[0-9A-F]{8}$/, '')).sort()).toEqual(['BucketsAccessLogs', 'BucketsOsImages', 'BucketsStemcells']);
  });

  it.each(['BucketsOsImages', 'BucketsStemcells', 'BucketsAccessLogs'])('%s is encrypted, private and retained', (prefix) => {
    const bucket = buckets[logicalId(prefix)];
    expect(bucket.DeletionPolicy).toBe('Retain');
    expect(bucket.UpdateReplacePolicy).toBe('Retain');
    expect(bucket.Properties.BucketEncryption).toEqual({ ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] });
    expect(bucket.Properties.PublicAccessBlockConfiguration).toEqual({ BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
    expect(bucket.Properties.OwnershipControls).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
  });

  it.each(['BucketsOsImages', 'BucketsStemcells'])('%s is versioned, logs access and expires old versions', (prefix) => {
    const bucket = buckets[logicalId(prefix)];
    expect(bucket.Properties.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    expect(bucket.Properties.LoggingConfiguration.DestinationBucketName).toEqual({ Ref: logicalId('BucketsAccessLogs') });
    expect(bucket.Properties.LifecycleConfiguration.Rules).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ NoncurrentVersionExpiration: { NoncurrentDays: 30 }, Status: 'Enabled' }),
        expect.objectContaining({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 }, Status: 'Enabled' }),
      ]),
    );
  });

  it.each(['BucketsOsImages', 'BucketsStemcells', 'BucketsAccessLogs'])('%s denies requests without TLS 1.2', (prefix) => {
    t.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: logicalId(prefix) },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Principal: { AWS: '*' }, Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
        ]),
      },
    });
  });

  it('takes the version expiry from context', () => {
    const rules = Object.values(template({ noncurrentVersionDays: '7' }).findResources('AWS::S3::Bucket'))
      .flatMap((b) => b.Properties.LifecycleConfiguration?.Rules ?? [])
      .filter((r: { NoncurrentVersionExpiration?: unknown }) => r.NoncurrentVersionExpiration);
    expect(rules).toHaveLength(2);
    for (const r of rules) expect(r.NoncurrentVersionExpiration).toEqual({ NoncurrentDays: 7 });
  });
});

describe('network', () => {
  type Resource = { Properties: Record<string, unknown> };
  /** Each subnet: its zone (index into the region's zones), public or not, and where its default route goes. */
  function subnets(t: Template): { zone: number; public: boolean; publicIps: boolean; cidr: string; defaultRoute: string }[] {
    const routes = Object.values(t.findResources('AWS::EC2::Route')) as Resource[];
    const associations = Object.values(t.findResources('AWS::EC2::SubnetRouteTableAssociation')) as Resource[];
    return Object.entries(t.findResources('AWS::EC2::Subnet') as Record<string, Resource>)
      .map(([id, subnet]) => {
        const table = (associations.find((a) => (a.Properties.SubnetId as { Ref: string }).Ref === id)!.Properties.RouteTableId as { Ref: string }).Ref;
        const route = routes.find((r) => (r.Properties.RouteTableId as { Ref: string }).Ref === table && r.Properties.DestinationCidrBlock === '0.0.0.0/0');
        const target = route ? Object.keys(route.Properties).find((k) => k === 'GatewayId' || k === 'NatGatewayId') ?? 'other' : 'none';
        return {
          zone: (subnet.Properties.AvailabilityZone as { 'Fn::Select': [number, unknown] })['Fn::Select'][0],
          public: (subnet.Properties.Tags as { Key: string; Value: string }[]).some((tag) => tag.Key === 'aws-cdk:subnet-type' && tag.Value === 'Public'),
          publicIps: subnet.Properties.MapPublicIpOnLaunch === true,
          cidr: subnet.Properties.CidrBlock as string,
          defaultRoute: target,
        };
      })
      .sort((a, b) => a.cidr.localeCompare(b.cidr));
  }

  it('defaults to a public subnet in each of two zones, routed to the internet gateway, no NAT gateway, flow logs on', () => {
    const t = template();
    expect(subnets(t)).toEqual([
      { zone: 0, public: true, publicIps: true, cidr: '10.42.0.0/24', defaultRoute: 'GatewayId' },
      { zone: 1, public: true, publicIps: true, cidr: '10.42.1.0/24', defaultRoute: 'GatewayId' },
    ]);
    t.resourceCountIs('AWS::EC2::NatGateway', 0);
    t.hasResourceProperties('AWS::EC2::FlowLog', { ResourceType: 'VPC', TrafficType: 'ALL', LogDestinationType: 'cloud-watch-logs' });
    t.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
    t.hasResourceProperties('AWS::EC2::VPCEndpoint', { VpcEndpointType: 'Gateway', ServiceName: Match.objectLike({ 'Fn::Join': Match.arrayWith([Match.arrayWith(['.s3'])]) }) });
  });

  it('offers private subnets behind a NAT gateway per zone', () => {
    const t = template({ privateSubnets: 'true', natGateways: '2' });
    const all = subnets(t);
    expect(all.filter((s) => s.public).map((s) => [s.zone, s.defaultRoute])).toEqual([[0, 'GatewayId'], [1, 'GatewayId']]);
    expect(all.filter((s) => !s.public).map((s) => [s.zone, s.defaultRoute]).sort()).toEqual([[0, 'NatGatewayId'], [1, 'NatGatewayId']]);
    // Builders there get no public address.
    expect(all.filter((s) => s.publicIps)).toEqual([]);
    t.resourceCountIs('AWS::EC2::NatGateway', 2);
  });

  it('uses one zone when asked: one public subnet, in the first zone', () => {
    expect(subnets(template({ maxAzs: 1 }))).toEqual([{ zone: 0, public: true, publicIps: true, cidr: '10.42.0.0/24', defaultRoute: 'GatewayId' }]);
  });
});

describe('builder access', () => {
  it('has no ingress at all by default', () => {
    const t = template();
    t.resourceCountIs('AWS::EC2::SecurityGroupIngress', 0);
    const groups = Object.values(t.findResources('AWS::EC2::SecurityGroup'));
    expect(groups).toHaveLength(1);
    expect(groups[0].Properties.SecurityGroupIngress).toBeUndefined();
  });

  it('allows only 22/tcp from the configured CIDR', () => {
    const groups = Object.values(template({ sshIngressCidr: '203.0.113.0/24' }).findResources('AWS::EC2::SecurityGroup'));
    expect(groups[0].Properties.SecurityGroupIngress).toEqual([
      { CidrIp: '203.0.113.0/24', Description: 'SSH from the operators network', FromPort: 22, IpProtocol: 'tcp', ToPort: 22 },
    ]);
  });

  it('has an ed25519 key pair', () => {
    template().hasResourceProperties('AWS::EC2::KeyPair', { KeyType: 'ed25519', KeyFormat: 'pem' });
  });
});

describe('configuration errors are actionable', () => {
  it.each([
    [{ sshIngressCidr: 'my-office' }, "sshIngressCidr 'my-office' is not an IPv4 CIDR such as 203.0.113.0/24"],
    [{ sshIngressCidr: '0.0.0.0/0' }, 'opens SSH to the whole internet'],
    [{ sshIngressCidr: 22 }, "cdk context 'sshIngressCidr': expected a string, got 22. Set it in cdk.json under \"context\" or with -c sshIngressCidr=..."],
    [{ maxAzs: '3' }, "cdk context 'maxAzs': expected a whole number from 1 to 2, got \"3\""],
    [{ maxAzs: 'two' }, "cdk context 'maxAzs': expected a whole number from 1 to 2, got \"two\""],
    [{ privateSubnets: 'yes' }, "cdk context 'privateSubnets': expected true or false, got \"yes\""],
    [{ natGateways: 1 }, 'natGateways only applies with privateSubnets: true'],
    [{ flowLogRetentionDays: 100 }, "cdk context 'flowLogRetentionDays': CloudWatch Logs keeps logs for one of 1, 3, 5, 7, 14"],
    [{ noncurrentVersionDays: 0 }, "cdk context 'noncurrentVersionDays': expected a whole number from 1 to 3650, got 0"],
  ])('%j', (context, message) => {
    expect(() => farmApp(context)).toThrow(message);
  });

  it.each([
    [{ stemcellLines: { 'ubuntu-jammy': { schedule: 'cron(bad)' } } }, "cdk context 'stemcellLines.ubuntu-jammy.schedule'"],
    [{ sshIngressCidr: '0.0.0.0/0' }, 'opens SSH to the whole internet'],
  ])('cdk synth with %j says what to fix, without a stack trace', (context, message) => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'farm-synth-'));
    try {
      // What the cdk CLI hands the app: the context as JSON, the output folder.
      const r = spawnSync('npx', ['tsx', 'bin/stemcell-farm.ts'], { cwd: path.join(__dirname, '..', '..'), env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify(context), CDK_OUTDIR: out, CDK_DEBUG: '' }, encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(message);
      expect(r.stderr).not.toMatch(/^\s+at /m);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});

describe('cdk-nag AwsSolutions', () => {
  it.each([{}, { sshIngressCidr: '198.51.100.7/32' }, { privateSubnets: true, natGateways: 2 }])('has no unacknowledged findings with %j', (context) => {
    expect(nagViolations(context)).toEqual([]);
  });

  it('would report a finding (the check is live)', () => {
    const found = nagViolations({}, ({ stack }) => new s3.Bucket(stack, 'Careless'));
    expect(found).toEqual(['AwsSolutions-S1 StemcellFarm/Careless/Resource', 'AwsSolutions-S10 StemcellFarm/Careless/Resource']);
  });

  it('fails synthesis on an unacknowledged finding', () => {
    const { app, stack } = farmApp();
    new s3.Bucket(stack, 'Careless');
    expect(() => app.synth()).toThrow(/ERROR The S3 Bucket has server access logs disabled. \(AwsSolutions\)/);
  });
});

describe('cdk synth', () => {
  it('works offline with no AWS credentials', () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'no-aws-'));
    const out = path.join(home, 'cdk.out');
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_') && !k.startsWith('CDK_')));
    const r = spawnSync('npx', ['cdk', 'synth', '--quiet', '--output', out], {
      cwd: path.join(__dirname, '..', '..'),
      env: { ...env, HOME: home, AWS_EC2_METADATA_DISABLED: 'true' },
      encoding: 'utf8',
    });
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.status).toBe(0);
    const synthesized = JSON.parse(fs.readFileSync(path.join(out, 'StemcellFarm.template.json'), 'utf8'));
    expect(Object.keys(synthesized.Resources).length).toBeGreaterThan(20);
    fs.rmSync(home, { recursive: true, force: true });
  });
});
