/**
 * sweep-builders: terminates builder instances that outlived the longest
 * build. A builder powers itself off after the maximum build time (its
 * watchdog) and the runbook terminates it on every path, so one still there
 * later means both failed (a watchdog that never ran, a stopped instance, an
 * execution deleted midway); it would otherwise cost money until someone
 * notices. Each one found is reported on the farm's notification topic.
 */
import { DescribeInstancesCommand, EC2Client, Instance, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { AMI_TAG, FARM_STACK_TAG, MANAGED_BY } from '../stemcell/ami';
import { errorMessage, withRetries } from '../aws/retry';
import { RunOptions } from '../aws/runtime';

export interface SweepConfig {
  /** The builders' maximum build time (their watchdog's), in minutes. */
  readonly maxBuildMinutes: number;
  /** Time past the maximum for the watchdog's power-off and the runbook's own termination. */
  readonly graceMinutes: number;
  readonly topicArn: string;
  /** The farm stack whose builders these are (their FARM_STACK_TAG): another farm's are not ours to judge. */
  readonly stackName: string;
}

/** Powering off and terminating take minutes; the runbook's last step may run a little past the watchdog. */
export const DEFAULT_GRACE_MINUTES = 30;

/** The states in which an instance still exists (and, but for stopped, costs). */
const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped'];

export interface SweptBuilder {
  readonly instanceId: string;
  /** Empty when the instance has no build-id tag. */
  readonly buildId: string;
  readonly launchedAt: string;
  readonly ageMinutes: number;
}

export interface SweepReport {
  readonly terminated: SweptBuilder[];
  readonly failed: (SweptBuilder & { readonly reason: string })[];
  /** Farm builders still within their time. */
  readonly kept: string[];
  /** Whether the report went to the topic (only when something was terminated or failed). */
  readonly notified: boolean;
}

const MINUTE = 60_000;

/** The sweeper's configuration from its environment, which the farm stack sets. */
export function sweepConfigFromEnvironment(env: Record<string, string | undefined>): SweepConfig {
  const minutes = (name: string, fallback?: number): number => {
    const raw = env[name];
    if ((raw === undefined || raw === '') && fallback !== undefined) return fallback;
    if (raw === undefined || !/^\d{1,5}$/.test(raw)) throw new Error(`${name} must be a whole number of minutes, got ${JSON.stringify(raw)}; the farm stack sets it`);
    return Number(raw);
  };
  const maxBuildMinutes = minutes('MAX_BUILD_MINUTES');
  if (maxBuildMinutes === 0) throw new Error('MAX_BUILD_MINUTES must be more than 0; the farm stack sets it');
  const topicArn = env.TOPIC_ARN;
  if (!topicArn || !/^arn:[a-z-]+:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$/.test(topicArn)) throw new Error(`TOPIC_ARN must be an SNS topic ARN, got ${JSON.stringify(topicArn)}; the farm stack sets it`);
  const stackName = env.FARM_STACK_NAME;
  if (!stackName || !/^[A-Za-z][A-Za-z0-9-]{0,127}$/.test(stackName)) throw new Error(`FARM_STACK_NAME must be a stack name, got ${JSON.stringify(stackName)}; the farm stack sets it`);
  return { maxBuildMinutes, graceMinutes: minutes('GRACE_MINUTES', DEFAULT_GRACE_MINUTES), topicArn, stackName };
}

async function farmInstances(ec2: EC2Client, stackName: string, options: RunOptions): Promise<Instance[]> {
  const instances: Instance[] = [];
  let token: string | undefined;
  do {
    const out = await withRetries(
      () =>
        ec2.send(
          new DescribeInstancesCommand({
            Filters: [
              { Name: `tag:${AMI_TAG.managedBy}`, Values: [MANAGED_BY] },
              { Name: `tag:${FARM_STACK_TAG}`, Values: [stackName] },
              { Name: 'instance-state-name', Values: LIVE_STATES },
            ],
            MaxResults: 1000,
            NextToken: token,
          }),
        ),
      options.clock,
      { deadline: options.deadline },
    );
    for (const reservation of out.Reservations ?? []) instances.push(...(reservation.Instances ?? []));
    token = out.NextToken;
  } while (token);
  return instances;
}

/** Find the farm's builders past their time, terminate them, and report on the topic when there was any. */
export async function sweepBuilders(clients: { ec2: EC2Client; sns: SNSClient }, config: SweepConfig, options: RunOptions): Promise<SweepReport> {
  const now = options.clock.now();
  const limitMinutes = config.maxBuildMinutes + config.graceMinutes;
  const found = await farmInstances(clients.ec2, config.stackName, options);
  const terminated: SweptBuilder[] = [];
  const failed: SweepReport['failed'] = [];
  const kept: string[] = [];
  for (const instance of found.sort((a, b) => a.InstanceId!.localeCompare(b.InstanceId!))) {
    // The filter asked for the tags; an instance without them is never touched, whatever EC2 answered.
    const tagged = (key: string, value: string): boolean => instance.Tags?.some((t) => t.Key === key && t.Value === value) ?? false;
    if (!tagged(AMI_TAG.managedBy, MANAGED_BY) || !tagged(FARM_STACK_TAG, config.stackName)) continue;
    const launched = instance.LaunchTime?.getTime();
    const ageMinutes = launched === undefined ? NaN : Math.floor((now - launched) / MINUTE);
    // An instance whose age cannot be told is kept: the sweeper only terminates what it knows outlived the builds.
    if (!Number.isFinite(ageMinutes) || ageMinutes <= limitMinutes) {
      kept.push(instance.InstanceId!);
      continue;
    }
    const builder: SweptBuilder = {
      instanceId: instance.InstanceId!,
      buildId: instance.Tags?.find((t) => t.Key === AMI_TAG.buildId)?.Value ?? '',
      launchedAt: new Date(launched!).toISOString(),
      ageMinutes,
    };
    try {
      await withRetries(() => clients.ec2.send(new TerminateInstancesCommand({ InstanceIds: [builder.instanceId] })), options.clock, { deadline: options.deadline });
      terminated.push(builder);
    } catch (e) {
      failed.push({ ...builder, reason: errorMessage(e) });
    }
  }
  if (terminated.length === 0 && failed.length === 0) return { terminated, failed, kept, notified: false };

  const { subject, body } = sweepMessage(terminated, failed, config);
  try {
    await withRetries(() => clients.sns.send(new PublishCommand({ TopicArn: config.topicArn, Subject: subject, Message: body })), options.clock, { deadline: options.deadline });
  } catch (e) {
    // The function fails, so that its errors show; the message says what was done.
    throw new Error(`could not publish to ${config.topicArn} (${errorMessage(e)}):\n${body}`);
  }
  return { terminated, failed, kept, notified: true };
}

/** The notification: a subject (SNS: at most 100 characters, one line) and a body an operator acts on. */
export function sweepMessage(terminated: readonly SweptBuilder[], failed: SweepReport['failed'], config: SweepConfig): { subject: string; body: string } {
  const plural = (n: number): string => `${n} builder${n === 1 ? '' : 's'}`;
  const subject =
    failed.length > 0
      ? `Stemcell Farm: ${plural(failed.length)} past the maximum build time could not be terminated`
      : `Stemcell Farm: terminated ${plural(terminated.length)} past the maximum build time`;
  const line = (b: SweptBuilder): string => `  ${b.instanceId}  build ${b.buildId || '(no build-id tag)'}  launched ${b.launchedAt} (${b.ageMinutes} minutes ago)`;
  const body = [
    `Builders run for at most ${config.maxBuildMinutes} minutes, the farm's maximum build time; these were still there after ${config.maxBuildMinutes + config.graceMinutes}.`,
    "Each build's Automation execution (Systems Manager > Automation, execution id = build id) shows where it stopped; its log group holds the build's output.",
    ...(terminated.length > 0 ? ['', 'Terminated:', ...terminated.map(line)] : []),
    ...(failed.length > 0 ? ['', 'Could not terminate (terminate them by hand, or find out what protects them):', ...failed.map((b) => `${line(b)}\n    ${b.reason}`)] : []),
  ].join('\n');
  return { subject, body };
}
