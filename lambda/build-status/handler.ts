/**
 * Lambda entry of build-status: the build runbook's status events
 * (EventBridge) complete the build's record and notify the farm's topic. The
 * work is in lib/farm/build-status.ts; the stack sets the environment. A build
 * whose end is announced now also gets its metrics line (lib/farm/build-metrics.ts).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import { stackSetting, systemClock } from '../../lib/aws/runtime';
import { announcedBuild, buildEndLog } from '../../lib/farm/build-metrics';
import { buildStatus, BuildStatusResult } from '../../lib/farm/build-status';

const clients = { ssm: new SSMClient({ maxAttempts: 1 }), s3: new S3Client({ maxAttempts: 1 }), dynamodb: new DynamoDBClient({ maxAttempts: 1 }), sns: new SNSClient({ maxAttempts: 1 }) };

export async function handler(event: unknown): Promise<BuildStatusResult> {
  const result = await buildStatus(clients, { runbookName: stackSetting('RUNBOOK_NAME'), buildsTable: stackSetting('BUILDS_TABLE'), stemcellBucket: stackSetting('STEMCELL_BUCKET'), topicArn: stackSetting('TOPIC_ARN') }, event, systemClock);
  const ended = announcedBuild(result);
  // Straight to stdout, not console.log: the runtime's console prefixes (or, in
  // JSON log format, wraps) the line, and an EMF log event must be the JSON alone.
  if (ended) process.stdout.write(`${buildEndLog(ended, systemClock.now())}\n`);
  return result;
}
