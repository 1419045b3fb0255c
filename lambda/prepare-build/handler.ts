/**
 * Lambda entry of the build runbook's Prepare step; the work is in
 * lib/farm/prepare.ts. The stack sets the environment: the farm's buckets,
 * the builder image parameter and the builder subnets.
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { S3Client } from '@aws-sdk/client-s3';
import { SSMClient } from '@aws-sdk/client-ssm';
import { systemClock } from '../../lib/aws/runtime';
import { parsePrepareEvent, prepareBuild, timestampVersions } from '../../lib/farm/prepare';
import { FarmState } from '../../lib/farm/state';

const s3 = new S3Client({ maxAttempts: 1 });
const ssm = new SSMClient({ maxAttempts: 1 });
const ec2 = new EC2Client({ maxAttempts: 1 });

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set; the farm stack sets it`);
  return value;
}

export async function handler(event: unknown): Promise<FarmState> {
  const input = parsePrepareEvent(event);
  return prepareBuild(
    { s3, ssm, ec2 },
    {
      region: env('AWS_REGION'),
      stemcellBucket: env('STEMCELL_BUCKET'),
      osImageBucket: env('OS_IMAGE_BUCKET'),
      builderImageParameter: env('BUILDER_IMAGE_PARAMETER'),
      subnetIds: env('BUILDER_SUBNET_IDS').split(','),
    },
    input,
    timestampVersions,
    systemClock,
  );
}
