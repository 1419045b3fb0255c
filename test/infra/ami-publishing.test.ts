import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { farmApp } from '../helpers/farm';

type Statement = { Action: string | string[]; Resource: unknown; Condition?: Record<string, Record<string, string>>; Effect: string };

const template = (overrides: Record<string, unknown> = {}): Template => Template.fromStack(farmApp(overrides).stack);

/** The function's logical id and its role's policy statements, by the function's construct id. */
function functionPolicy(t: Template, id: string): { functionId: string; statements: Statement[] } {
  const functions = t.findResources('AWS::Lambda::Function');
  const functionId = Object.keys(functions).find((k) => k.startsWith(`AmiPublishing${id}`) && !k.includes('Role') && !k.includes('Logs'))!;
  const roleId = functions[functionId].Properties.Role['Fn::GetAtt'][0];
  const policies = Object.values(t.findResources('AWS::IAM::Policy')).filter((p) => p.Properties.Roles.some((r: { Ref: string }) => r.Ref === roleId));
  expect(policies).toHaveLength(1);
  return { functionId, statements: policies[0].Properties.PolicyDocument.Statement };
}

const list = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);
const actionsOf = (statements: Statement[]): string[] => statements.flatMap((s) => list(s.Action)).sort();

/** Whether some statement allows `action` on `resource` under exactly `condition`. */
function allows(statements: Statement[], action: string, resource: unknown, condition?: Statement['Condition']): boolean {
  const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
  return statements.some((s) => list(s.Action).includes(action) && list(s.Resource).some((r) => same(r, resource)) && same(s.Condition, condition));
}
const IMAGES = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ec2:*::image/*']] };
const SNAPSHOTS = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ec2:*::snapshot/*']] };
const OURS = { StringEquals: { 'aws:ResourceTag/managed-by': 'stemcell-farm' } };
const LOG_WRITES = ['logs:CreateLogStream', 'logs:PutLogEvents'];

describe('AMI publishing functions', () => {
  const t = template();

  it('are five Node.js 22 functions, each with its own role, no managed policies, and its own log group kept three months', () => {
    const functions = Object.entries(t.findResources('AWS::Lambda::Function')).filter(([id]) => id.startsWith('AmiPublishing')).map(([, f]) => f);
    expect(functions).toHaveLength(5);
    for (const f of functions) {
      expect(f.Properties).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'], LoggingConfig: { LogGroup: { Ref: expect.stringMatching(/Logs/) } } });
    }
    expect(new Set(functions.map((f) => f.Properties.Role['Fn::GetAtt'][0])).size).toBe(5);
    for (const [id, role] of Object.entries(t.findResources('AWS::IAM::Role'))) if (id.startsWith('AmiPublishing')) expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    const logGroups = Object.entries(t.findResources('AWS::Logs::LogGroup')).filter(([id]) => id.startsWith('AmiPublishing'));
    expect(logGroups.map(([, g]) => g.Properties.RetentionInDays)).toEqual([90, 90, 90, 90, 90]);
    // The runbook calls these through aws:invokeLambdaFunction, which waits 300 s at most.
    t.hasResourceProperties('AWS::Lambda::Function', { Handler: 'index.copy', Timeout: 270 });
    t.hasResourceProperties('AWS::Lambda::Function', { Description: Match.stringLikeRegexp('^Registers'), Timeout: 270 });
    t.hasResourceProperties('AWS::Lambda::Function', { Description: Match.stringLikeRegexp('^Writes the light'), Timeout: 270 });
    t.hasResourceProperties('AWS::Lambda::Function', { Handler: 'index.check', Timeout: 120 });
  });

  it('register-ami: registers from farm-tagged snapshots and tags only what it registers', () => {
    const { statements } = functionPolicy(t, 'RegisterAmi');
    expect(actionsOf(statements)).toEqual(['ec2:CreateTags', 'ec2:CreateTags', 'ec2:DescribeImages', 'ec2:DescribeSnapshots', 'ec2:RegisterImage', 'ec2:RegisterImage', ...LOG_WRITES].sort());
    expect(allows(statements, 'ec2:RegisterImage', IMAGES)).toBe(true);
    expect(allows(statements, 'ec2:RegisterImage', SNAPSHOTS, OURS)).toBe(true);
    expect(allows(statements, 'ec2:CreateTags', IMAGES, { StringEquals: { 'ec2:CreateAction': 'RegisterImage' } })).toBe(true);
    expect(allows(statements, 'ec2:CreateTags', SNAPSHOTS, OURS)).toBe(true);
    expect(allows(statements, 'ec2:RegisterImage', SNAPSHOTS)).toBe(false);
  });

  it('copy-ami: copies, tags copies as it makes them, and shares or replaces only farm-tagged AMIs', () => {
    const { statements } = functionPolicy(t, 'CopyAmi');
    expect(actionsOf(statements)).toEqual(
      ['ec2:CopyImage', 'ec2:CreateTags', 'ec2:DeregisterImage', 'ec2:DescribeImages', 'ec2:DescribeRegions', 'ec2:GetImageBlockPublicAccessState', 'ec2:ModifyImageAttribute', 'ec2:ModifySnapshotAttribute', ...LOG_WRITES].sort(),
    );
    const copyTags = { StringEquals: { 'ec2:CreateAction': 'CopyImage' } };
    expect(allows(statements, 'ec2:CopyImage', IMAGES)).toBe(true);
    expect(allows(statements, 'ec2:CreateTags', IMAGES, copyTags) && allows(statements, 'ec2:CreateTags', SNAPSHOTS, copyTags)).toBe(true);
    expect(allows(statements, 'ec2:ModifyImageAttribute', IMAGES, OURS) && allows(statements, 'ec2:DeregisterImage', IMAGES, OURS)).toBe(true);
    expect(allows(statements, 'ec2:ModifySnapshotAttribute', SNAPSHOTS, OURS)).toBe(true);
    expect(JSON.stringify(statements)).not.toMatch(/kms:/);
  });

  it('check: only looks', () => {
    expect(actionsOf(functionPolicy(t, 'CheckAmiCopies').statements)).toEqual(['ec2:DescribeImages', 'ec2:DescribeRegions', ...LOG_WRITES].sort());
  });

  it('light-stemcell: reads the stemcell bucket, writes only new light-*.tgz objects, tags only farm AMIs', () => {
    const { functionId, statements } = functionPolicy(t, 'LightStemcell');
    expect(actionsOf(statements)).toEqual(['ec2:CreateTags', 's3:GetObject', 's3:PutObject', ...LOG_WRITES].sort());
    const bucket = { 'Fn::GetAtt': [expect.stringMatching(/^BucketsStemcells/), 'Arn'] };
    expect(statements).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Action: 's3:GetObject', Resource: { 'Fn::Join': ['', [bucket, '/*']] } }),
        expect.objectContaining({ Action: 's3:PutObject', Resource: { 'Fn::Join': ['', [bucket, '/*light-*.tgz']] }, Condition: { StringEquals: { 's3:if-none-match': '*' } } }),
        expect.objectContaining({ Action: 'ec2:CreateTags', Resource: IMAGES, Condition: OURS }),
      ]),
    );
    const fn = t.findResources('AWS::Lambda::Function')[functionId];
    expect(fn.Properties.Environment.Variables.STEMCELL_BUCKET).toEqual({ Ref: expect.stringMatching(/^BucketsStemcells/) });
  });

  it('cleanup: deregisters only unpublished farm AMIs and deletes only farm snapshots', () => {
    const { statements } = functionPolicy(t, 'CleanupAmis');
    expect(actionsOf(statements)).toEqual(['ec2:DeleteSnapshot', 'ec2:DeregisterImage', 'ec2:DescribeImages', 'ec2:DescribeRegions', ...LOG_WRITES].sort());
    expect(statements).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Action: 'ec2:DeregisterImage', Resource: IMAGES, Condition: { StringEquals: { 'aws:ResourceTag/managed-by': 'stemcell-farm', 'aws:ResourceTag/published': 'false' } } }),
        expect.objectContaining({ Action: 'ec2:DeleteSnapshot', Resource: SNAPSHOTS, Condition: OURS }),
      ]),
    );
  });

  it('grants * only to actions that have no resource-level permissions', () => {
    for (const id of ['RegisterAmi', 'CopyAmi', 'CheckAmiCopies', 'LightStemcell', 'CleanupAmis']) {
      const wildcard = functionPolicy(t, id).statements.filter((s) => s.Resource === '*');
      expect(actionsOf(wildcard).every((a) => /^ec2:(Describe|GetImageBlockPublicAccessState)/.test(a))).toBe(true);
    }
  });

  it('lets copy-ami use the configured KMS keys, and grants only to AWS resources', () => {
    const key = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const { statements } = functionPolicy(template({ amiCopyKmsKeyArns: key }), 'CopyAmi');
    expect(statements).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Action: expect.arrayContaining(['kms:Encrypt', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:ReEncryptTo']), Resource: key }),
        expect.objectContaining({ Action: 'kms:CreateGrant', Resource: key, Condition: { Bool: { 'kms:GrantIsForAWSResource': 'true' } } }),
      ]),
    );
    expect(() => template({ amiCopyKmsKeyArns: 'alias/stemcells' })).toThrow(/cdk context 'amiCopyKmsKeyArns': expected KMS key ARNs/);
  });
});

describe('AMI publishing bundles', () => {
  it('are bundled by esbuild during synth, load, and refuse bad input before calling AWS', async () => {
    // Inside the project, so the bundles find the AWS SDK the Lambda runtime would provide.
    const outdir = fs.mkdtempSync(path.join(__dirname, '..', '..', '.bundle-test-'));
    try {
      const { app, stack } = farmApp({}, { bundle: true, outdir });
      app.synth();
      const functions = Template.fromStack(stack).findResources('AWS::Lambda::Function');
      const handlers: Record<string, unknown> = {};
      for (const f of Object.entries(functions).filter(([id]) => id.startsWith('AmiPublishing')).map(([, fn]) => fn)) {
        const bundle = path.join(outdir, f.Metadata['aws:asset:path'], 'index.js');
        expect(f.Metadata['aws:asset:is-bundled']).toBe(true);
        expect(fs.statSync(bundle).size).toBeGreaterThan(1000);
        const exported = require(bundle);
        const name = f.Properties.Handler.replace(/^index\./, '');
        expect(typeof exported[name]).toBe('function');
        handlers[f.Properties.Description] = exported[name];
      }
      expect(Object.keys(handlers)).toHaveLength(5);
      const register = Object.entries(handlers).find(([d]) => d.startsWith('Registers'))![1] as (e: unknown, c: unknown) => Promise<unknown>;
      await expect(register({ region: 'us-east-1' }, { getRemainingTimeInMillis: () => 60_000 })).rejects.toThrow(/'snapshotId' is required/);
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });
});

describe('the integ-runner test (test/integ)', () => {
  it('synthesizes its stack and its assertions without AWS, so only the deploy is left to a real account', () => {
    const out = fs.mkdtempSync(path.join(__dirname, '..', '..', '.bundle-test-integ-'));
    try {
      const r = spawnSync('npx', ['tsx', path.join('test', 'integ', 'integ.ami-publishing.ts')], {
        cwd: path.join(__dirname, '..', '..'),
        env: { ...process.env, CDK_OUTDIR: out },
        encoding: 'utf8',
      });
      expect(r.stderr).not.toMatch(/Error/);
      expect(r.status).toBe(0);
      const integ = JSON.parse(fs.readFileSync(path.join(out, 'integ.json'), 'utf8'));
      expect(Object.keys(integ.testCases)).toEqual(['AmiPublishing/DefaultTest']);
      const assertions = JSON.parse(fs.readFileSync(path.join(out, 'AmiPublishingDefaultTestDeployAssert747075B5.template.json'), 'utf8'));
      const invokes = Object.values(assertions.Resources as Record<string, { Type: string }>).filter((res) => res.Type === 'Custom::DeployAssert@SdkCallLambdainvoke');
      expect(invokes.length).toBeGreaterThanOrEqual(7);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});
