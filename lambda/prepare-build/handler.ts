/**
 * Lambda entry of the build runbook's Prepare step; the work is in
 * lib/farm/prepare.ts. The stack sets the environment: the farm's buckets,
 * the builder image parameters, the builder subnets, the versions and builds
 * tables and each line's version format.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { S3Client } from '@aws-sdk/client-s3';
import { SSMClient } from '@aws-sdk/client-ssm';
import { stackSetting, systemClock } from '../../lib/aws/runtime';
import { parsePrepareEvent, prepareBuild } from '../../lib/farm/prepare';
import { parseVersionFormats } from '../../lib/farm/version-format';
import { DynamoVersions } from '../../lib/farm/versions';
import { FarmState } from '../../lib/farm/state';

const s3 = new S3Client({ maxAttempts: 1 });
const ssm = new SSMClient({ maxAttempts: 1 });
const ec2 = new EC2Client({ maxAttempts: 1 });
const dynamodb = new DynamoDBClient({ maxAttempts: 1 });

export async function handler(event: unknown): Promise<FarmState> {
  const input = parsePrepareEvent(event);
  return prepareBuild(
    { s3, ssm, ec2, dynamodb },
    {
      region: stackSetting('AWS_REGION'),
      stemcellBucket: stackSetting('STEMCELL_BUCKET'),
      osImageBucket: stackSetting('OS_IMAGE_BUCKET'),
      builderImageParameter: stackSetting('BUILDER_IMAGE_PARAMETER'),
      fallbackBuilderImageParameter: process.env.FALLBACK_BUILDER_IMAGE_PARAMETER || undefined,
      subnetIds: stackSetting('BUILDER_SUBNET_IDS').split(','),
      buildsTable: stackSetting('BUILDS_TABLE'),
    },
    input,
    new DynamoVersions(dynamodb, { table: stackSetting('VERSIONS_TABLE'), formats: parseVersionFormats(stackSetting('VERSION_FORMATS')) }, systemClock),
    systemClock,
  );
}
