import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { STATUS_EVENT } from '../farm/notification';
import { FINAL_STATUSES } from '../farm/records';
import { acknowledgeBucketObjects } from './acknowledge';
import { FarmFunction } from './farm-function';

export interface BuildNotificationsProps {
  /** The build runbook's name: its status changes are what this reports. */
  readonly runbookName: string;
  readonly buildsTable: dynamodb.ITable;
  readonly stemcellBucket: s3.IBucket;
  /**
   * An email address subscribed to the topic (the address confirms by mail).
   * @default - no subscription; subscribe later in the SNS console
   */
  readonly email?: string;
  /** @default logs.RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * Telling people how builds went: an encrypted SNS topic, and an EventBridge
 * rule on the runbook's final statuses that runs build-status, which
 * completes the build's record and publishes a message an operator can read.
 * Other farm parts (the sweeper) publish to the same topic.
 */
export class BuildNotifications extends Construct {
  readonly topic: sns.Topic;
  readonly key: kms.Key;
  readonly rule: events.Rule;
  readonly buildStatus: lambda.IFunction;
  readonly deadLetters: sqs.Queue;

  constructor(scope: Construct, id: string, props: BuildNotificationsProps) {
    super(scope, id);
    const { partition, region, account } = Stack.of(this);
    if (props.email !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(props.email)) throw new Error(`BuildNotifications: email ${JSON.stringify(props.email)} is not an email address`);
    const logRetention = props.logRetention ?? logs.RetentionDays.THREE_MONTHS;

    this.key = new kms.Key(this, 'Key', { enableKeyRotation: true, description: 'Stemcell Farm: build notifications' });
    this.topic = new sns.Topic(this, 'Topic', { displayName: 'Stemcell Farm builds', masterKey: this.key, enforceSSL: true });
    if (props.email) this.topic.addSubscription(new subscriptions.EmailSubscription(props.email));

    this.buildStatus = new FarmFunction(this, 'BuildStatus', {
      folder: 'build-status',
      description: "A build ended: completes its record and notifies the farm's topic",
      timeout: Duration.seconds(60),
      environment: { RUNBOOK_NAME: props.runbookName, BUILDS_TABLE: props.buildsTable.tableName, STEMCELL_BUCKET: props.stemcellBucket.bucketName, TOPIC_ARN: this.topic.topicArn },
      logRetention,
      statements: [
        new iam.PolicyStatement({ actions: ['ssm:GetAutomationExecution'], resources: [`arn:${partition}:ssm:${region}:${account}:automation-execution/*`] }),
        new iam.PolicyStatement({ actions: ['dynamodb:GetItem', 'dynamodb:PutItem'], resources: [props.buildsTable.tableArn] }),
        new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [props.stemcellBucket.arnForObjects('builds/*/result.json'), props.stemcellBucket.arnForObjects('*/light-bosh-stemcell-*.tgz')] }),
        // A build that wrote no result is NoSuchKey only with ListBucket (AccessDenied otherwise).
        new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [props.stemcellBucket.bucketArn] }),
      ],
    });
    grantPublish(this.topic, this.buildStatus.role!);
    Validations.of(this.buildStatus.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:automation-execution/*]`,
      reason: 'Execution ids are made per build; GetAutomationExecution only reads, and the rule delivers only the build runbook’s events.',
    });
    acknowledgeBucketObjects(this.buildStatus.role!, props.stemcellBucket, 'builds/*/result.json', 'Each build writes its result below builds/<build id>/; read only.');
    acknowledgeBucketObjects(this.buildStatus.role!, props.stemcellBucket, '*/light-bosh-stemcell-*.tgz', "Light stemcells are named per version; build-status reads the one the execution published for its AMI map.");

    // SQS-managed encryption: EventBridge can write it without a key grant.
    this.deadLetters = new sqs.Queue(this, 'Undelivered', { encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true, retentionPeriod: Duration.days(14) });
    Validations.of(this.deadLetters).acknowledge({ id: 'AwsSolutions-SQS3', reason: 'This queue is itself the dead-letter queue of the build-status rule target.' });
    this.rule = new events.Rule(this, 'StatusRule', {
      description: 'Stemcell Farm: the build runbook ended (success, failure, time-out or cancel)',
      eventPattern: { source: [STATUS_EVENT.source], detailType: [STATUS_EVENT.detailType], detail: { Definition: [props.runbookName], Status: [...FINAL_STATUSES] } },
      targets: [new targets.LambdaFunction(this.buildStatus, { retryAttempts: 8, maxEventAge: Duration.hours(6), deadLetterQueue: this.deadLetters })],
    });
  }
}

/**
 * Publishing to a farm topic: SNS's own grant (sns:Publish, and on an
 * encrypted topic the key actions a publisher needs), acknowledged for
 * cdk-nag where it names the key actions with a wildcard.
 */
export function grantPublish(topic: sns.ITopic, role: iam.IRole): void {
  topic.grantPublish(role);
  if (topic.masterKey) {
    Validations.of(role).acknowledge({ id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]', reason: "Publishing to the encrypted notification topic: SNS's grant, on the topic's key only." });
  }
}
