import { AssetHashType, Duration, Fn, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { STAGE_SCRIPTS } from '../builder/host';
import { CUSTOMIZE_PREFIX, REQUEST_URI } from '../farm/keys';
import { AMI_TAG, MANAGED_BY } from '../stemcell/ami';
import { acknowledgeBucketObjects } from './acknowledge';
import { bundleBuilderCode } from './builder-code';

export interface FarmBuilderProps {
  readonly vpc: ec2.IVpc;
  readonly securityGroup: ec2.ISecurityGroup;
  readonly osImageBucket: s3.IBucket;
  readonly stemcellBucket: s3.IBucket;
  /**
   * The longest a build may run on its instance. The instance powers itself off
   * (and so terminates) after this, whatever happens to the runbook.
   * @default Duration.hours(4)
   */
  readonly maxBuildTime?: Duration;
  /**
   * A key pair for SSH to builders, for debugging. Session Manager needs none.
   * @default - no key pair
   */
  readonly keyPair?: ec2.IKeyPair;
  /** @default logs.RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
}

/** Device name of the root volume of Canonical's Ubuntu AMIs (and of builder images made from them). */
export const BUILDER_ROOT_DEVICE = '/dev/sda1';

/**
 * What Systems Manager's agent calls for Run Command and Session Manager (and
 * Image Builder, which drives its build instances through Run Command). These
 * actions have no resource-level permissions.
 */
export const SSM_AGENT_ACTIONS: readonly string[] = [
  'ssm:UpdateInstanceInformation',
  'ssmmessages:CreateControlChannel',
  'ssmmessages:CreateDataChannel',
  'ssmmessages:OpenControlChannel',
  'ssmmessages:OpenDataChannel',
  'ec2messages:AcknowledgeMessage',
  'ec2messages:DeleteMessage',
  'ec2messages:FailMessage',
  'ec2messages:GetEndpoint',
  'ec2messages:GetMessages',
  'ec2messages:SendReply',
];

/**
 * Where a builder unpacks the code asset: named by its hash, so a builder
 * image that was baked with the same code already has it.
 */
export function builderCodeDir(code: s3assets.Asset): string {
  return `/opt/stemcell-farm/code/${code.assetHash}`;
}

/**
 * What a builder instance is: its role, launch template (IMDSv2, no public
 * ingress, shutdown = terminate, a watchdog), the code it runs (the `stemcell`
 * CLI bundled with the stage scripts, an S3 asset) and the Run Command document
 * that fetches that code and runs one build, logging to CloudWatch Logs.
 */
export class FarmBuilder extends Construct {
  readonly role: iam.Role;
  readonly launchTemplate: ec2.LaunchTemplate;
  readonly logGroup: logs.LogGroup;
  readonly code: s3assets.Asset;
  /** The Run Command document of one build; parameter RequestUri. */
  readonly buildDocument: ssm.CfnDocument;
  readonly maxBuildTime: Duration;
  readonly keyPair?: ec2.IKeyPair;

  constructor(scope: Construct, id: string, props: FarmBuilderProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.maxBuildTime = props.maxBuildTime ?? Duration.hours(4);
    this.keyPair = props.keyPair;
    const maxMinutes = this.maxBuildTime.toMinutes();
    if (maxMinutes < 30 || maxMinutes > 24 * 60) throw new Error(`FarmBuilder: maxBuildTime must be from 30 minutes to 24 hours, got ${maxMinutes} minutes`);

    this.logGroup = new logs.LogGroup(this, 'BuildLogs', { retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS });
    this.code = new s3assets.Asset(this, 'Code', {
      path: STAGE_SCRIPTS,
      // The bundle holds lib/ too: hash what is shipped, not the folder it starts from.
      assetHashType: AssetHashType.OUTPUT,
      bundling: bundleBuilderCode(),
    });

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'Stemcell Farm builder instances: Systems Manager, the code asset, the farm buckets, EBS direct APIs',
    });
    this.grantBuilder(props);

    const userData = ec2.UserData.forLinux();
    // The watchdog: whatever becomes of the runbook, the instance powers off
    // (and so terminates) after the longest build.
    userData.addCommands(`shutdown -P +${maxMinutes} 'stemcell-farm: maximum build time reached'`);
    this.launchTemplate = new ec2.LaunchTemplate(this, 'LaunchTemplate', {
      role: this.role,
      securityGroup: props.securityGroup,
      requireImdsv2: true,
      httpPutResponseHopLimit: 1,
      instanceInitiatedShutdownBehavior: ec2.InstanceInitiatedShutdownBehavior.TERMINATE,
      userData,
      keyPair: props.keyPair,
    });

    this.buildDocument = new ssm.CfnDocument(this, 'BuildDocument', {
      documentType: 'Command',
      documentFormat: 'JSON',
      name: `${stack.stackName}-BuildOnHost`,
      updateMethod: 'NewVersion',
      content: this.buildDocumentContent(),
    });
  }

  /** Least privilege for one build: Systems Manager's agent, reads, writes of new objects only, EBS direct APIs on farm-tagged snapshots, its logs. */
  private grantBuilder(props: FarmBuilderProps): void {
    const { partition, region } = Stack.of(this);
    const role = this.role;
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: [...SSM_AGENT_ACTIONS], resources: ['*'] }));
    // The code asset: this object and nothing else of the assets bucket.
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [this.code.bucket.arnForObjects(this.code.s3ObjectKey)] }));
    // aws:downloadContent lists the key as a folder first; only that prefix.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.code.bucket.bucketArn], conditions: { StringLike: { 's3:prefix': [this.code.s3ObjectKey, `${this.code.s3ObjectKey}/*`] } } }),
    );
    // HEAD of a missing key answers 404 only with ListBucket (403 otherwise), and the builder looks before it builds.
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [props.stemcellBucket.bucketArn, props.osImageBucket.bucketArn] }));
    // Run Command's CloudWatch output: the agent writes the command's streams into the build log group.
    this.logGroup.grantWrite(role);
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['logs:DescribeLogStreams'], resources: [this.logGroup.logGroupArn] }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['logs:DescribeLogGroups'], resources: ['*'] }));
    // Reads: OS images and customization scripts; its request; stemcells, to reuse what an earlier run of the build made.
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [props.osImageBucket.arnForObjects('*')] }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [props.stemcellBucket.arnForObjects('builds/*'), props.stemcellBucket.arnForObjects('*/bosh-stemcell-*.tgz')] }));
    // Writes: new objects only (a conditional write), at the keys builds write.
    const newObjectsOnly = { StringEquals: { 's3:if-none-match': '*' } };
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [props.osImageBucket.arnForObjects('*/bosh-*-os-image.tgz'), props.osImageBucket.arnForObjects('*/bosh-*-os-image.build.json')],
        conditions: newObjectsOnly,
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [props.stemcellBucket.arnForObjects('*/bosh-stemcell-*.tgz'), props.stemcellBucket.arnForObjects('builds/*/result.json')],
        conditions: newObjectsOnly,
      }),
    );
    // EBS direct APIs: snapshots made with the farm's tag, and only those.
    // Snapshot ARNs name no account: arn:<partition>:ec2:<region>::snapshot/<id>.
    const snapshots = `arn:${partition}:ec2:${region}::snapshot/*`;
    const ours = { StringEquals: { [`aws:ResourceTag/${AMI_TAG.managedBy}`]: MANAGED_BY } };
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['ebs:StartSnapshot'], resources: [snapshots], conditions: { StringEquals: { [`aws:RequestTag/${AMI_TAG.managedBy}`]: MANAGED_BY } } }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['ec2:CreateTags'], resources: [snapshots], conditions: { StringEquals: { 'ec2:CreateAction': 'StartSnapshot' } } }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['ebs:PutSnapshotBlock', 'ebs:CompleteSnapshot'], resources: [snapshots], conditions: ours }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['ec2:DeleteSnapshot'], resources: [snapshots], conditions: ours }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['ec2:DescribeSnapshots'], resources: ['*'] }));

    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: "The Systems Manager agent's actions, logs:DescribeLogGroups and ec2:DescribeSnapshots have no resource-level permissions.",
    });
    const wildcardObjects: [s3.IBucket, string, string][] = [
      [props.osImageBucket, '*', `OS images are read by the key the request names (any OS image of the bucket, and customization scripts below ${CUSTOMIZE_PREFIX})`],
      [props.osImageBucket, '*/bosh-*-os-image.tgz', 'OS images are written only as new objects (if-none-match), under keys made per build'],
      [props.osImageBucket, '*/bosh-*-os-image.build.json', 'build records are written only as new objects, beside their OS image'],
      [props.stemcellBucket, 'builds/*', "the build's request and result live below builds/<build id>/, made per build"],
      [props.stemcellBucket, '*/bosh-stemcell-*.tgz', 'stemcells are read (to reuse an earlier run) and written only as new objects (if-none-match) under <os>/<version>/'],
      [props.stemcellBucket, 'builds/*/result.json', 'the result is written only as a new object, below its build'],
    ];
    for (const [bucket, objects, reason] of wildcardObjects) {
      acknowledgeBucketObjects(role, bucket, objects, reason);
    }
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>::snapshot/*]',
      reason: 'Snapshot ids are made by StartSnapshot per build; every call but the start (and deleting an unfinished one) is limited to farm-tagged snapshots by condition, and the start must carry the tag.',
    });
  }

  /**
   * Fetch the code asset through the S3 endpoint with the agent (no AWS CLI
   * needed), unpack it keeping file modes, and run the build script in it.
   */
  private buildDocumentContent(): Record<string, unknown> {
    const stack = Stack.of(this);
    const codeUrl = Fn.join('', ['https://s3.', stack.region, '.', stack.urlSuffix, '/', this.code.s3BucketName, '/', this.code.s3ObjectKey]);
    const codeDir = builderCodeDir(this.code);
    const unpack = fs.readFileSync(path.join(STAGE_SCRIPTS, 'builder', 'unpack-code.py'), 'utf8');
    const executionSeconds = this.maxBuildTime.toSeconds() - 600;
    return {
      schemaVersion: '2.2',
      description: 'Stemcell Farm: one build on a builder instance (the runbook starts it)',
      parameters: {
        RequestUri: {
          type: 'String',
          description: 'The build request Prepare wrote: s3://<stemcell bucket>/builds/<build id>/request.json',
          allowedPattern: REQUEST_URI,
        },
      },
      mainSteps: [
        {
          action: 'aws:downloadContent',
          name: 'FetchCode',
          inputs: { sourceType: 'S3', sourceInfo: Fn.join('', ['{"path":"', codeUrl, '"}']), destinationPath: Fn.join('', [codeDir, '.zip']) },
        },
        {
          action: 'aws:runShellScript',
          name: 'Build',
          inputs: {
            timeoutSeconds: String(executionSeconds),
            runCommand: [
              // Run Command runs these lines with sh.
              'set -eu',
              Fn.join('', ['python3 - "', codeDir, '.zip" "', codeDir, "\" <<'PY'\n", unpack, 'PY']),
              Fn.join('', ['exec bash "', codeDir, '/stage-scripts/builder/farm-build.sh" "{{RequestUri}}"']),
            ],
          },
        },
      ],
    };
  }
}
