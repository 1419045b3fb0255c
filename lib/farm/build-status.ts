/**
 * When a build's execution ends (success, failure, time-out or cancel, even
 * before Prepare could run): complete its record and tell the subscribers.
 * Everything the record holds comes from the execution (its steps and
 * outputs), the builder's result.json and the light stemcell, each read as
 * hostile input; what cannot be read is left out of the record, never made up.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { AutomationExecution, GetAutomationExecutionCommand, SSMClient } from '@aws-sdk/client-ssm';
import { Readable } from 'node:stream';
import { errorMessage, withRetries } from '../aws/retry';
import { Clock } from '../aws/runtime';
import { isSafeKey, readObjectBytes, readObjectText } from '../aws/s3';
import { validateAmiMap } from '../stemcell/aws';
import { operatingSystemNames } from '../stemcell/matrix';
import { VERSION_PATTERN } from '../stemcell/naming';
import { readStemcellTarball } from '../stemcell/tarball';
import { resultKey } from './keys';
import { Notification, parseStatusEvent, renderNotification, StatusEvent } from './notification';
import { BuildRecord, readRecord, recordEnd, recordNotified, stageSeconds } from './records';
import { BuildResult, MAX_RESULT_BYTES, parseBuildResult } from './result';

export interface BuildStatusClients {
  readonly ssm: SSMClient;
  readonly s3: S3Client;
  readonly dynamodb: DynamoDBClient;
  readonly sns: SNSClient;
}

export interface BuildStatusConfig {
  /** The build runbook's name: events of other runbooks are not ours. */
  readonly runbookName: string;
  readonly buildsTable: string;
  readonly stemcellBucket: string;
  readonly topicArn: string;
}

export interface BuildStatusResult {
  readonly record?: BuildRecord;
  readonly notification?: Notification;
  /** Why the event was not about one of our builds. */
  readonly ignored?: string;
}

/** The runbook's outputs and steps this reads (see build-runbook.ts). */
export const RUNBOOK_OUTPUTS = { version: 'Decode.Version', lightKey: 'Published.LightStemcellKey' } as const;
/** Steps that run after a failure to clean up; the step that failed is the one before. */
const CLEANUP_STEPS = new Set(['TerminateAfterFailure']);
/** Failure text kept in the record and the mail. */
const MAX_FAILURE_CHARS = 600;
const MAX_LIGHT_STEMCELL_BYTES = 4 * 1024 * 1024;

const iso = (d: Date | undefined): string | undefined => (d instanceof Date && !Number.isNaN(d.getTime()) ? d.toISOString() : undefined);
const clip = (text: string): string => (text.length > MAX_FAILURE_CHARS ? `${text.slice(0, MAX_FAILURE_CHARS - 1)}…` : text);

/** The step that failed, timed out or was cancelled first, and why. */
export function failedStep(execution: AutomationExecution): { step?: string; failure?: string } {
  const step = (execution.StepExecutions ?? []).find((s) => ['Failed', 'TimedOut', 'Cancelled'].includes(s.StepStatus ?? '') && !CLEANUP_STEPS.has(s.StepName ?? ''));
  const failure = step?.FailureMessage ?? step?.FailureDetails?.FailureType ?? execution.FailureMessage;
  return { ...(step?.StepName ? { step: step.StepName } : {}), ...(failure ? { failure: clip(failure) } : {}) };
}

/** The record of a finished build: what Prepare recorded, completed from the execution, its result and its light stemcell. */
export function finishedRecord(event: StatusEvent, execution: AutomationExecution, started: BuildRecord | undefined, result: BuildResult | undefined, amis: Record<string, string> | undefined): BuildRecord {
  const form = execution.Parameters ?? {};
  const os = form.OperatingSystem?.[0];
  const outputVersion = execution.Outputs?.[RUNBOOK_OUTPUTS.version]?.[0];
  const lightKey = execution.Outputs?.[RUNBOOK_OUTPUTS.lightKey]?.[0];
  const startedAt = started?.startedAt || iso(execution.ExecutionStartTime) || event.time;
  const endedAt = iso(execution.ExecutionEndTime) ?? event.time;
  const version = started?.version ?? (outputVersion && VERSION_PATTERN.test(outputVersion) ? outputVersion : undefined);
  const failed = event.status === 'Success' ? {} : failedStep(execution);
  const r: BuildRecord = {
    ...started,
    executionId: event.executionId,
    line: started?.line ?? (os && (operatingSystemNames() as readonly string[]).includes(os) ? os : 'unknown'),
    ...(version ? { version } : {}),
    status: event.status,
    startedAt,
    endedAt,
    durationSeconds: Math.max(0, Math.round((Date.parse(endedAt) - Date.parse(startedAt)) / 1000)),
    ...(failed.step ? { failedStep: failed.step } : {}),
    ...(failed.failure ? { failure: failed.failure } : {}),
    ...(event.status === 'Success' && lightKey && isSafeKey(lightKey) ? { lightKey } : {}),
    ...(amis ? { amis } : {}),
  };
  if (!result) return r;
  const snapshotId = result.stemcells.find((s) => s.snapshotId)?.snapshotId;
  return {
    ...r,
    stemcellKeys: result.stemcells.map((s) => s.key),
    osImageKey: result.osImage.key,
    ...(snapshotId ? { snapshotId } : {}),
    checks: result.stemcells.reduce((sum, s) => ({ passed: sum.passed + s.checks.passed, failed: sum.failed + s.checks.failed }), { passed: 0, failed: 0 }),
    stageSeconds: stageSeconds(result.osImage.stages, result.stemcells.map((s) => s.stages)),
  };
}

/** The build's result.json, when the builder wrote one that reads as this build's. */
async function buildResult(clients: BuildStatusClients, config: BuildStatusConfig, executionId: string, clock: Clock): Promise<BuildResult | undefined> {
  const text = await readObjectText(clients.s3, config.stemcellBucket, resultKey(executionId), MAX_RESULT_BYTES, clock);
  if (text === undefined) return undefined;
  try {
    const result = parseBuildResult(text);
    return result.buildId === executionId ? result : undefined;
  } catch (e) {
    console.warn(`build-status: result.json of ${executionId} is unreadable: ${errorMessage(e)}`);
    return undefined;
  }
}

/** The AMIs the light stemcell names: what was published. */
async function publishedAmis(clients: BuildStatusClients, config: BuildStatusConfig, lightKey: string | undefined, clock: Clock): Promise<Record<string, string> | undefined> {
  if (!lightKey || !isSafeKey(lightKey)) return undefined;
  const bytes = await readObjectBytes(clients.s3, config.stemcellBucket, lightKey, MAX_LIGHT_STEMCELL_BYTES, clock);
  if (!bytes) return undefined;
  try {
    const light = await readStemcellTarball(Readable.from(bytes));
    const amis = light.manifest.cloud_properties?.ami;
    return amis ? { ...validateAmiMap(amis as Record<string, string>) } : undefined;
  } catch (e) {
    console.warn(`build-status: the light stemcell s3://${config.stemcellBucket}/${lightKey} is unreadable: ${errorMessage(e)}`);
    return undefined;
  }
}

export async function buildStatus(clients: BuildStatusClients, config: BuildStatusConfig, event: unknown, clock: Clock): Promise<BuildStatusResult> {
  const status = parseStatusEvent(event);
  if (status.definition !== config.runbookName) return { ignored: `an execution of ${status.definition}, not of ${config.runbookName}` };
  const execution = (await withRetries(() => clients.ssm.send(new GetAutomationExecutionCommand({ AutomationExecutionId: status.executionId })), clock)).AutomationExecution;
  if (!execution) return { ignored: `Systems Manager knows no execution ${status.executionId}` };
  const started = await readRecord(clients.dynamodb, config.buildsTable, status.executionId, clock);
  // EventBridge delivers at least once, and Lambda retries: the first final event decides, and is announced once.
  if (started && started.status !== 'InProgress') {
    if (started.notifiedAt) return { record: started, ignored: `execution ${status.executionId} is recorded (${started.status}) and announced already` };
    return { record: started, notification: await announce(clients, config, started, status, clock) };
  }
  const result = await buildResult(clients, config, status.executionId, clock);
  const lightKey = status.status === 'Success' ? execution.Outputs?.[RUNBOOK_OUTPUTS.lightKey]?.[0] : undefined;
  const amis = await publishedAmis(clients, config, lightKey, clock);
  const record = finishedRecord(status, execution, started, result, amis);
  if (!(await recordEnd(clients.dynamodb, config.buildsTable, record, clock))) return { ignored: `execution ${status.executionId} was recorded by another delivery of its event` };
  return { record, notification: await announce(clients, config, record, status, clock) };
}

/** Publish the build's end, then note that it was. */
async function announce(clients: BuildStatusClients, config: BuildStatusConfig, record: BuildRecord, status: StatusEvent, clock: Clock): Promise<Notification> {
  const notification = renderNotification(record, status, config.stemcellBucket);
  await withRetries(() => clients.sns.send(new PublishCommand({ TopicArn: config.topicArn, Subject: notification.subject, Message: notification.message })), clock);
  await recordNotified(clients.dynamodb, config.buildsTable, record.executionId, new Date(clock.now()).toISOString(), clock);
  return notification;
}
