import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { RUNBOOK_PARAMETERS, RunbookParameter } from '../farm/parameters';
import { MARKERS } from '../farm/state';
import { VersionFormat } from '../farm/version-format';
import { AMI_TAG, FARM_STACK_TAG, MANAGED_BY } from '../stemcell/ami';
import { acknowledgeBucketObjects } from './acknowledge';
import { AmiPublishing } from './ami-publishing';
import { FarmFunction } from './farm-function';
import { BUILDER_ROOT_DEVICE, FarmBuilder } from './farm-builder';

/** Canonical's Ubuntu 24.04 AMI, the builder until the farm bakes its own image. */
export const UBUNTU_BUILDER_IMAGE_PARAMETER = '/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id';

export interface BuildRunbookProps {
  readonly builder: FarmBuilder;
  readonly builderSubnets: ec2.ISubnet[];
  readonly osImageBucket: s3.IBucket;
  readonly stemcellBucket: s3.IBucket;
  readonly amiPublishing: AmiPublishing;
  /** Each stemcell line's version counter (lib/farm/versions.ts). */
  readonly versionsTable: dynamodb.ITable;
  /** The build records; Prepare writes each build's first. */
  readonly buildsTable: dynamodb.ITable;
  /**
   * Version formats of the stemcell lines that do not number `{major}.{n}` with major 1.
   * @default - every line numbers 1.1, 1.2, ...
   */
  readonly versionFormats?: Readonly<Record<string, VersionFormat>>;
  /**
   * Name of the SSM parameter holding the builder AMI id, read by Prepare when
   * the form leaves BuilderAmi empty. While it does not exist (before the
   * builder image pipeline's first image), Prepare reads Canonical's Ubuntu
   * 24.04 parameter, and the build installs its host packages at boot.
   * @default UBUNTU_BUILDER_IMAGE_PARAMETER
   */
  readonly builderImageParameterName?: string;
  /** @default logs.RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
}

/** How long Systems Manager may take to see a new builder: boot, and the agent's registration. */
const ONLINE_TIMEOUT = Duration.minutes(15);
/** aws:invokeLambdaFunction's limit. */
const LAMBDA_STEP_TIMEOUT = Duration.seconds(300);
/** Copy-ami calls; each takes at most RUNBOOK_CALL_TIMEOUT, so this allows some seven hours of copying. Automation's limit is 100. */
const COPY_CALLS = 100;
const REGISTER_CALLS = 10;

/** A step's outputs decoded from the JSON state a farm Lambda returned (Automation selects only into executeScript payloads). */
const DECODE_SCRIPT = ['import json', '', 'def decode(events, context):', "    return json.loads(events['state'])", ''].join('\n');

/**
 * The build runbook (an SSM Automation document) and what only it uses: its
 * role, and the Prepare and ReadResult Lambdas. From the operator's form to
 * stemcells in S3 and, for AWS, a light stemcell with AMIs in every region.
 * Every step after the launch ends in terminating the builder, on failure and
 * on cancel too.
 */
export class BuildRunbook extends Construct {
  readonly document: ssm.CfnDocument;
  readonly role: iam.Role;
  readonly prepare: lambda.IFunction;
  readonly readResult: lambda.IFunction;

  constructor(scope: Construct, id: string, props: BuildRunbookProps) {
    super(scope, id);
    if (props.builderSubnets.length === 0) throw new Error('BuildRunbook: builderSubnets is empty; builders need a subnet');
    const stack = Stack.of(this);
    const logRetention = props.logRetention ?? logs.RetentionDays.THREE_MONTHS;
    const builderImageParameter = props.builderImageParameterName ?? UBUNTU_BUILDER_IMAGE_PARAMETER;
    const imageParameters = [...new Set([builderImageParameter, UBUNTU_BUILDER_IMAGE_PARAMETER])];
    const parameterArn = (name: string): string => `arn:${stack.partition}:ssm:${stack.region}:${name.startsWith('/aws/service/') ? '' : stack.account}:parameter${name}`;

    this.prepare = new FarmFunction(this, 'Prepare', {
      folder: 'prepare-build',
      description: 'Build runbook: checks the form, picks version, OS image and builder image, writes the build request',
      timeout: Duration.seconds(60),
      environment: {
        STEMCELL_BUCKET: props.stemcellBucket.bucketName,
        OS_IMAGE_BUCKET: props.osImageBucket.bucketName,
        BUILDER_IMAGE_PARAMETER: builderImageParameter,
        FALLBACK_BUILDER_IMAGE_PARAMETER: builderImageParameter === UBUNTU_BUILDER_IMAGE_PARAMETER ? '' : UBUNTU_BUILDER_IMAGE_PARAMETER,
        BUILDER_SUBNET_IDS: props.builderSubnets.map((s) => s.subnetId).join(','),
        VERSIONS_TABLE: props.versionsTable.tableName,
        BUILDS_TABLE: props.buildsTable.tableName,
        VERSION_FORMATS: JSON.stringify(props.versionFormats ?? {}),
      },
      logRetention,
      statements: [
        new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [props.stemcellBucket.arnForObjects('builds/*/request.json'), props.stemcellBucket.arnForObjects('*/bosh-stemcell-*.tgz')] }),
        new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [props.stemcellBucket.arnForObjects('builds/*/request.json')], conditions: { StringEquals: { 's3:if-none-match': '*' } } }),
        new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [props.stemcellBucket.bucketArn, props.osImageBucket.bucketArn] }),
        new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [props.osImageBucket.arnForObjects('*')] }),
        new iam.PolicyStatement({ actions: ['ssm:GetParameter'], resources: imageParameters.map(parameterArn) }),
        // Versions: read, take a number (conditional update), hold a version and record the execution (conditional puts).
        new iam.PolicyStatement({ actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], resources: [props.versionsTable.tableArn] }),
        new iam.PolicyStatement({ actions: ['dynamodb:PutItem'], resources: [props.buildsTable.tableArn] }),
        // Which regions the account has enabled; no resource-level permissions.
        new iam.PolicyStatement({ actions: ['ec2:DescribeRegions'], resources: ['*'] }),
      ],
    });
    this.readResult = new FarmFunction(this, 'ReadResult', {
      folder: 'read-build-result',
      description: "Build runbook: reads the builder's result.json and checks it against the build",
      timeout: Duration.seconds(60),
      environment: { STEMCELL_BUCKET: props.stemcellBucket.bucketName },
      logRetention,
      statements: [
        new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [props.stemcellBucket.arnForObjects('builds/*/result.json')] }),
        // A missing result is NoSuchKey only with ListBucket (AccessDenied otherwise).
        new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [props.stemcellBucket.bucketArn] }),
      ],
    });
    const objects: [lambda.IFunction, s3.IBucket, string, string][] = [
      [this.prepare, props.stemcellBucket, 'builds/*/request.json', 'Requests are read and written (as new objects only) below builds/<build id>/, made per build'],
      [this.prepare, props.stemcellBucket, '*/bosh-stemcell-*.tgz', 'Prepare looks whether the stemcells of the version exist, to refuse a version already built'],
      [this.prepare, props.osImageBucket, '*', 'Prepare checks that the OS image and customization script the form names exist'],
      [this.readResult, props.stemcellBucket, 'builds/*/result.json', 'Results are read below builds/<build id>/, made per build'],
    ];
    Validations.of(this.prepare.role!).acknowledge({ id: 'AwsSolutions-IAM5[Resource::*]', reason: 'ec2:DescribeRegions has no resource-level permissions.' });
    for (const [fn, bucket, keys, reason] of objects) {
      acknowledgeBucketObjects(fn.role!, bucket, keys, reason);
    }

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('ssm.amazonaws.com', {
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: { 'aws:SourceArn': `arn:${stack.partition}:ssm:${stack.region}:${stack.account}:automation-execution/*` },
        },
      }),
      description: 'Stemcell Farm build runbook: launches, drives and terminates builders, calls the farm Lambdas',
    });
    this.grantRunbook(props);

    this.document = new ssm.CfnDocument(this, 'Document', {
      documentType: 'Automation',
      documentFormat: 'JSON',
      name: `${stack.stackName}-Build`,
      // A named document cannot be replaced in place; each deploy adds a version.
      updateMethod: 'NewVersion',
      content: this.content(props),
    });
  }

  private grantRunbook(props: BuildRunbookProps): void {
    const { partition, region, account } = Stack.of(this);
    const role = this.role;
    const ec2Arn = (type: string, id = '*', owner: string = account): string => `arn:${partition}:ec2:${region}:${owner}:${type}/${id}`;
    const ours = { StringEquals: { [`aws:ResourceTag/${AMI_TAG.managedBy}`]: MANAGED_BY } };
    const functions = [this.prepare, this.readResult, props.amiPublishing.registerAmi, props.amiPublishing.copyAmi, props.amiPublishing.lightStemcell];
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: functions.map((f) => f.functionArn) }));
    // Launch: only from the builder's launch template, into the farm's subnets and security group, tagged as the farm's.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['ec2:RunInstances'],
        resources: [ec2Arn('instance'), ec2Arn('volume'), ec2Arn('network-interface')],
        conditions: { StringEquals: { [`aws:RequestTag/${AMI_TAG.managedBy}`]: MANAGED_BY } },
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['ec2:RunInstances'],
        resources: [
          ...props.builderSubnets.map((s) => ec2Arn('subnet', s.subnetId)),
          ...props.builder.launchTemplate.connections.securityGroups.map((g) => ec2Arn('security-group', g.securityGroupId)),
          ec2Arn('launch-template', props.builder.launchTemplate.launchTemplateId!),
          `arn:${partition}:ec2:${region}::image/*`,
          ...(props.builder.keyPair ? [ec2Arn('key-pair', props.builder.keyPair.keyPairName)] : []),
        ],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['ec2:CreateTags'], resources: [ec2Arn('instance'), ec2Arn('volume'), ec2Arn('network-interface')], conditions: { StringEquals: { 'ec2:CreateAction': 'RunInstances' } } }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['iam:PassRole'], resources: [props.builder.role.roleArn], conditions: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } } }),
    );
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['ec2:TerminateInstances'], resources: [ec2Arn('instance')], conditions: ours }));
    // Run Command: the build document, on farm-tagged instances only.
    const documentArn = `arn:${partition}:ssm:${region}:${account}:document/${props.builder.buildDocument.ref}`;
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['ssm:SendCommand'], resources: [documentArn] }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['ssm:SendCommand'], resources: [ec2Arn('instance')], conditions: ours }));
    // Reads without resource-level permissions.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['ec2:DescribeInstances', 'ec2:DescribeInstanceStatus', 'ec2:DescribeLaunchTemplateVersions', 'ssm:DescribeInstanceInformation', 'ssm:ListCommands', 'ssm:ListCommandInvocations', 'ssm:GetCommandInvocation', 'ssm:CancelCommand'],
        resources: ['*'],
      }),
    );

    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'Actions without resource-level permissions: the reads DescribeInstances, DescribeInstanceStatus, DescribeLaunchTemplateVersions, DescribeInstanceInformation and the Run Command invocation lists, and CancelCommand (which Automation calls when BuildOnHost times out or is cancelled).',
    });
    for (const type of ['instance', 'volume', 'network-interface']) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:${type}/*]`,
        reason: `Builder ${type}s get their ids at launch; launching requires the farm tag on them, tagging is only at launch, and terminating and Run Command are limited to farm-tagged instances by condition.`,
      });
    }
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>::image/*]',
      reason: "The builder AMI is a parameter (Canonical's public Ubuntu AMI, or the farm's builder image); launches are still limited to the farm's launch template, subnets and security group.",
    });
  }

  private content(props: BuildRunbookProps): Record<string, unknown> {
    const builder = props.builder;
    const instanceId = '{{ LaunchBuilder.InstanceId }}';
    const afterLaunch = { onFailure: 'step:TerminateAfterFailure', onCancel: 'step:TerminateAfterFailure' };
    const buildSeconds = builder.maxBuildTime.toSeconds();
    const invoke = (fn: lambda.IFunction, state: string): Record<string, unknown> => ({ FunctionName: fn.functionName, InputPayload: { state } });
    /** A step that decodes a farm Lambda's state into typed outputs (field and Automation type by output name). */
    const decodeStep = (name: string, description: string, state: string, outputs: Record<string, [string, string]>, then: { nextStep: string } | { isEnd: true }): Record<string, unknown> => ({
      name,
      description,
      action: 'aws:executeScript',
      timeoutSeconds: 60,
      onFailure: 'Abort',
      inputs: { Runtime: 'python3.11', Handler: 'decode', Script: DECODE_SCRIPT, InputPayload: { state } },
      outputs: Object.entries(outputs).map(([Name, [field, Type]]) => ({ Name, Selector: `$.Payload.${field}`, Type })),
      ...then,
    });
    const tags = [
      { Key: AMI_TAG.managedBy, Value: MANAGED_BY },
      { Key: FARM_STACK_TAG, Value: Stack.of(this).stackName },
      { Key: AMI_TAG.buildId, Value: '{{ Decode.BuildId }}' },
      { Key: 'execution-id', Value: '{{ automation:EXECUTION_ID }}' },
      { Key: 'Name', Value: 'stemcell-farm builder {{ Decode.BuildId }}' },
    ];
    const parameters: Record<string, unknown> = {
      AutomationAssumeRole: {
        type: 'String',
        description: "Role the runbook acts as. The farm's runbook role has exactly what the steps need.",
        default: this.role.roleArn,
      },
    };
    for (const [name, spec] of Object.entries(RUNBOOK_PARAMETERS) as [string, RunbookParameter][]) {
      parameters[name] = {
        type: spec.type,
        description: spec.description,
        default: spec.default,
        ...(spec.allowedValues ? { allowedValues: spec.allowedValues } : {}),
        ...(spec.allowedPattern ? { allowedPattern: spec.allowedPattern } : {}),
        ...(spec.maxItems !== undefined ? { maxItems: spec.maxItems } : {}),
        ...(spec.type === 'StringList' && name === 'Infrastructures' ? { minItems: 1 } : {}),
      };
    }
    const form = Object.fromEntries(Object.keys(RUNBOOK_PARAMETERS).map((name) => [name, `{{ ${name} }}`]));

    return {
      schemaVersion: '0.3',
      description: [
        '# Stemcell Farm: build stemcells',
        '',
        'Builds a hardened OS image (or reuses one), a BOSH stemcell for each infrastructure, checks them and stores them in the stemcell bucket.',
        'With aws and PublishLight: registers the AMI, copies it to the regions and writes the light stemcell beside the heavy one.',
        'The builder instance is terminated after the build, whether it succeeds, fails or is cancelled.',
      ].join('\n'),
      assumeRole: '{{ AutomationAssumeRole }}',
      parameters,
      mainSteps: [
        {
          name: 'Prepare',
          description: 'Checks every parameter, picks the version, the OS image and the builder image, and writes the build request. Nothing is launched before it succeeds.',
          action: 'aws:invokeLambdaFunction',
          timeoutSeconds: LAMBDA_STEP_TIMEOUT.toSeconds(),
          onFailure: 'Abort',
          inputs: { FunctionName: this.prepare.functionName, InputPayload: { executionId: '{{ automation:EXECUTION_ID }}', ...form } },
          nextStep: 'Decode',
        },
        decodeStep('Decode', "Reads Prepare's decisions for the launch.", '{{ Prepare.Payload }}', {
          BuildId: ['buildId', 'String'],
          Version: ['version', 'String'],
          RequestUri: ['requestUri', 'String'],
          BuilderAmi: ['builderAmi', 'String'],
          InstanceType: ['instanceType', 'String'],
          SubnetId: ['subnetId', 'String'],
          VolumeSizeGiB: ['volumeSizeGiB', 'Integer'],
          StemcellKeys: ['stemcellKeys', 'StringList'],
        }, { nextStep: 'LaunchBuilder' }),
        {
          name: 'LaunchBuilder',
          description: 'Launches the builder from the farm launch template (IMDSv2, encrypted gp3, shutdown terminates, watchdog). The client token makes a retry find the same instance.',
          action: 'aws:executeAwsApi',
          maxAttempts: 3,
          onFailure: 'Abort',
          inputs: {
            Service: 'ec2',
            Api: 'RunInstances',
            LaunchTemplate: { LaunchTemplateId: builder.launchTemplate.launchTemplateId, Version: builder.launchTemplate.latestVersionNumber },
            ImageId: '{{ Decode.BuilderAmi }}',
            InstanceType: '{{ Decode.InstanceType }}',
            SubnetId: '{{ Decode.SubnetId }}',
            MinCount: 1,
            MaxCount: 1,
            ClientToken: '{{ Decode.BuildId }}',
            BlockDeviceMappings: [{ DeviceName: BUILDER_ROOT_DEVICE, Ebs: { VolumeSize: '{{ Decode.VolumeSizeGiB }}', VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true } }],
            TagSpecifications: [
              { ResourceType: 'instance', Tags: tags },
              { ResourceType: 'volume', Tags: tags },
              { ResourceType: 'network-interface', Tags: tags },
            ],
          },
          outputs: [{ Name: 'InstanceId', Selector: '$.Instances[0].InstanceId', Type: 'String' }],
          nextStep: 'WaitForBuilder',
        },
        {
          name: 'WaitForBuilder',
          description: 'Waits until Systems Manager reports the builder online.',
          action: 'aws:waitForAwsResourceProperty',
          timeoutSeconds: ONLINE_TIMEOUT.toSeconds(),
          ...afterLaunch,
          inputs: {
            Service: 'ssm',
            Api: 'DescribeInstanceInformation',
            InstanceInformationFilterList: [{ key: 'InstanceIds', valueSet: [instanceId] }],
            PropertySelector: '$.InstanceInformationList[0].PingStatus',
            DesiredValues: ['Online'],
          },
          nextStep: 'BuildOnHost',
        },
        {
          name: 'BuildOnHost',
          description: 'Runs `stemcell farm-build` on the builder: OS image, stemcells, checks, uploads, the EBS snapshot, result.json. The full log is in CloudWatch Logs.',
          action: 'aws:runCommand',
          timeoutSeconds: buildSeconds,
          ...afterLaunch,
          inputs: {
            DocumentName: builder.buildDocument.ref,
            InstanceIds: [instanceId],
            Parameters: { RequestUri: ['{{ Decode.RequestUri }}'] },
            // Delivery: the agent must pick the command up within this.
            TimeoutSeconds: 600,
            CloudWatchOutputConfig: { CloudWatchLogGroupName: builder.logGroup.logGroupName, CloudWatchOutputEnabled: true },
            Comment: 'stemcell-farm build {{ Decode.BuildId }}',
          },
          nextStep: 'TerminateBuilder',
        },
        {
          name: 'TerminateBuilder',
          description: 'Terminates the builder: its work is in S3.',
          action: 'aws:executeAwsApi',
          maxAttempts: 3,
          ...afterLaunch,
          inputs: { Service: 'ec2', Api: 'TerminateInstances', InstanceIds: [instanceId] },
          nextStep: 'ReadResult',
        },
        {
          name: 'ReadResult',
          description: "Reads the builder's result.json: stemcell keys, sha1s, checks, the EBS snapshot.",
          action: 'aws:invokeLambdaFunction',
          timeoutSeconds: LAMBDA_STEP_TIMEOUT.toSeconds(),
          onFailure: 'Abort',
          inputs: invoke(this.readResult, '{{ Prepare.Payload }}'),
          nextStep: 'ChoosePublish',
        },
        {
          name: 'ChoosePublish',
          description: 'Publishes AMIs and the light stemcell when aws was built and PublishLight is true.',
          action: 'aws:branch',
          inputs: { Choices: [{ NextStep: 'RegisterAmi', Variable: '{{ ReadResult.Payload }}', Contains: MARKERS.publish }], Default: 'Built' },
        },
        decodeStep('Built', 'The build is done: nothing to publish.', '{{ ReadResult.Payload }}', { BuildId: ['buildId', 'String'] }, { isEnd: true }),
        {
          name: 'RegisterAmi',
          description: 'Registers the AMI from the snapshot and waits until it is available (calls register-ami again while it is pending).',
          action: 'aws:loop',
          onFailure: 'Abort',
          inputs: {
            MaxIterations: REGISTER_CALLS,
            LoopCondition: { Variable: '{{ Register.Payload }}', Contains: MARKERS.notRegistered },
            Steps: [
              {
                name: 'Register',
                action: 'aws:invokeLambdaFunction',
                timeoutSeconds: LAMBDA_STEP_TIMEOUT.toSeconds(),
                onFailure: 'Abort',
                inputs: invoke(props.amiPublishing.registerAmi, '{{ ReadResult.Payload }}'),
              },
            ],
          },
          nextStep: 'CopyAmi',
        },
        {
          name: 'CopyAmi',
          description: 'Copies the AMI to every region asked for and shares it; calls copy-ami again until every copy is done.',
          action: 'aws:loop',
          onFailure: 'Abort',
          inputs: {
            MaxIterations: COPY_CALLS,
            LoopCondition: { Variable: '{{ Copy.Payload }}', Contains: MARKERS.notCopied },
            Steps: [
              {
                name: 'Copy',
                action: 'aws:invokeLambdaFunction',
                timeoutSeconds: LAMBDA_STEP_TIMEOUT.toSeconds(),
                onFailure: 'Abort',
                inputs: invoke(props.amiPublishing.copyAmi, '{{ Register.Payload }}'),
              },
            ],
          },
          nextStep: 'LightStemcell',
        },
        {
          name: 'LightStemcell',
          description: 'Writes the light stemcell beside the heavy one and marks the AMIs published.',
          action: 'aws:invokeLambdaFunction',
          timeoutSeconds: LAMBDA_STEP_TIMEOUT.toSeconds(),
          onFailure: 'Abort',
          inputs: invoke(props.amiPublishing.lightStemcell, '{{ Copy.Payload }}'),
          nextStep: 'Published',
        },
        decodeStep('Published', 'The AMI map and the light stemcell key, as outputs.', '{{ LightStemcell.Payload }}', { Amis: ['amis', 'StringMap'], LightStemcellKey: ['lightKey', 'String'] }, { isEnd: true }),
        {
          name: 'TerminateAfterFailure',
          description: 'Terminates the builder after a failed or cancelled step; the execution still ends as failed or cancelled.',
          action: 'aws:executeAwsApi',
          maxAttempts: 3,
          onFailure: 'Abort',
          inputs: { Service: 'ec2', Api: 'TerminateInstances', InstanceIds: [instanceId] },
          isEnd: true,
        },
      ],
      outputs: ['Decode.Version', 'Decode.StemcellKeys', 'Published.Amis', 'Published.LightStemcellKey'],
    };
  }
}
