import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { AMI_TAG, MANAGED_BY } from '../stemcell/ami';
import { acknowledgeBucketObjects } from './acknowledge';
import { FarmFunction, FarmFunctionProps } from './farm-function';

export interface AmiPublishingProps {
  /** The bucket holding heavy stemcells, where light stemcells are written. */
  readonly stemcellBucket: s3.IBucket;
  /**
   * KMS keys copy-ami may encrypt AMI copies with (one per region you encrypt
   * in). Copies can still be encrypted with the account's default EBS key.
   * @default - none
   */
  readonly copyEncryptionKeys?: kms.IKey[];
  /**
   * How long the functions' logs are kept.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * Automation's aws:invokeLambdaFunction waits at most 300 s for a call, so the
 * functions the build runbook calls return well before: each core stops
 * working 20 s before its Lambda's timeout and reports how far it got, and the
 * runbook calls again.
 */
export const RUNBOOK_CALL_TIMEOUT = Duration.seconds(270);

const OURS = { [`aws:ResourceTag/${AMI_TAG.managedBy}`]: MANAGED_BY };

/**
 * The Lambdas that turn a stemcell's EBS snapshot into a light stemcell:
 * register-ami, copy-ami (and its progress check), light-stemcell and cleanup.
 * Each has its own role with only what its core calls, scoped to the farm's
 * AMIs and snapshots by their `managed-by` tag where EC2 allows it.
 */
export class AmiPublishing extends Construct {
  readonly registerAmi: NodejsFunction;
  readonly copyAmi: NodejsFunction;
  readonly checkAmiCopies: NodejsFunction;
  readonly lightStemcell: NodejsFunction;
  readonly cleanup: NodejsFunction;

  private readonly logRetention: logs.RetentionDays;

  constructor(scope: Construct, id: string, props: AmiPublishingProps) {
    super(scope, id);
    this.logRetention = props.logRetention ?? logs.RetentionDays.THREE_MONTHS;
    const { partition } = Stack.of(this);
    const images = `arn:${partition}:ec2:*::image/*`;
    // Snapshot ARNs name no account: arn:<partition>:ec2:<region>::snapshot/<id>.
    const snapshots = `arn:${partition}:ec2:*::snapshot/*`;
    const describe = (...actions: string[]): iam.PolicyStatement => new iam.PolicyStatement({ actions: actions.map((a) => `ec2:${a}`), resources: ['*'] });

    this.registerAmi = this.fn('RegisterAmi', {
      folder: 'register-ami',
      description: 'Registers the AMI of a stemcell from its EBS snapshot',
      timeout: RUNBOOK_CALL_TIMEOUT,
    }, [
      describe('DescribeImages', 'DescribeSnapshots'),
      new iam.PolicyStatement({ actions: ['ec2:RegisterImage'], resources: [images] }),
      new iam.PolicyStatement({ actions: ['ec2:RegisterImage'], resources: [snapshots], conditions: { StringEquals: OURS } }),
      new iam.PolicyStatement({ actions: ['ec2:CreateTags'], resources: [images], conditions: { StringEquals: { 'ec2:CreateAction': 'RegisterImage' } } }),
      new iam.PolicyStatement({ actions: ['ec2:CreateTags'], resources: [snapshots], conditions: { StringEquals: OURS } }),
    ]);

    const keys = props.copyEncryptionKeys ?? [];
    this.copyAmi = this.fn('CopyAmi', {
      folder: 'copy-ami',
      handler: 'copy',
      description: 'Copies a stemcell AMI to every enabled region and shares it; call again until done',
      timeout: RUNBOOK_CALL_TIMEOUT,
    }, [
      describe('DescribeImages', 'DescribeRegions', 'GetImageBlockPublicAccessState'),
      new iam.PolicyStatement({ actions: ['ec2:CopyImage'], resources: [images] }),
      new iam.PolicyStatement({ actions: ['ec2:CreateTags'], resources: [images, snapshots], conditions: { StringEquals: { 'ec2:CreateAction': 'CopyImage' } } }),
      new iam.PolicyStatement({ actions: ['ec2:ModifyImageAttribute', 'ec2:DeregisterImage'], resources: [images], conditions: { StringEquals: OURS } }),
      new iam.PolicyStatement({ actions: ['ec2:ModifySnapshotAttribute'], resources: [snapshots], conditions: { StringEquals: OURS } }),
      ...(keys.length > 0
        ? [
            new iam.PolicyStatement({
              actions: ['kms:DescribeKey', 'kms:Encrypt', 'kms:Decrypt', 'kms:ReEncryptFrom', 'kms:ReEncryptTo', 'kms:GenerateDataKeyWithoutPlaintext'],
              resources: keys.map((k) => k.keyArn),
            }),
            new iam.PolicyStatement({ actions: ['kms:CreateGrant'], resources: keys.map((k) => k.keyArn), conditions: { Bool: { 'kms:GrantIsForAWSResource': 'true' } } }),
          ]
        : []),
    ]);

    this.checkAmiCopies = this.fn('CheckAmiCopies', {
      folder: 'copy-ami',
      handler: 'check',
      description: 'Reports where the copies of a stemcell AMI stand; changes nothing',
      timeout: Duration.minutes(2),
    }, [describe('DescribeImages', 'DescribeRegions')]);

    this.lightStemcell = this.fn('LightStemcell', {
      folder: 'light-stemcell',
      description: 'Writes the light stemcell of a heavy AWS stemcell and marks its AMIs published',
      timeout: RUNBOOK_CALL_TIMEOUT,
      // Reading the heavy stemcell is gunzip-bound; memory buys CPU.
      memorySize: 1024,
      environment: { STEMCELL_BUCKET: props.stemcellBucket.bucketName },
    }, [
      new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [props.stemcellBucket.arnForObjects('*')] }),
      // Light stemcells only, and only as new objects (a conditional write).
      new iam.PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [props.stemcellBucket.arnForObjects('*light-*.tgz')],
        conditions: { StringEquals: { 's3:if-none-match': '*' } },
      }),
      new iam.PolicyStatement({ actions: ['ec2:CreateTags'], resources: [images], conditions: { StringEquals: OURS } }),
    ]);

    this.cleanup = this.fn('CleanupAmis', {
      folder: 'cleanup',
      description: 'Deregisters unpublished stemcell AMIs older than N days, with their snapshots (dry run unless told)',
      timeout: Duration.minutes(15),
    }, [
      describe('DescribeImages', 'DescribeRegions'),
      new iam.PolicyStatement({
        actions: ['ec2:DeregisterImage'],
        resources: [images],
        conditions: { StringEquals: { ...OURS, [`aws:ResourceTag/${AMI_TAG.published}`]: 'false' } },
      }),
      new iam.PolicyStatement({ actions: ['ec2:DeleteSnapshot'], resources: [snapshots], conditions: { StringEquals: OURS } }),
    ]);

    for (const f of [this.registerAmi, this.copyAmi, this.checkAmiCopies, this.lightStemcell, this.cleanup]) {
      Validations.of(f.role!).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'Only EC2 Describe* and GetImageBlockPublicAccessState are granted on *: they have no resource-level permissions.',
      });
    }
    for (const objects of ['*', '*light-*.tgz']) {
      acknowledgeBucketObjects(
        this.lightStemcell.role!,
        props.stemcellBucket,
        objects,
        'Objects of the stemcell bucket only: heavy stemcells are read wherever the build put them; writes are limited to light-*.tgz keys and to new objects.',
      );
    }
    Validations.of(this).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:*::image/*]`,
      reason: 'AMI ids are not known before RegisterImage/CopyImage creates them, and copies land in every region; changes to existing AMIs are limited to the farm-tagged ones by condition.',
    });
    Validations.of(this).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:*::snapshot/*]`,
      reason: 'Snapshot ids are made per build and per region; every action on them is limited to farm-tagged snapshots by condition.',
    });
  }

  private fn(id: string, spec: Omit<FarmFunctionProps, 'statements' | 'logRetention'>, statements: iam.PolicyStatement[]): NodejsFunction {
    return new FarmFunction(this, id, { ...spec, statements, logRetention: this.logRetention });
  }
}
