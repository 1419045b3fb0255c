import { CfnOutput, Duration, Stack, StackProps } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { AmiPublishing } from '../constructs/ami-publishing';
import { BuilderAccess } from '../constructs/builder-access';
import { BuilderImage } from '../constructs/builder-image';
import { BuildDashboard } from '../constructs/build-dashboard';
import { BuildHistory } from '../constructs/build-history';
import { BuildNotifications } from '../constructs/build-notifications';
import { BuildSchedules } from '../constructs/build-schedules';
import { FARM_OUTPUTS } from '../farm/farm-outputs';
import { operatingSystemNames } from '../stemcell/matrix';
import { StemcellLineConfig } from '../farm/lines';
import { BuildRunbook } from '../constructs/build-runbook';
import { FarmBuilder } from '../constructs/farm-builder';
import { FarmBuckets } from '../constructs/farm-buckets';
import { FarmNetwork } from '../constructs/farm-network';

export interface StemcellFarmStackProps extends StackProps {
  /** @default 2 */
  readonly maxAzs?: number;
  /** @default false */
  readonly privateSubnets?: boolean;
  /** @default 1 (only with privateSubnets) */
  readonly natGateways?: number;
  /** @default - no SSH ingress */
  readonly sshIngressCidr?: string;
  /** @default logs.RetentionDays.THREE_MONTHS */
  readonly flowLogRetention?: logs.RetentionDays;
  /** @default Duration.days(30) */
  readonly noncurrentVersionExpiration?: Duration;
  /**
   * ARNs of the KMS keys copy-ami may encrypt AMI copies with, one per region
   * you encrypt in (they come from configuration, so as ARNs).
   * @default - none
   */
  readonly amiCopyKmsKeyArns?: string[];
  /**
   * The longest a build may run; its builder powers off (and terminates) after it.
   * @default Duration.hours(4)
   */
  readonly maxBuildTime?: Duration;
  /**
   * An email address to subscribe to build notifications.
   * @default - none (subscribe to the NotificationTopicArn output yourself)
   */
  readonly notificationEmail?: string;
  /**
   * The stemcell lines built on a schedule (lib/farm/lines.ts parses them from cdk.json).
   * @default - none: builds start only by hand
   */
  readonly stemcellLines?: readonly StemcellLineConfig[];
}

/**
 * The build farm: network, builder access, buckets, the AMI Lambdas, the
 * builder and its image pipeline, the build runbook, the versions and build
 * records, notifications and schedules.
 */
export class StemcellFarmStack extends Stack {
  readonly network: FarmNetwork;
  readonly access: BuilderAccess;
  readonly buckets: FarmBuckets;
  readonly amiPublishing: AmiPublishing;
  readonly builder: FarmBuilder;
  readonly builderImage: BuilderImage;
  readonly runbook: BuildRunbook;
  readonly history: BuildHistory;
  readonly notifications: BuildNotifications;
  readonly schedules: BuildSchedules;
  readonly dashboard: BuildDashboard;

  constructor(scope: Construct, id: string, props: StemcellFarmStackProps = {}) {
    super(scope, id, { description: 'Stemcell Farm: builds custom BOSH stemcells', ...props });
    this.network = new FarmNetwork(this, 'Network', {
      maxAzs: props.maxAzs,
      privateSubnets: props.privateSubnets,
      natGateways: props.natGateways,
      flowLogRetention: props.flowLogRetention,
    });
    this.access = new BuilderAccess(this, 'BuilderAccess', { vpc: this.network.vpc, sshIngressCidr: props.sshIngressCidr });
    this.buckets = new FarmBuckets(this, 'Buckets', { noncurrentVersionExpiration: props.noncurrentVersionExpiration });

    this.amiPublishing = new AmiPublishing(this, 'AmiPublishing', {
      stemcellBucket: this.buckets.stemcellBucket,
      copyEncryptionKeys: (props.amiCopyKmsKeyArns ?? []).map((arn, i) => kms.Key.fromKeyArn(this, `AmiCopyKey${i}`, arn)),
    });

    this.builder = new FarmBuilder(this, 'Builder', {
      vpc: this.network.vpc,
      securityGroup: this.access.securityGroup,
      osImageBucket: this.buckets.osImageBucket,
      stemcellBucket: this.buckets.stemcellBucket,
      maxBuildTime: props.maxBuildTime,
      // A key pair is for SSH, which needs ingress too; Session Manager needs neither.
      keyPair: props.sshIngressCidr ? this.access.keyPair : undefined,
    });
    this.builderImage = new BuilderImage(this, 'BuilderImage', {
      vpc: this.network.vpc,
      subnets: this.network.builderSubnets,
      securityGroup: this.access.securityGroup,
      code: this.builder.code,
      logBucket: this.buckets.accessLogsBucket,
    });
    this.history = new BuildHistory(this, 'History');
    this.runbook = new BuildRunbook(this, 'BuildRunbook', {
      builder: this.builder,
      builderSubnets: this.network.vpc.selectSubnets(this.network.builderSubnets).subnets,
      osImageBucket: this.buckets.osImageBucket,
      stemcellBucket: this.buckets.stemcellBucket,
      amiPublishing: this.amiPublishing,
      versionsTable: this.history.versionsTable,
      buildsTable: this.history.buildsTable,
      versionFormats: Object.fromEntries((props.stemcellLines ?? []).map((l) => [l.line, l.versionFormat])),
      builderImageParameterName: this.builderImage.parameterName,
    });
    this.notifications = new BuildNotifications(this, 'Notifications', {
      runbookName: this.runbook.document.ref,
      buildsTable: this.history.buildsTable,
      stemcellBucket: this.buckets.stemcellBucket,
      email: props.notificationEmail,
    });
    this.schedules = new BuildSchedules(this, 'Schedules', {
      runbookName: this.runbook.document.ref,
      runbookRole: this.runbook.role,
      lines: props.stemcellLines ?? [],
      cleanupFunction: this.amiPublishing.cleanup,
      maxBuildTime: this.builder.maxBuildTime,
      notifications: this.notifications.topic,
    });
    this.dashboard = new BuildDashboard(this, 'Dashboard', {
      lines: operatingSystemNames(),
      buildStatusLogGroup: this.notifications.buildStatus.logGroup,
      buildsTableName: this.history.buildsTable.tableName,
    });

    new CfnOutput(this, FARM_OUTPUTS.runbookName, { value: this.runbook.document.ref, description: 'Systems Manager > Automation > Execute automation > Owned by me: this runbook' });
    new CfnOutput(this, FARM_OUTPUTS.buildLogGroup, { value: this.builder.logGroup.logGroupName, description: 'Full logs of the builds (the BuildOnHost step), one stream per command' });
    new CfnOutput(this, 'BuilderImagePipelineArn', { value: this.builderImage.pipeline.attrArn, description: 'aws imagebuilder start-image-pipeline-execution --image-pipeline-arn <this> bakes a builder image now' });
    new CfnOutput(this, 'BuilderImageParameterName', { value: this.builderImage.parameterName, description: "The builder image's AMI id, written by the pipeline; until its first image, builds start from Canonical's Ubuntu 24.04" });
    new CfnOutput(this, 'DashboardName', { value: this.dashboard.dashboard.dashboardName, description: 'Builds per line, success rate, duration, newest light stemcells (CloudWatch console > Dashboards)' });
    new CfnOutput(this, FARM_OUTPUTS.buildsTable, { value: this.history.buildsTable.tableName, description: 'The build records: one item per execution, indexes ByLine and ByMonth' });
    new CfnOutput(this, 'VersionsTableName', { value: this.history.versionsTable.tableName, description: 'Version counters per stemcell line' });
    new CfnOutput(this, 'NotificationTopicArn', { value: this.notifications.topic.topicArn, description: 'Build notifications: aws sns subscribe --protocol email --topic-arn <this> --notification-endpoint you@example.com' });
    new CfnOutput(this, FARM_OUTPUTS.osImageBucket, { value: this.buckets.osImageBucket.bucketName });
    new CfnOutput(this, FARM_OUTPUTS.stemcellBucket, { value: this.buckets.stemcellBucket.bucketName });
    new CfnOutput(this, 'BuilderSecurityGroupId', { value: this.access.securityGroup.securityGroupId });
    new CfnOutput(this, 'BuilderKeyPairPrivateKeyParameter', {
      value: this.access.keyPair.privateKey.parameterName,
      description: 'aws ssm get-parameter --with-decryption --name <this> gives the builders SSH private key',
    });
    const functions = this.amiPublishing;
    for (const [name, fn] of Object.entries({ RegisterAmiFunction: functions.registerAmi, CopyAmiFunction: functions.copyAmi, CheckAmiCopiesFunction: functions.checkAmiCopies, LightStemcellFunction: functions.lightStemcell, CleanupAmisFunction: functions.cleanup })) {
      new CfnOutput(this, `${name}Name`, { value: fn.functionName });
    }
  }
}
