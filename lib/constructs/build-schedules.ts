import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct, IConstruct } from 'constructs';
import { scheduleExpressionProblem, StemcellLineConfig } from '../farm/lines';
import { DEFAULT_GRACE_MINUTES } from '../farm/sweep';
import { parseCleanupEvent } from '../publish/cleanup';
import { AMI_TAG, MANAGED_BY } from '../stemcell/ami';
import { grantPublish, notifyingAlarm } from './build-notifications';
import { FarmFunction } from './farm-function';

export interface BuildSchedulesProps {
  /** The build runbook's document name, as StartAutomationExecution takes it. */
  readonly runbookName: string;
  /** The role the runbook runs as (its AutomationAssumeRole default): starting the runbook passes it. */
  readonly runbookRole: iam.IRole;
  /** A schedule each; a disabled line's schedule exists, switched off. */
  readonly lines: readonly StemcellLineConfig[];
  /** The AMI cleanup (lambda/cleanup): it deregisters only farm AMIs never published, with their snapshots. */
  readonly cleanupFunction: lambda.IFunction;
  /** In UTC. @default 'cron(0 4 * * ? *)' (daily, 04:00) */
  readonly cleanupSchedule?: string;
  /** @default 7 */
  readonly cleanupOlderThanDays?: number;
  /** The builders' maximum build time (their watchdog's): the sweeper terminates builders older than this and the grace. */
  readonly maxBuildTime: Duration;
  /** @default Duration.minutes(DEFAULT_GRACE_MINUTES) */
  readonly sweepGrace?: Duration;
  /** Where the sweeper reports, and where the alarms of the schedules, the sweeper and the cleanup go. */
  readonly notifications: sns.ITopic;
  /** @default logs.RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
}

/** EventBridge Scheduler's universal target for StartAutomationExecution. */
const START_AUTOMATION = 'scheduler:::aws-sdk:ssm:startAutomationExecution';

/**
 * The farm's schedules, in a schedule group of its own: one per stemcell line
 * (starting the build runbook with the line's form), the daily AMI cleanup and
 * the hourly sweeper of builders that outlived the longest build. Each kind of
 * schedule has its own role, which may do only what its target needs; an
 * invocation Scheduler gives up on, and an error of the cleanup or the
 * sweeper, raises an alarm on the notification topic.
 *
 * L1 schedules rather than aws-scheduler's L2: the expressions are checked by
 * lib/farm/lines.ts already, the targets are two ARNs, and the L2 Lambda
 * target grants every version of the function (`<arn>:*`) where a schedule
 * invokes only the unqualified one.
 */
export class BuildSchedules extends Construct {
  readonly group: scheduler.CfnScheduleGroup;
  /** By line. */
  readonly buildSchedules: Record<string, scheduler.CfnSchedule> = {};
  readonly buildRole: iam.Role;
  readonly cleanupSchedule: scheduler.CfnSchedule;
  readonly sweeper: FarmFunction;
  readonly sweepSchedule: scheduler.CfnSchedule;
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: BuildSchedulesProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const { partition, region, account } = stack;
    const lines = props.lines.map((l) => l.line);
    const twice = lines.find((l, i) => lines.indexOf(l) !== i);
    if (twice) throw new Error(`BuildSchedules: line ${twice} is given twice`);
    const cleanupExpression = props.cleanupSchedule ?? 'cron(0 4 * * ? *)';
    const cleanupProblem = scheduleExpressionProblem(cleanupExpression);
    if (cleanupProblem) throw new Error(`BuildSchedules: cleanupSchedule: ${cleanupProblem}`);
    // The cleanup's own check of its input, now rather than at 04:00.
    const cleanupInput = { dryRun: false, olderThanDays: props.cleanupOlderThanDays ?? 7 };
    parseCleanupEvent(cleanupInput);

    // Named after the stack, so that the console shows whose schedules these are.
    this.group = new scheduler.CfnScheduleGroup(this, 'Group', { name: stack.stackName });
    const schedulerRole = (roleId: string, description: string): iam.Role =>
      new iam.Role(this, roleId, {
        // Only this account's schedules of this group may use it.
        assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': account, 'aws:SourceArn': this.group.attrArn } } }),
        description,
      });

    // Builds: start this runbook, passing the role it runs as, and nothing else.
    this.buildRole = schedulerRole('BuildRole', 'Stemcell Farm schedules: start the build runbook');
    const automationDefinition = `arn:${partition}:ssm:${region}:${account}:automation-definition/${props.runbookName}:*`;
    this.buildRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['ssm:StartAutomationExecution'],
        // AWS's examples name the runbook both ways; the version (:*) is whichever is the default when the schedule fires.
        resources: [automationDefinition, `arn:${partition}:ssm:${region}:${account}:document/${props.runbookName}`],
      }),
    );
    this.buildRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['iam:PassRole'], resources: [props.runbookRole.roleArn], conditions: { StringEquals: { 'iam:PassedToService': 'ssm.amazonaws.com' } } }));
    Validations.of(this.buildRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResource(this, automationDefinition)}]`,
      reason: 'Versions of the one build runbook: a deploy adds a version and makes it the default, which is what a schedule starts.',
    });
    for (const line of props.lines) {
      this.buildSchedules[line.line] = this.schedule(`Build-${line.line}`, {
        name: `build-${line.line}`,
        description: `Builds ${line.line} stemcells, versions ${line.versionFormat.format} (major ${line.versionFormat.major})`,
        expression: line.schedule,
        timeZone: line.timeZone,
        enabled: line.enabled,
        target: `arn:${partition}:${START_AUTOMATION}`,
        role: this.buildRole,
        // The API request: Parameters' values are lists of strings.
        input: { DocumentName: props.runbookName, Parameters: line.parameters },
        // A missed weekly build should still start that day; a second start
        // after a lost answer is another build with its own version, not harm.
        retry: { maximumEventAgeInSeconds: Duration.hours(6).toSeconds(), maximumRetryAttempts: 10 },
      });
    }

    // The cleanup removes only farm AMIs never published (tag published=false), so a daily run takes nothing anyone uses.
    const cleanupRole = schedulerRole('CleanupRole', 'Stemcell Farm schedules: run the AMI cleanup');
    cleanupRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [props.cleanupFunction.functionArn] }));
    this.cleanupSchedule = this.schedule('Cleanup', {
      name: 'cleanup-amis',
      description: `Deregisters farm AMIs never published and older than ${cleanupInput.olderThanDays} days, with their snapshots, in every enabled region`,
      expression: cleanupExpression,
      timeZone: 'UTC',
      enabled: true,
      target: props.cleanupFunction.functionArn,
      role: cleanupRole,
      input: cleanupInput,
      // Tomorrow's run does the same.
      retry: { maximumEventAgeInSeconds: Duration.hours(1).toSeconds(), maximumRetryAttempts: 3 },
    });

    const maxBuildMinutes = Math.ceil(props.maxBuildTime.toMinutes({ integral: false }));
    this.sweeper = new FarmFunction(this, 'Sweeper', {
      folder: 'sweep-builders',
      description: 'Terminates farm builder instances older than the maximum build time and reports them',
      timeout: Duration.minutes(2),
      environment: {
        MAX_BUILD_MINUTES: String(maxBuildMinutes),
        FARM_STACK_NAME: stack.stackName,
        GRACE_MINUTES: String(Math.ceil((props.sweepGrace ?? Duration.minutes(DEFAULT_GRACE_MINUTES)).toMinutes({ integral: false }))),
        TOPIC_ARN: props.notifications.topicArn,
      },
      logRetention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      statements: [
        // No resource-level permissions.
        new iam.PolicyStatement({ actions: ['ec2:DescribeInstances'], resources: ['*'] }),
        new iam.PolicyStatement({
          actions: ['ec2:TerminateInstances'],
          resources: [`arn:${partition}:ec2:${region}:${account}:instance/*`],
          conditions: { StringEquals: { [`aws:ResourceTag/${AMI_TAG.managedBy}`]: MANAGED_BY } },
        }),
      ],
    });
    const sweeperRole = this.sweeper.role!;
    grantPublish(props.notifications, sweeperRole);
    Validations.of(sweeperRole).acknowledge({ id: 'AwsSolutions-IAM5[Resource::*]', reason: 'ec2:DescribeInstances has no resource-level permissions.' });
    Validations.of(sweeperRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*]',
      reason: 'Builder instances get their ids at launch; terminating is limited to farm-tagged instances by condition.',
    });
    const sweepRole = schedulerRole('SweepRole', 'Stemcell Farm schedules: run the builder sweeper');
    sweepRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.sweeper.functionArn] }));
    this.sweepSchedule = this.schedule('Sweep', {
      name: 'sweep-builders',
      description: `Terminates farm builders older than ${maxBuildMinutes} minutes (the maximum build time) and a grace, and reports them`,
      expression: 'rate(1 hour)',
      timeZone: 'UTC',
      enabled: true,
      target: this.sweeper.functionArn,
      role: sweepRole,
      input: {},
      // The next hour's run does the same.
      retry: { maximumEventAgeInSeconds: Duration.minutes(30).toSeconds(), maximumRetryAttempts: 3 },
    });

    this.addAlarms(props);
  }

  private schedule(
    id: string,
    s: { name: string; description: string; expression: string; timeZone: string; enabled: boolean; target: string; role: iam.Role; input: unknown; retry: scheduler.CfnSchedule.RetryPolicyProperty },
  ): scheduler.CfnSchedule {
    const schedule = new scheduler.CfnSchedule(this, id, {
      name: s.name,
      groupName: this.group.ref,
      description: s.description,
      scheduleExpression: s.expression,
      scheduleExpressionTimezone: s.timeZone,
      state: s.enabled ? 'ENABLED' : 'DISABLED',
      flexibleTimeWindow: { mode: 'OFF' },
      target: { arn: s.target, roleArn: s.role.roleArn, input: Stack.of(this).toJsonString(s.input), retryPolicy: s.retry },
    });
    // The role's policy too, not only the role: a schedule may fire as soon as it exists.
    schedule.node.addDependency(s.role);
    return schedule;
  }

  private addAlarms(props: BuildSchedulesProps): void {
    const hour = Duration.hours(1);
    const alarm = (id: string, metric: cloudwatch.IMetric, description: string): void => {
      this.alarms.push(notifyingAlarm(this, id, props.notifications, metric, description));
    };
    alarm(
      'DroppedAlarm',
      new cloudwatch.Metric({ namespace: 'AWS/Scheduler', metricName: 'InvocationDroppedCount', dimensionsMap: { ScheduleGroup: this.group.ref }, statistic: 'Sum', period: hour }),
      'A farm schedule (a stemcell line, the AMI cleanup or the builder sweeper) gave up starting its target after its retries: see the schedule group in EventBridge Scheduler and its role.',
    );
    alarm('SweeperErrorsAlarm', this.sweeper.metricErrors({ period: hour, statistic: 'Sum' }), 'The builder sweeper failed: builders past the maximum build time may be left running. See its log group.');
    alarm('CleanupErrorsAlarm', props.cleanupFunction.metricErrors({ period: hour, statistic: 'Sum' }), 'The daily AMI cleanup failed. See its log group.');
  }
}

/** A resource as cdk-nag names it in a finding: references as <LogicalId>, <LogicalId.Attribute> and <AWS::Pseudo>. */
function nagResource(scope: IConstruct, value: string): string {
  const flatten = (v: unknown): string => {
    if (typeof v === 'string') return v;
    const o = v as Record<string, unknown>;
    if ('Ref' in o) return `<${o.Ref as string}>`;
    if ('Fn::GetAtt' in o) return `<${(o['Fn::GetAtt'] as string[]).join('.')}>`;
    if ('Fn::Join' in o) return ((o['Fn::Join'] as [string, unknown[]])[1]).map(flatten).join((o['Fn::Join'] as [string, unknown[]])[0]);
    throw new Error(`BuildSchedules: cannot name ${JSON.stringify(v)} for cdk-nag`);
  };
  return flatten(Stack.of(scope).resolve(value));
}
