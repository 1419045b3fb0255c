/** Lambda entry of light-stemcell; the work is in lib/publish/light-stemcell.ts. STEMCELL_BUCKET names the stemcell bucket. A farm runbook step when the event carries `state`. */
import { S3Client } from '@aws-sdk/client-s3';
import { ec2ClientFactory } from '../../lib/aws/clients';
import { LambdaContext, lambdaRunOptions } from '../../lib/aws/runtime';
import { FarmState, isFarmEvent, parseFarmEvent } from '../../lib/farm/state';
import { afterLight, lightInput } from '../../lib/farm/steps';
import { LightStemcellResult, parseLightStemcellEvent, publishLightStemcell } from '../../lib/publish/light-stemcell';

const clients = ec2ClientFactory();
const s3 = new S3Client({ maxAttempts: 1 });

export async function handler(event: unknown, context: LambdaContext): Promise<LightStemcellResult | FarmState> {
  const bucket = process.env.STEMCELL_BUCKET;
  if (!bucket) throw new Error('STEMCELL_BUCKET is not set; the farm stack sets it to the stemcell bucket');
  const options = lambdaRunOptions(context.getRemainingTimeInMillis());
  if (isFarmEvent(event)) {
    const state = parseFarmEvent(event, 'light-stemcell');
    if (state.stemcellBucket !== bucket) throw new Error(`light-stemcell: the build's bucket ${state.stemcellBucket} is not this farm's (${bucket})`);
    return afterLight(state, await publishLightStemcell(s3, clients, bucket, lightInput(state), options));
  }
  return publishLightStemcell(s3, clients, bucket, parseLightStemcellEvent(event), options);
}
