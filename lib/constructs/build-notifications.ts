import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { isEmailAddress } from '../aws/identifiers';
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
  readonly buildStatus: FarmFunction;
  readonly deadLetters: sqs.Queue;

  constructor(scope: Construct, id: string, props: BuildNotificationsProps) {
    super(scope, id);
    const { partition, region, account } = Stack.of(this);
    if (props.email !== undefined && !isEmailAddress(props.email)) throw new Error(`BuildNotifications: email ${JSON.stringify(props.email)} is not an email address`);
    const logRetention = props.logRetention ?? logs.RetentionDays.THREE_MONTHS;

    this.key = new kms.Key(this, 'Key', { enableKeyRotation: true, description: 'Stemcell Farm: build notifications' });
    this.topic = new sns.Topic(this, 'Topic', { displayName: 'Stemcell Farm builds', masterKey: this.key, enforceSSL: true });
    if (props.email) this.topic.addSubscription(new subscriptions.EmailSubscription(props.email));
    this.allowAlarms();

    this.buildStatus = new FarmFunction(this, 'BuildStatus', {
      folder: 'build-status',
      description: "A build ended: completes its record and notifies the farm's topic",
      timeout: Duration.seconds(60),
      environment: { RUNBOOK_NAME: props.runbookName, BUILDS_TABLE: props.buildsTable.tableName, STEMCELL_BUCKET: props.stemcellBucket.bucketName, TOPIC_ARN: this.topic.topicArn },
      logRetention,
      statements: [
        new iam.PolicyStatement({ actions: ['ssm:GetAutomationExecution'], resources: [`arn:${partition}:ssm:${region}:${account}:automation-execution/*`] }),
        new iam.PolicyStatement({ actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], resources: [props.buildsTable.tableArn] }),
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

    // Status events that could not be delivered to build-status, or that it failed on after Lambda's retries.
    // SQS-managed encryption: EventBridge and Lambda can write it without a key grant.
    this.deadLetters = new sqs.Queue(this, 'Undelivered', { encryption: sqs.QueueEncryption.SQS_MANAGED, enforceSSL: true, retentionPeriod: Duration.days(14) });
    Validations.of(this.deadLetters).acknowledge({ id: 'AwsSolutions-SQS3', reason: 'This queue is itself the dead-letter queue of the build-status rule target and of the function.' });
    this.buildStatus.configureAsyncInvoke({ retryAttempts: 2, maxEventAge: Duration.hours(6), onFailure: new destinations.SqsDestination(this.deadLetters) });
    this.rule = new events.Rule(this, 'StatusRule', {
      description: 'Stemcell Farm: the build runbook ended (success, failure, time-out or cancel)',
      eventPattern: { source: [STATUS_EVENT.source], detailType: [STATUS_EVENT.detailType], detail: { Definition: [props.runbookName], Status: [...FINAL_STATUSES] } },
      targets: [new targets.LambdaFunction(this.buildStatus, { retryAttempts: 8, maxEventAge: Duration.hours(6), deadLetterQueue: this.deadLetters })],
    });

    // A build whose end was not recorded or announced: say so where someone looks.
    notifyingAlarm(this, 'BuildStatusErrorsAlarm', this.topic, this.buildStatus.metricErrors({ period: Duration.hours(1), statistic: 'Sum' }), "build-status failed on a build's end: its record may still say InProgress and its mail may be missing. See the function's log group; the event is in the Undelivered queue after Lambda's retries.");
    notifyingAlarm(
      this,
      'UndeliveredAlarm',
      this.topic,
      this.deadLetters.metricApproximateNumberOfMessagesVisible({ period: Duration.hours(1), statistic: 'Maximum' }),
      "Status events of builds are waiting in the Undelivered queue: build-status never recorded them. Read them in the SQS console, fix the cause, and send them to build-status again (aws lambda invoke with the message's body).",
    );
  }

  /**
   * CloudWatch alarms of this account publish to the topic. The topic's own
   * policy (made for enforceSSL) replaces SNS's default one, and its key is a
   * customer managed key: both must let CloudWatch in, for this account's
   * alarms only.
   */
  private allowAlarms(): void {
    const { partition, region, account } = Stack.of(this);
    const cloudwatchService = new iam.ServicePrincipal('cloudwatch.amazonaws.com');
    const conditions = { StringEquals: { 'aws:SourceAccount': account }, ArnLike: { 'aws:SourceArn': `arn:${partition}:cloudwatch:${region}:${account}:alarm:*` } };
    this.topic.addToResourcePolicy(new iam.PolicyStatement({ principals: [cloudwatchService], actions: ['sns:Publish'], resources: [this.topic.topicArn], conditions }));
    this.key.addToResourcePolicy(new iam.PolicyStatement({ principals: [cloudwatchService], actions: ['kms:Decrypt', 'kms:GenerateDataKey*'], resources: ['*'], conditions }));
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

/**
 * An alarm when `metric` is at least one in its period, sent to a farm topic
 * (BuildNotifications lets this account's alarms publish to its topic).
 */
export function notifyingAlarm(scope: Construct, id: string, topic: sns.ITopic, metric: cloudwatch.IMetric, description: string): cloudwatch.Alarm {
  const alarm = new cloudwatch.Alarm(scope, id, {
    metric,
    threshold: 1,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    // No data is no failure: what these watch runs a few times a day at most.
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    alarmDescription: description,
  });
  alarm.addAlarmAction(new cloudwatchActions.SnsAction(topic));
  return alarm;
}
