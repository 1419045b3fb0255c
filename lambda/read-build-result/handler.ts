/** Lambda entry of the build runbook's ReadResult step; the work is in lib/farm/steps.ts. */
import { S3Client } from '@aws-sdk/client-s3';
import { LambdaContext, lambdaRunOptions } from '../../lib/aws/runtime';
import { FarmState, parseFarmEvent } from '../../lib/farm/state';
import { readBuildResult } from '../../lib/farm/steps';

const s3 = new S3Client({ maxAttempts: 1 });

export async function handler(event: unknown, context: LambdaContext): Promise<FarmState> {
  const state = parseFarmEvent(event, 'read-build-result');
  const bucket = process.env.STEMCELL_BUCKET;
  if (state.stemcellBucket !== bucket) throw new Error(`read-build-result: the build's bucket ${state.stemcellBucket} is not this farm's (${bucket ?? 'unset'})`);
  return readBuildResult(s3, state, lambdaRunOptions(context.getRemainingTimeInMillis()));
}
