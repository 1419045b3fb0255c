/**
 * Lambda entry of sweep-builders, run hourly by the farm's schedule; the work
 * is in lib/farm/sweep.ts. The stack sets MAX_BUILD_MINUTES and TOPIC_ARN
 * (and may set GRACE_MINUTES).
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { SNSClient } from '@aws-sdk/client-sns';
import { LambdaContext, lambdaRunOptions } from '../../lib/aws/runtime';
import { SweepReport, sweepBuilders, sweepConfigFromEnvironment } from '../../lib/farm/sweep';

// One attempt per call: the core retries (lib/aws/retry.ts).
const ec2 = new EC2Client({ maxAttempts: 1 });
const sns = new SNSClient({ maxAttempts: 1 });

export async function handler(_event: unknown, context: LambdaContext): Promise<SweepReport> {
  const config = sweepConfigFromEnvironment(process.env);
  const report = await sweepBuilders({ ec2, sns }, config, lambdaRunOptions(context.getRemainingTimeInMillis()));
  // Nothing reads the result of a scheduled run: the log keeps it.
  console.log(JSON.stringify(report));
  return report;
}
