/**
 * The farm stack's outputs that tools read to find the farm (`stemcell farm`
 * finds the runbook, the tables, the buckets and the build logs by them, in
 * the stack named on its command line): one home for their names, which the
 * stack declares its outputs with.
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { errorCode, errorMessage, withRetries } from '../aws/retry';
import { Clock } from '../aws/runtime';
import { isBucketName } from '../aws/s3';
import { EnvironmentError } from '../errors';

export const FARM_OUTPUTS = {
  runbookName: 'BuildRunbookName',
  buildLogGroup: 'BuildLogGroupName',
  buildsTable: 'BuildsTableName',
  stemcellBucket: 'StemcellBucketName',
  osImageBucket: 'OsImageBucketName',
} as const;

/** The farm stack's name when none is given (lib/app.ts's stack id). */
export const DEFAULT_FARM_STACK = 'StemcellFarm';

export type FarmOutputs = { readonly [K in keyof typeof FARM_OUTPUTS]: string } & { readonly stackName: string; /** When the stack was created: no record is older. */ readonly createdAt: Date };

const NAME_PATTERN: Readonly<Record<keyof typeof FARM_OUTPUTS, RegExp>> = {
  runbookName: /^[A-Za-z0-9_.-]{3,128}$/,
  buildLogGroup: /^[A-Za-z0-9_./#-]{1,512}$/,
  buildsTable: /^[A-Za-z0-9_.-]{3,255}$/,
  stemcellBucket: /^.+$/,
  osImageBucket: /^.+$/,
};

/** The farm stack's outputs, checked; a stack that is missing or not a farm says how to find the right one. */
export async function findFarm(cfn: CloudFormationClient, stackName: string, region: string, clock: Clock): Promise<FarmOutputs> {
  let outputs: { OutputKey?: string; OutputValue?: string }[] | undefined;
  let createdAt: Date | undefined;
  try {
    const out = await withRetries(() => cfn.send(new DescribeStacksCommand({ StackName: stackName })), clock);
    outputs = out.Stacks?.[0]?.Outputs;
    createdAt = out.Stacks?.[0]?.CreationTime;
  } catch (e) {
    if (errorCode(e) === 'ValidationError' && /does not exist/.test(errorMessage(e))) {
      throw new EnvironmentError(`no stack ${stackName} in ${region}: deploy the farm there (npx cdk deploy), or name its stack with --stack and its region with --region`);
    }
    throw e;
  }
  const value = (key: keyof typeof FARM_OUTPUTS): string => {
    const v = outputs?.find((o) => o.OutputKey === FARM_OUTPUTS[key])?.OutputValue;
    const valid = v !== undefined && NAME_PATTERN[key].test(v) && (key !== 'stemcellBucket' && key !== 'osImageBucket' ? true : isBucketName(v));
    if (!valid) throw new EnvironmentError(`stack ${stackName} in ${region} has no output ${FARM_OUTPUTS[key]}: it is not a Stemcell Farm, or an older one; deploy this version of the farm (npx cdk deploy)`);
    return v;
  };
  return {
    stackName,
    createdAt: createdAt instanceof Date && !Number.isNaN(createdAt.getTime()) ? createdAt : new Date(0),
    runbookName: value('runbookName'),
    buildLogGroup: value('buildLogGroup'),
    buildsTable: value('buildsTable'),
    stemcellBucket: value('stemcellBucket'),
    osImageBucket: value('osImageBucket'),
  };
}
