/**
 * What the farm tells people when a build ends: the runbook's status event
 * (EventBridge, source aws.ssm), read as hostile input, and the message an
 * operator reads in their mail: the stemcell and version, the outcome, a link
 * to the execution, and the light stemcell or the step that failed.
 */
import { isExecutionId, isRegionName } from '../aws/identifiers';
import { eventObject, InvalidInputError } from '../aws/input';
import { BuildRecord, FINAL_STATUSES, FinalStatus } from './records';

export const STATUS_EVENT = { source: 'aws.ssm', detailType: 'EC2 Automation Execution Status-change Notification' } as const;

const PARTITION = /^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b|aws-iso-e|aws-iso-f|aws-eusc):ssm:/;

export interface StatusEvent {
  readonly executionId: string;
  readonly definition: string;
  readonly status: FinalStatus;
  readonly region: string;
  readonly partition: string;
  /** When EventBridge saw the change (ISO). */
  readonly time: string;
}

/** The runbook's status event; anything else (another runbook's, a step's, a status that is not final) is refused. */
export function parseStatusEvent(event: unknown): StatusEvent {
  const e = eventObject(event, 'build-status');
  if (e.source !== STATUS_EVENT.source || e['detail-type'] !== STATUS_EVENT.detailType) {
    throw new InvalidInputError(`build-status: expected an '${STATUS_EVENT.detailType}' event from ${STATUS_EVENT.source}, got ${JSON.stringify(e['detail-type'])?.slice(0, 80)} from ${JSON.stringify(e.source)?.slice(0, 40)}`);
  }
  const detail = eventObject(e.detail, "build-status 'detail'");
  const executionId = detail.ExecutionId;
  if (typeof executionId !== 'string' || !isExecutionId(executionId)) throw new InvalidInputError(`build-status: 'detail.ExecutionId' must be an Automation execution id, got ${JSON.stringify(executionId)?.slice(0, 80)}`);
  const status = detail.Status;
  if (typeof status !== 'string' || !(FINAL_STATUSES as readonly string[]).includes(status)) throw new InvalidInputError(`build-status: 'detail.Status' must be one of ${FINAL_STATUSES.join(', ')}, got ${JSON.stringify(status)?.slice(0, 40)}`);
  if (typeof detail.Definition !== 'string' || !/^[A-Za-z0-9_.-]{3,128}$/.test(detail.Definition)) throw new InvalidInputError("build-status: 'detail.Definition' must name the runbook");
  if (typeof e.region !== 'string' || !isRegionName(e.region)) throw new InvalidInputError("build-status: 'region' must be a region name");
  const resources = Array.isArray(e.resources) ? e.resources.filter((r): r is string => typeof r === 'string') : [];
  const partition = resources.map((r) => PARTITION.exec(r)?.[1]).find((p) => p !== undefined) ?? 'aws';
  const time = typeof e.time === 'string' && !Number.isNaN(Date.parse(e.time)) ? new Date(e.time).toISOString() : new Date(0).toISOString();
  return { executionId, definition: detail.Definition, status: status as FinalStatus, region: e.region, partition, time };
}

/** The execution in the Systems Manager console of its partition. */
export function executionConsoleUrl(partition: string, region: string, executionId: string): string {
  const host = partition === 'aws-cn' ? 'console.amazonaws.cn' : partition === 'aws-us-gov' ? 'console.amazonaws-us-gov.com' : `${region}.console.aws.amazon.com`;
  return `https://${host}/systems-manager/automation/execution/${executionId}?region=${region}`;
}

const OUTCOME: Record<FinalStatus, string> = { Success: 'built', Failed: 'FAILED', TimedOut: 'TIMED OUT', Cancelled: 'cancelled' };

function duration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.round((seconds % 3600) / 60);
  return h > 0 ? `${h} h ${m} min` : `${m} min`;
}

export interface Notification {
  /** SNS subjects: ASCII, fewer than 100 characters. */
  readonly subject: string;
  readonly message: string;
}

/** The mail of a finished build, from its record. */
export function renderNotification(record: BuildRecord, event: StatusEvent, stemcellBucket: string): Notification {
  const status = record.status === 'InProgress' ? event.status : record.status;
  const stemcell = `${record.line}${record.version ? ` ${record.version}` : ''}`;
  const where = status === 'Success' ? '' : record.failedStep ? ` at ${record.failedStep}` : '';
  const subject = `Stemcell Farm: ${stemcell} ${OUTCOME[status]}${where}`.replace(/[^\x20-\x7e]/g, '?').slice(0, 99);
  const lines = [`${stemcell}: ${status === 'Success' ? 'the build succeeded' : `the build ${OUTCOME[status].toLowerCase()}${where}`}.`, ''];
  if (status !== 'Success') {
    if (record.failure) lines.push(`What went wrong: ${record.failure}`);
    if (record.version) lines.push(`Version ${record.version} is not used again; the next build of ${record.line} takes the next number.`);
    lines.push('');
  }
  lines.push(`Execution: ${event.executionId}`, `  ${executionConsoleUrl(event.partition, event.region, event.executionId)}`);
  if (record.endedAt) lines.push(`Started ${record.startedAt}, ended ${record.endedAt}${record.durationSeconds !== undefined ? ` (${duration(record.durationSeconds)})` : ''}.`);
  if (status === 'Success') {
    if (record.lightKey) lines.push('', `Light stemcell: s3://${stemcellBucket}/${record.lightKey}`);
    if (record.amis) {
      const regions = Object.keys(record.amis).sort();
      lines.push(`AMIs in ${regions.length} region${regions.length === 1 ? '' : 's'}: ${regions.map((r) => `${r} ${record.amis![r]}`).join(', ')}`);
    }
    if (record.stemcellKeys?.length) lines.push('', 'Stemcells:', ...record.stemcellKeys.map((k) => `  s3://${stemcellBucket}/${k}`));
    if (record.checks) lines.push('', `Checks: ${record.checks.passed} passed, ${record.checks.failed} failed.`);
  } else {
    lines.push('', "The builder's full log is in the farm's build log group (stack output BuildLogGroupName), one stream per command.");
  }
  return { subject, message: `${lines.join('\n')}\n` };
}
