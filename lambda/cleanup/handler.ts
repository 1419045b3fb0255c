/** Lambda entry of cleanup; the work is in core.ts. A dry run unless the event says `"dryRun": false`. */
import { ec2ClientFactory } from '../../lib/aws/clients';
import { LambdaContext, lambdaRunOptions } from '../../lib/aws/runtime';
import { cleanup, CleanupResult, parseCleanupEvent } from '../../lib/publish/cleanup';

const clients = ec2ClientFactory();

export async function handler(event: unknown, context: LambdaContext): Promise<CleanupResult> {
  const input = parseCleanupEvent(event);
  const region = process.env.AWS_REGION;
  if (!region) throw new Error('AWS_REGION is not set; Lambda sets it');
  return cleanup(clients, region, input, lambdaRunOptions(context.getRemainingTimeInMillis()));
}
