/** Lambda entry of light-stemcell; the work is in core.ts. STEMCELL_BUCKET names the stemcell bucket. */
import { S3Client } from '@aws-sdk/client-s3';
import { ec2ClientFactory } from '../../lib/aws/clients';
import { LambdaContext, lambdaRunOptions } from '../../lib/aws/runtime';
import { LightStemcellResult, parseLightStemcellEvent, publishLightStemcell } from '../../lib/publish/light-stemcell';

const clients = ec2ClientFactory();
const s3 = new S3Client({ maxAttempts: 1 });

export async function handler(event: unknown, context: LambdaContext): Promise<LightStemcellResult> {
  const input = parseLightStemcellEvent(event);
  const bucket = process.env.STEMCELL_BUCKET;
  if (!bucket) throw new Error('STEMCELL_BUCKET is not set; the farm stack sets it to the stemcell bucket');
  return publishLightStemcell(s3, clients, bucket, input, lambdaRunOptions(context.getRemainingTimeInMillis()));
}
