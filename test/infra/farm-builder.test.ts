/**
 * The builder and the build runbook as synthesized: roles (least privilege,
 * PassRole scope, trust), the launch template (IMDSv2, shutdown = terminate,
 * watchdog, no key pair unless SSH is configured), the Run Command document
 * and its logging, the documents' update method, and the runbook's shape: every
 * step between the launch and the builder's termination ends in terminating it.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { farmApp } from '../helpers/farm';
import { list, Resources, templateReader } from '../helpers/template';

const t = Template.fromStack(farmApp().stack);
const { json, byPrefix, statementsOf, actions, withAction } = templateReader(t);
const runbook = () => byPrefix('AWS::SSM::Document', 'BuildRunbookDocument')[1].Properties;
const steps = () => (runbook().Content as { mainSteps: Record<string, unknown>[] }).mainSteps;
const step = (name: string) => steps().find((s) => s.name === name)!;

describe('the build runbook', () => {
  it('is a named Automation document that deploys as a new version', () => {
    expect(runbook()).toMatchObject({ DocumentType: 'Automation', Name: 'StemcellFarm-Build', UpdateMethod: 'NewVersion', DocumentFormat: 'JSON' });
    expect(byPrefix('AWS::SSM::Document', 'BuilderBuildDocument')[1].Properties).toMatchObject({ DocumentType: 'Command', Name: 'StemcellFarm-BuildOnHost', UpdateMethod: 'NewVersion' });
    t.hasOutput('BuildRunbookName', {});
  });

  it('takes its own role by default', () => {
    const [roleId] = byPrefix('AWS::IAM::Role', 'BuildRunbookRole');
    expect((runbook().Content as { parameters: { AutomationAssumeRole: { default: unknown } } }).parameters.AutomationAssumeRole.default).toEqual({ 'Fn::GetAtt': [roleId, 'Arn'] });
  });

  it('sends every failure and cancel between the launch and the termination to the step that terminates the builder', () => {
    const names = steps().map((s) => s.name as string);
    const window = names.slice(names.indexOf('WaitForBuilder'), names.indexOf('TerminateBuilder') + 1);
    expect(window).toEqual(['WaitForBuilder', 'BuildOnHost', 'TerminateBuilder']);
    for (const name of window) expect(step(name)).toMatchObject({ onFailure: 'step:TerminateAfterFailure', onCancel: 'step:TerminateAfterFailure' });
    expect(step('TerminateAfterFailure')).toMatchObject({ action: 'aws:executeAwsApi', isEnd: true, inputs: { Service: 'ec2', Api: 'TerminateInstances', InstanceIds: ['{{ LaunchBuilder.InstanceId }}'] } });
  });

  it('launches encrypted gp3 from the launch template, idempotently, tagged as the farm', () => {
    const [ltId] = byPrefix('AWS::EC2::LaunchTemplate', 'BuilderLaunchTemplate');
    expect(step('LaunchBuilder').inputs).toMatchObject({
      LaunchTemplate: { LaunchTemplateId: { Ref: ltId }, Version: { 'Fn::GetAtt': [ltId, 'LatestVersionNumber'] } },
      ClientToken: '{{ Decode.BuildId }}',
      BlockDeviceMappings: [{ Ebs: { VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true } }],
    });
  });

  it('runs the build with an explicit timeout, its full log in CloudWatch Logs', () => {
    const [logsId] = byPrefix('AWS::Logs::LogGroup', 'BuilderBuildLogs');
    const build = step('BuildOnHost');
    expect(build.timeoutSeconds).toBe(4 * 3600);
    expect(build.inputs).toMatchObject({ TimeoutSeconds: 600, CloudWatchOutputConfig: { CloudWatchLogGroupName: { Ref: logsId }, CloudWatchOutputEnabled: true } });
    const command = byPrefix('AWS::SSM::Document', 'BuilderBuildDocument')[1].Properties.Content as { mainSteps: { action: string; inputs: Record<string, unknown> }[] };
    const shell = command.mainSteps.find((s) => s.action === 'aws:runShellScript')!;
    // The script stops before the step gives up, so its own error is what the step reports.
    expect(Number(shell.inputs.timeoutSeconds)).toBeLessThan(build.timeoutSeconds as number);
    expect(command.mainSteps[0]).toMatchObject({ action: 'aws:downloadContent', inputs: { sourceType: 'S3' } });
  });

  it('keeps every Lambda call within aws:invokeLambdaFunction’s 300 s, and each function’s timeout below it', () => {
    const functions = Object.fromEntries(Object.entries(json.Resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function'));
    const lambdaSteps = steps().flatMap((s) => (s.action === 'aws:loop' ? ((s.inputs as { Steps: Record<string, unknown>[] }).Steps) : [s])).filter((s) => s.action === 'aws:invokeLambdaFunction');
    expect(lambdaSteps.map((s) => s.name)).toEqual(['Prepare', 'ReadResult', 'Register', 'Copy', 'LightStemcell']);
    for (const s of lambdaSteps) {
      expect(s.timeoutSeconds).toBe(300);
      const fn = functions[((s.inputs as { FunctionName: { Ref: string } }).FunctionName).Ref];
      expect([s.name, (fn.Properties.Timeout as number) < 300]).toEqual([s.name, true]);
    }
    expect(step('CopyAmi')).toMatchObject({ action: 'aws:loop', inputs: { MaxIterations: 100 } });
  });
});

describe('the runbook role', () => {
  const [roleId, role] = byPrefix('AWS::IAM::Role', 'BuildRunbookRole');
  const statements = statementsOf(roleId);

  it('is assumed by Systems Manager for this account’s executions only', () => {
    expect(role.Properties.AssumeRolePolicyDocument).toMatchObject({
      Statement: [
        {
          Principal: { Service: 'ssm.amazonaws.com' },
          Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } }, ArnLike: { 'aws:SourceArn': { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ssm:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':automation-execution/*']] } } },
        },
      ],
    });
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
  });

  it('has only what its steps call', () => {
    expect(actions(statements)).toEqual(
      ['ec2:CreateTags', 'ec2:DescribeInstanceStatus', 'ec2:DescribeInstances', 'ec2:DescribeLaunchTemplateVersions', 'ec2:RunInstances', 'ec2:TerminateInstances', 'iam:PassRole', 'lambda:InvokeFunction', 'ssm:CancelCommand', 'ssm:DescribeInstanceInformation', 'ssm:GetCommandInvocation', 'ssm:ListCommandInvocations', 'ssm:ListCommands', 'ssm:SendCommand'].sort(),
    );
  });

  it('passes only the builder role, only to EC2', () => {
    const [builderRoleId] = byPrefix('AWS::IAM::Role', 'BuilderRole');
    expect(withAction(statements, 'iam:PassRole')).toEqual([{ Effect: 'Allow', Action: 'iam:PassRole', Resource: { 'Fn::GetAtt': [builderRoleId, 'Arn'] }, Condition: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } } }]);
  });

  it('invokes only the farm’s functions the runbook calls', () => {
    const [invoke] = withAction(statements, 'lambda:InvokeFunction');
    const ids = list(invoke.Resource).map((r) => (r as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]).sort();
    expect(ids.map((id) => id.replace(/[0-9A-F]{8}$/, ''))).toEqual(['AmiPublishingCopyAmi', 'AmiPublishingLightStemcell', 'AmiPublishingRegisterAmi', 'BuildRunbookPrepare', 'BuildRunbookReadResult']);
  });

  it('terminates and commands only farm-tagged instances, and launches only tagged ones', () => {
    const ours = { StringEquals: { 'aws:ResourceTag/managed-by': 'stemcell-farm' } };
    expect(withAction(statements, 'ec2:TerminateInstances')[0].Condition).toEqual(ours);
    expect(withAction(statements, 'ssm:SendCommand').some((s) => JSON.stringify(s.Condition) === JSON.stringify(ours))).toBe(true);
    expect(withAction(statements, 'ec2:RunInstances').some((s) => JSON.stringify(s.Condition) === JSON.stringify({ StringEquals: { 'aws:RequestTag/managed-by': 'stemcell-farm' } }))).toBe(true);
  });
});

describe('the builder', () => {
  const [roleId, role] = byPrefix('AWS::IAM::Role', 'BuilderRole');
  const statements = statementsOf(roleId);
  const [, lt] = byPrefix('AWS::EC2::LaunchTemplate', 'BuilderLaunchTemplate');
  const data = lt.Properties.LaunchTemplateData as Record<string, unknown>;

  it('requires IMDSv2, terminates when it shuts down, powers off after the longest build, and has no key pair', () => {
    expect(data.MetadataOptions).toMatchObject({ HttpTokens: 'required', HttpPutResponseHopLimit: 1 });
    expect(data.InstanceInitiatedShutdownBehavior).toBe('terminate');
    expect(data.KeyName).toBeUndefined();
    expect(data.IamInstanceProfile).toBeDefined();
    expect(JSON.stringify(data.UserData)).toContain('shutdown -P +240');
  });

  it('gets the key pair when SSH is configured', () => {
    const withSsh = Template.fromStack(farmApp({ sshIngressCidr: '203.0.113.0/24' }).stack).toJSON() as { Resources: Resources };
    const template = Object.values(withSsh.Resources).find((r) => r.Type === 'AWS::EC2::LaunchTemplate' && JSON.stringify(r.Properties).includes('terminate'))!;
    expect((template.Properties.LaunchTemplateData as Record<string, unknown>).KeyName).toBeDefined();
  });

  it('has no managed policies, writes only new objects, and makes only farm-tagged snapshots', () => {
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    for (const put of withAction(statements, 's3:PutObject')) expect(put.Condition).toEqual({ StringEquals: { 's3:if-none-match': '*' } });
    expect(withAction(statements, 'ebs:StartSnapshot')[0].Condition).toEqual({ StringEquals: { 'aws:RequestTag/managed-by': 'stemcell-farm' } });
    for (const s of [...withAction(statements, 'ebs:PutSnapshotBlock'), ...withAction(statements, 'ec2:DeleteSnapshot')]) expect(s.Condition).toEqual({ StringEquals: { 'aws:ResourceTag/managed-by': 'stemcell-farm' } });
    expect(actions(statements).filter((a) => a.startsWith('s3:'))).toEqual(['s3:GetObject', 's3:ListBucket', 's3:PutObject']);
    expect(actions(statements).some((a) => a.endsWith('*') || a.includes('Delete') && !a.startsWith('ec2:DeleteSnapshot') && !a.startsWith('ec2messages:'))).toBe(false);
  });

  it('reads the code asset object and nothing else of the assets bucket (listing only its key, as aws:downloadContent does first)', () => {
    const asset = withAction(statements, 's3:GetObject').filter((s) => JSON.stringify(s.Resource).includes('cdk-'));
    expect(asset).toHaveLength(1);
    expect(JSON.stringify(asset[0].Resource)).toMatch(/\.zip"/);
    const list = withAction(statements, 's3:ListBucket').filter((s) => JSON.stringify(s.Resource).includes('cdk-'));
    expect(list).toHaveLength(1);
    expect(JSON.stringify(list[0].Condition)).toMatch(/"s3:prefix":\["[0-9a-f]{64}\.zip","[0-9a-f]{64}\.zip\/\*"\]/);
  });

  it('names snapshots as EC2 does, with no account in the ARN', () => {
    for (const s of [...withAction(statements, 'ebs:StartSnapshot'), ...withAction(statements, 'ec2:DeleteSnapshot')]) {
      expect(s.Resource).toEqual({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ec2:', { Ref: 'AWS::Region' }, '::snapshot/*']] });
    }
  });
});

describe('the integ-runner test of the runbook (test/integ)', () => {
  it('synthesizes the farm and its assertions without AWS, so only the deploy is left to a real account', () => {
    const out = fs.mkdtempSync(path.join(__dirname, '..', '..', '.bundle-test-integ-'));
    try {
      const r = spawnSync('npx', ['tsx', path.join('test', 'integ', 'integ.build-runbook.ts')], { cwd: path.join(__dirname, '..', '..'), env: { ...process.env, CDK_OUTDIR: out }, encoding: 'utf8' });
      expect(r.stderr).not.toMatch(/Error/);
      expect(r.status).toBe(0);
      const integ = JSON.parse(fs.readFileSync(path.join(out, 'integ.json'), 'utf8'));
      expect(Object.keys(integ.testCases)).toEqual(['BuildRunbook/DefaultTest']);
      const assertionsFile = fs.readdirSync(out).find((f) => f.startsWith('BuildRunbookDefaultTestDeployAssert') && f.endsWith('.template.json'))!;
      const calls = Object.values(JSON.parse(fs.readFileSync(path.join(out, assertionsFile), 'utf8')).Resources as Record<string, { Type: string }>).map((res) => res.Type);
      expect(calls).toEqual(expect.arrayContaining(['Custom::DeployAssert@SdkCallSSMstartAutomationExecution', 'Custom::DeployAssert@SdkCallSSMgetAutomationExecution', 'Custom::DeployAssert@SdkCallEC2describeInstances', 'Custom::DeployAssert@SdkCallDynamoDBgetItem']));
      // The code asset was bundled: the CLI in one file, with the stage scripts.
      const asset = fs.readdirSync(out).find((f) => f.startsWith('asset.') && fs.existsSync(path.join(out, f, 'lib', 'cli', 'stemcell.cjs')));
      expect(asset).toBeDefined();
      expect(fs.existsSync(path.join(out, asset!, 'stage-scripts', 'builder', 'farm-build.sh'))).toBe(true);
      // The bundle runs on its own (no node_modules, no tsx), and finds its stage scripts.
      const cli = path.join(out, asset!, 'lib', 'cli', 'stemcell.cjs');
      const version = spawnSync(process.execPath, [cli, '--version'], { cwd: os.tmpdir(), encoding: 'utf8' });
      expect(version.stdout.trim()).toBe(JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')).version);
      const doctor = spawnSync(process.execPath, [cli, 'doctor', 'check'], { cwd: os.tmpdir(), encoding: 'utf8' });
      expect(doctor.stdout).toMatch(/^check\s/m);
      const usage = spawnSync(process.execPath, [cli, 'farm-build', '--request', 's3://x'], { cwd: os.tmpdir(), env: { ...process.env, AWS_REGION: 'eu-west-1' }, encoding: 'utf8' });
      expect(usage.status).toBe(2);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});
