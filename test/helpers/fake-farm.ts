/**
 * The deployed farm, simulated, for running the synthesized build runbook:
 * the stack's template with made-up physical ids, its Lambdas run from their
 * handler files with the environment the template gives them, and EC2, S3 and
 * Systems Manager behind aws-sdk-client-mock (FakeEc2, FakeS3 and the SSM
 * here). The builder instance is a stand-in that, given the Run Command, does
 * what `stemcell farm-build` does to S3 and EC2 (that command itself is tested
 * end to end against a real S3 server): it reads the request Prepare wrote,
 * stores the stemcells and an EBS snapshot, and writes result.json.
 */
import * as EC2 from '@aws-sdk/client-ec2';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import * as SSM from '@aws-sdk/client-ssm';
import { AutomationExecution as SsmAutomationExecution, GetAutomationExecutionCommand, GetCommandInvocationCommand, GetParameterCommand, DescribeInstanceInformationCommand, SendCommandCommand, SendCommandCommandInput, SSMClient, SSMServiceException } from '@aws-sdk/client-ssm';
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { mockClient } from 'aws-sdk-client-mock';
import * as fs from 'node:fs';
import { FarmFunction } from '../../lib/constructs/farm-function';
import { OBJECT_METADATA } from '../../lib/farm/keys';
import { resultKey } from '../../lib/farm/keys';
import { parseBuildRequest } from '../../lib/farm/request';
import { BuildResult, RESULT_SCHEMA } from '../../lib/farm/result';
import { digestOf } from '../../lib/digests';
import { amiStemcellFromManifest, stemcellTags } from '../../lib/stemcell/ami';
import { readStemcellTarball } from '../../lib/stemcell/tarball';
import { AutomationEnvironment, ExecutionResult, Value } from './automation';
import { FakeDynamoDB, schemaOf } from './fake-dynamodb';
import { Deployment, physicalId, resolveIntrinsics } from './cfn';
import { ACCOUNT, FakeEc2 } from './fake-ec2';
import { FakeS3 } from './fake-s3';
import { makeHeavyStemcell, tempDir } from './stemcells';

export const REGION = 'eu-west-1';
export const DEPLOYMENT: Deployment = { region: REGION, account: ACCOUNT, partition: 'aws', physicalIds: {} };
export const BUILDER_AMI = 'ami-0b0b0b0b0b0b0b0b0';

type CfnTemplate = { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };

/** What the stand-in builder does when the command arrives. */
export interface BuilderBehaviour {
  /** @default 25 minutes */
  buildMs: number;
  /** The command ends Failed (exit 4), writing nothing. @default false */
  fail: boolean;
  /** Write no result.json although the command succeeds. @default false */
  noResult: boolean;
}

export class FakeFarm {
  readonly template: CfnTemplate;
  readonly ssm = mockClient(SSMClient);
  readonly commands: { input: SendCommandCommandInput; commandId: string; doneAt: number; status: string }[] = [];
  readonly builder: BuilderBehaviour = { buildMs: 25 * 60_000, fail: false, noResult: false };
  /** Prepare's builder image parameter. */
  readonly parameters = new Map<string, string>();
  readonly stemcellBucket: string;
  readonly osImageBucket: string;
  /** The stack's DynamoDB tables, by logical id prefix: Versions and Builds. */
  readonly dynamodb = new FakeDynamoDB();
  readonly sns = mockClient(SNSClient);
  /** Executions that ended, as GetAutomationExecution reports them. */
  readonly executions = new Map<string, SsmAutomationExecution>();
  private readonly workDir = tempDir('fake-farm-');

  constructor(
    readonly stack: Stack,
    readonly ec2: FakeEc2,
    makeS3: (buckets: string[]) => FakeS3,
  ) {
    this.template = Template.fromStack(stack).toJSON() as CfnTemplate;
    const bucketOf = (prefix: string): string => physicalId(this.template, DEPLOYMENT, Object.keys(this.template.Resources).find((id) => id.startsWith(prefix) && this.template.Resources[id].Type === 'AWS::S3::Bucket')!);
    this.stemcellBucket = bucketOf('BucketsStemcells');
    this.osImageBucket = bucketOf('BucketsOsImages');
    this.s3 = makeS3([this.stemcellBucket, this.osImageBucket]);
    this.parameters.set('/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id', BUILDER_AMI);
    for (const [id, r] of Object.entries(this.template.Resources)) {
      if (r.Type === 'AWS::DynamoDB::Table') this.dynamodb.addTable(physicalId(this.template, DEPLOYMENT, id), schemaOf(r as never));
    }
    this.sns.on(PublishCommand).callsFake(async (input) => {
      const topic = Object.keys(this.template.Resources).find((id) => this.template.Resources[id].Type === 'AWS::SNS::Topic' && physicalId(this.template, DEPLOYMENT, id) === input.TopicArn);
      if (!topic) throw new Error(`NotFound: Topic does not exist: ${input.TopicArn}`);
      if (input.Subject !== undefined && (input.Subject.length >= 100 || /[^\x20-\x7e]/.test(input.Subject))) throw new Error('InvalidParameter: Subject must be ASCII, fewer than 100 characters');
      return { MessageId: `msg-${this.sns.commandCalls(PublishCommand).length}` };
    });
    this.wireSsm();
  }

  /** A table's physical name, by the logical id's prefix (HistoryVersions, HistoryBuilds). */
  tableName(prefix: string): string {
    const id = Object.keys(this.template.Resources).find((i) => i.startsWith(prefix) && this.template.Resources[i].Type === 'AWS::DynamoDB::Table');
    if (!id) throw new Error(`no table ${prefix}*`);
    return physicalId(this.template, DEPLOYMENT, id);
  }

  /**
   * The execution has ended: Systems Manager keeps it (GetAutomationExecution)
   * and EventBridge sends its status event, shaped as AWS documents it, to the
   * targets of every rule of the template whose pattern matches it.
   */
  async executionEnded(executionId: string, r: ExecutionResult): Promise<unknown[]> {
    const documentName = this.runbookName();
    const asList = (v: Value): string[] => (Array.isArray(v) ? v.map(String) : typeof v === 'object' && v !== null ? [JSON.stringify(v)] : [String(v)]);
    const outputs: Record<string, string[]> = {};
    for (const name of ['Decode.Version', 'Decode.StemcellKeys', 'Published.Amis', 'Published.LightStemcellKey']) {
      outputs[name] = name in r.outputs ? asList(r.outputs[name]) : ['No output available yet because the step is not successfully executed'];
    }
    this.executions.set(executionId, {
      AutomationExecutionId: executionId,
      DocumentName: documentName,
      DocumentVersion: '1',
      AutomationExecutionStatus: r.status,
      ExecutionStartTime: new Date(r.startedAt),
      ExecutionEndTime: new Date(r.endedAt),
      Parameters: Object.fromEntries(Object.entries(r.parameters).map(([k, v]) => [k, asList(v)])),
      Outputs: outputs,
      FailureMessage: r.failure,
      StepExecutions: r.steps.map((step) => ({
        StepName: step.name,
        Action: step.action,
        StepStatus: step.status,
        ExecutionStartTime: new Date(step.startedAt),
        ...(step.endedAt ? { ExecutionEndTime: new Date(step.endedAt) } : {}),
        ...(step.failure ? { FailureMessage: step.failure } : {}),
      })),
    });
    const fmt = (ms: number) => new Date(ms).toLocaleString('en-US', { timeZone: 'UTC', month: 'short', day: 'numeric', year: 'numeric', hour: 'numeric', minute: '2-digit', second: '2-digit' });
    const event = {
      version: '0',
      id: 'd290ece9-1088-4383-9df6-cd5b4ac42b99',
      'detail-type': 'EC2 Automation Execution Status-change Notification',
      source: 'aws.ssm',
      account: DEPLOYMENT.account,
      time: new Date(r.endedAt).toISOString().replace(/\.\d+Z$/, 'Z'),
      region: REGION,
      resources: [`arn:aws:ssm:${REGION}:${DEPLOYMENT.account}:automation-execution/${executionId}`, `arn:aws:ssm:${REGION}:${DEPLOYMENT.account}:automation-definition/${documentName}:1`],
      detail: { ExecutionId: executionId, Definition: documentName, DefinitionVersion: 1.0, Status: r.status, StartTime: fmt(r.startedAt), EndTime: fmt(r.endedAt), Time: r.endedAt - r.startedAt, ExecutedBy: `arn:aws:sts::${DEPLOYMENT.account}:assumed-role/operator/session` },
    };
    const results: unknown[] = [];
    for (const rule of Object.values(this.template.Resources).filter((x) => x.Type === 'AWS::Events::Rule')) {
      const pattern = resolveIntrinsics(rule.Properties.EventPattern, this.template, DEPLOYMENT);
      if (!matchesPattern(event, pattern)) continue;
      for (const target of rule.Properties.Targets as { Arn: { 'Fn::GetAtt': [string, string] } }[]) {
        results.push(await this.invoke(physicalId(this.template, DEPLOYMENT, target.Arn['Fn::GetAtt'][0]), event));
      }
    }
    return results;
  }

  readonly s3: FakeS3;

  /** The runbook document as deployed. */
  runbook(): unknown {
    const [id] = Object.entries(this.template.Resources).find(([, r]) => r.Type === 'AWS::SSM::Document' && r.Properties.DocumentType === 'Automation')!;
    return resolveIntrinsics(this.template.Resources[id].Properties.Content, this.template, DEPLOYMENT);
  }

  /** The runbook's name as deployed. */
  runbookName(): string {
    const [id] = Object.entries(this.template.Resources).find(([, r]) => r.Type === 'AWS::SSM::Document' && r.Properties.DocumentType === 'Automation')!;
    return physicalId(this.template, DEPLOYMENT, id);
  }

  /** The Run Command document's name as deployed. */
  buildDocumentName(): string {
    const [id] = Object.entries(this.template.Resources).find(([, r]) => r.Type === 'AWS::SSM::Document' && r.Properties.DocumentType === 'Command')!;
    return physicalId(this.template, DEPLOYMENT, id);
  }

  private wireSsm(): void {
    const ssmError = (name: string, message: string): SSMServiceException => new SSMServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: 400 }, message });
    this.ssm.on(GetParameterCommand).callsFake(async (input) => {
      const value = this.parameters.get(input.Name!);
      if (value === undefined) throw ssmError('ParameterNotFound', `Parameter ${input.Name} not found.`);
      return { Parameter: { Name: input.Name, Type: 'String', Value: value, DataType: 'aws:ec2:image', Version: 1 } };
    });
    this.ssm.on(GetAutomationExecutionCommand).callsFake(async (input) => {
      const execution = this.executions.get(input.AutomationExecutionId!);
      if (!execution) throw ssmError('AutomationExecutionNotFoundException', `Automation execution ${input.AutomationExecutionId} not found`);
      return { AutomationExecution: structuredClone(execution) };
    });
    this.ssm.on(DescribeInstanceInformationCommand).callsFake(async (input: SSM.DescribeInstanceInformationCommandInput) => {
      const ids: string[] = input.InstanceInformationFilterList?.find((f) => f.key === 'InstanceIds')?.valueSet ?? [];
      // The agent registers a minute after the instance runs.
      const online = ids.filter((id) => {
        const instance = this.ec2.instances.has(id) ? this.ec2.instance(id) : undefined;
        return instance?.state === 'running' && Date.now() >= instance.launchedAt + this.ec2.bootDuration + 60_000;
      });
      return { InstanceInformationList: online.map((InstanceId) => ({ InstanceId, PingStatus: 'Online', PlatformType: 'Linux', PlatformName: 'Ubuntu' })) };
    });
    this.ssm.on(SendCommandCommand).callsFake(async (input) => {
      const instanceId = input.InstanceIds?.[0];
      if (!instanceId || this.ec2.instance(instanceId).state !== 'running') throw ssmError('InvalidInstanceId', 'Instances not in a valid state for account');
      if (input.DocumentName !== this.buildDocumentName()) throw ssmError('InvalidDocument', `no document ${input.DocumentName}`);
      const commandId = `c0ffee00-0000-4000-8000-${String(this.commands.length + 1).padStart(12, '0')}`;
      this.commands.push({ input: structuredClone(input), commandId, doneAt: Date.now() + this.builder.buildMs, status: 'InProgress' });
      return { Command: { CommandId: commandId, DocumentName: input.DocumentName, Status: 'Pending' } };
    });
    this.ssm.on(GetCommandInvocationCommand).callsFake(async (input) => {
      const command = this.commands.find((c) => c.commandId === input.CommandId);
      if (!command) throw ssmError('InvocationDoesNotExist', 'no such invocation');
      if (command.status === 'InProgress' && this.ec2.instance(input.InstanceId!).state === 'terminated') command.status = 'Failed';
      if (command.status === 'InProgress' && Date.now() >= command.doneAt) {
        if (this.builder.fail) command.status = 'Failed';
        else {
          await this.buildOnHost(command.input.Parameters!.RequestUri[0]);
          command.status = 'Success';
        }
      }
      return {
        CommandId: command.commandId,
        InstanceId: input.InstanceId,
        Status: command.status,
        StatusDetails: command.status,
        ResponseCode: command.status === 'Success' ? 0 : command.status === 'Failed' ? 4 : -1,
        StandardOutputContent: command.status === 'Success' ? 'ubuntu-jammy/...\n' : '',
        StandardErrorContent: command.status === 'Failed' ? 'stemcell: stage bosh_agent failed ...' : '',
      };
    });
  }

  /** What `stemcell farm-build` leaves in S3 and EC2 after a successful build. */
  private async buildOnHost(requestUri: string): Promise<void> {
    const key = requestUri.replace(`s3://${this.stemcellBucket}/`, '');
    const request = parseBuildRequest(this.s3.get(this.stemcellBucket, key)!.body.toString('utf8'));
    const stemcells: BuildResult['stemcells'][number][] = [];
    for (const target of request.stemcells) {
      const file = await makeHeavyStemcell(this.workDir, { infrastructure: target.infrastructure, os: request.operatingSystem, version: request.version });
      const body = fs.readFileSync(file);
      const sha1 = digestOf(body, 'sha1');
      this.s3.put(this.stemcellBucket, target.key, body, { [OBJECT_METADATA.buildId]: request.buildId, [OBJECT_METADATA.sha1]: sha1, [OBJECT_METADATA.checksPassed]: '129' });
      let snapshotId: string | undefined;
      if (target.infrastructure === 'aws') {
        snapshotId = this.ec2.addSnapshot(request.region);
        const contents = await readStemcellTarball(file);
        this.ec2.region(request.region).snapshots.get(snapshotId)!.Tags = stemcellTags(amiStemcellFromManifest(contents.manifest), request.buildId) as EC2.Tag[];
      }
      fs.rmSync(file);
      stemcells.push({ infrastructure: target.infrastructure, key: target.key, sha1, bytes: body.length, reused: false, checks: { passed: 129, failed: 0 }, stages: [{ stage: 'bosh_agent', seconds: 12 }], ...(snapshotId ? { snapshotId } : {}) });
    }
    if (this.builder.noResult) return;
    const result: BuildResult = {
      schema: RESULT_SCHEMA,
      buildId: request.buildId,
      version: request.version,
      osImage: { key: request.osImage.key, sha256: 'e'.repeat(64), built: request.osImage.build, stages: [{ stage: 'bootstrap', seconds: 40 }] },
      stemcells,
      startedAt: new Date(Date.now() - this.builder.buildMs).toISOString(),
      finishedAt: new Date().toISOString(),
    };
    this.s3.put(this.stemcellBucket, resultKey(request.buildId), JSON.stringify(result));
  }

  /** The execution's environment: AWS calls through the SDK (and the fakes), Lambdas from their handler files. */
  environment(executionId: string, extra: Partial<AutomationEnvironment> = {}): AutomationEnvironment {
    const credentials = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'secret' };
    const services: Record<string, { client: { send: (c: never) => Promise<unknown> }; commands: Record<string, unknown> }> = {
      ec2: { client: new EC2.EC2Client({ region: REGION, credentials }), commands: EC2 as unknown as Record<string, unknown> },
      ssm: { client: new SSM.SSMClient({ region: REGION, credentials }), commands: SSM as unknown as Record<string, unknown> },
    };
    return {
      executionId,
      region: REGION,
      account: ACCOUNT,
      partition: 'aws',
      callAws: async (service, api, params) => {
        const s = services[service];
        const Command = s?.commands[`${api}Command`] as (new (input: unknown) => never) | undefined;
        if (!Command) throw new Error(`no ${service} ${api} in the SDK`);
        return (await s.client.send(new Command(params))) as Record<string, unknown>;
      },
      invokeLambda: (name, payload) => this.invoke(name, payload),
      sleep: (ms) => jest.advanceTimersByTimeAsync(ms),
      settle,
      ...extra,
    };
  }

  /** Lambda, as deployed: the function's handler file and export, its environment, its timeout. */
  async invoke(functionName: string, payload: unknown): Promise<unknown> {
    const logicalId = Object.keys(this.template.Resources).find((id) => this.template.Resources[id].Type === 'AWS::Lambda::Function' && physicalId(this.template, DEPLOYMENT, id) === functionName);
    if (!logicalId) throw new Error(`Function not found: ${functionName}`);
    const fn = this.stack.node.findAll().find((c): c is FarmFunction => c instanceof FarmFunction && this.stack.resolve((c.node.defaultChild as unknown as { logicalId: string }).logicalId) === logicalId);
    if (!fn) throw new Error(`${logicalId} is not a farm function`);
    const props = this.template.Resources[logicalId].Properties;
    const environment = resolveIntrinsics((props.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {}, this.template, DEPLOYMENT) as Record<string, string>;
    const timeoutMs = (props.Timeout as number) * 1000;
    const saved = { ...process.env };
    Object.assign(process.env, environment, { AWS_REGION: REGION });
    const started = Date.now();
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const handler = require(fn.entry)[fn.handlerName] as (event: unknown, context: { getRemainingTimeInMillis(): number }) => Promise<unknown>;
      const result = await handler(structuredClone(payload), { getRemainingTimeInMillis: () => started + timeoutMs - Date.now() });
      if (Date.now() - started > timeoutMs) throw new Error(`Task timed out after ${timeoutMs / 1000} seconds`);
      return JSON.parse(JSON.stringify(result));
    } finally {
      process.env = saved;
    }
  }

  cleanUp(): void {
    this.dynamodb.restore();
    this.sns.restore();
    fs.rmSync(this.workDir, { recursive: true, force: true });
  }
}

/** EventBridge's matching of the patterns the farm uses: every field of the pattern present, its value one of the listed ones. */
export function matchesPattern(event: unknown, pattern: unknown): boolean {
  if (Array.isArray(pattern)) return pattern.some((p) => (typeof p === 'object' && p !== null ? false : p === event));
  if (typeof pattern !== 'object' || pattern === null) throw new Error(`event pattern: ${JSON.stringify(pattern)} is not a list or an object`);
  if (typeof event !== 'object' || event === null) return false;
  return Object.entries(pattern).every(([k, p]) => matchesPattern((event as Record<string, unknown>)[k], p));
}

/** Settle a promise while fake time runs: to the next timer when one is due, or a real turn of the event loop while I/O is pending. */
export async function settle<T>(promise: Promise<T>): Promise<T> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  while (!done) {
    if (jest.getTimerCount() > 0) await jest.advanceTimersToNextTimerAsync();
    else await new Promise((resolve) => setImmediate(resolve));
  }
  return promise;
}
