/**
 * Build records: one item per runbook execution in the builds table, written
 * when Prepare has chosen the version (status InProgress) and completed when
 * the execution ends (by the build-status function, from the execution, its
 * result.json and its light stemcell). Queryable by line and by time through
 * the table's two indexes; the table's layout is declared here and the
 * construct builds the table from it.
 */
import { AttributeValue, DynamoDBClient, GetItemCommand, PutItemCommand, QueryCommand, QueryCommandInput, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { errorCode, withRetries } from '../aws/retry';
import { Clock } from '../aws/runtime';
import { CheckSummary, StageTime } from './result';

/** The builds table: its key and its indexes (by line, and by month for "since"). */
export const BUILDS_TABLE = {
  partitionKey: 'executionId',
  indexes: {
    byLine: { name: 'ByLine', partitionKey: 'line', sortKey: 'startedAt' },
    byMonth: { name: 'ByMonth', partitionKey: 'startedMonth', sortKey: 'startedAt' },
  },
} as const;

/** Terminal statuses of an Automation execution, as its status events name them. */
export const FINAL_STATUSES = ['Success', 'Failed', 'TimedOut', 'Cancelled'] as const;
export type FinalStatus = (typeof FINAL_STATUSES)[number];
export type BuildStatus = 'InProgress' | FinalStatus;

export interface BuildRecord {
  readonly executionId: string;
  /** The stemcell line (operating system); 'unknown' when the form named none that exists. */
  readonly line: string;
  /** Absent when the build failed before a version was taken. */
  readonly version?: string;
  readonly status: BuildStatus;
  readonly startedAt: string;
  readonly endedAt?: string;
  readonly durationSeconds?: number;
  readonly failedStep?: string;
  readonly failure?: string;
  readonly requestKey?: string;
  readonly stemcellKeys?: readonly string[];
  readonly osImageKey?: string;
  readonly snapshotId?: string;
  /** Region -> AMI id, from the light stemcell. */
  readonly amis?: Readonly<Record<string, string>>;
  readonly lightKey?: string;
  /** Over every stemcell of the build. */
  readonly checks?: CheckSummary;
  /** Stage -> seconds: the OS image's stages, then each stemcell's (summed over stemcells). */
  readonly stageSeconds?: Readonly<Record<string, number>>;
  /** When the build's end was announced on the topic: a second delivery of its event announces nothing. */
  readonly notifiedAt?: string;
}

/** YYYY-MM of an ISO time: the partition of the by-month index. */
export const monthOf = (iso: string): string => iso.slice(0, 7);

/** Stage durations of a build: each stage once, summed over the stemcells that ran it. */
export function stageSeconds(osImage: readonly StageTime[], stemcells: readonly (readonly StageTime[])[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const { stage, seconds } of [...osImage, ...stemcells.flat()]) out[stage] = Math.round(((out[stage] ?? 0) + seconds) * 10) / 10;
  return out;
}

const S = (v: string): AttributeValue => ({ S: v });
/** The record's optional text fields. */
const STRING_FIELDS = ['version', 'endedAt', 'failedStep', 'failure', 'requestKey', 'osImageKey', 'snapshotId', 'lightKey', 'notifiedAt'] as const;
/** A record Prepare started, or none yet: what only a build's first final event may replace. */
const NOT_FINAL = { ConditionExpression: 'attribute_not_exists(executionId) OR #status = :inProgress', ExpressionAttributeNames: { '#status': 'status' }, ExpressionAttributeValues: { ':inProgress': { S: 'InProgress' } } };
const N = (v: number): AttributeValue => ({ N: String(v) });

/** The record as a DynamoDB item (absent fields are left out, never written empty). */
export function recordItem(r: BuildRecord): Record<string, AttributeValue> {
  const item: Record<string, AttributeValue> = { executionId: S(r.executionId), line: S(r.line), status: S(r.status), startedAt: S(r.startedAt), startedMonth: S(monthOf(r.startedAt)) };
  const strings = STRING_FIELDS;
  for (const k of strings) if (r[k] !== undefined) item[k] = S(r[k]!);
  if (r.durationSeconds !== undefined) item.durationSeconds = N(r.durationSeconds);
  if (r.stemcellKeys) item.stemcellKeys = { L: r.stemcellKeys.map(S) };
  if (r.amis) item.amis = { M: Object.fromEntries(Object.entries(r.amis).map(([k, v]) => [k, S(v)])) };
  if (r.checks) item.checks = { M: { passed: N(r.checks.passed), failed: N(r.checks.failed) } };
  if (r.stageSeconds) item.stageSeconds = { M: Object.fromEntries(Object.entries(r.stageSeconds).map(([k, v]) => [k, N(v)])) };
  return item;
}

/** A record read back from the table (for the CLI and the status function), tolerant of fields it does not know. */
export function recordFromItem(item: Record<string, AttributeValue>): BuildRecord {
  const s = (k: string): string | undefined => item[k]?.S;
  const n = (v: AttributeValue | undefined): number | undefined => (v?.N === undefined ? undefined : Number(v.N));
  const map = <T>(v: AttributeValue | undefined, f: (a: AttributeValue) => T | undefined): Record<string, T> | undefined =>
    v?.M ? Object.fromEntries(Object.entries(v.M).flatMap(([k, a]) => (f(a) === undefined ? [] : [[k, f(a) as T]]))) : undefined;
  const checks = item.checks?.M;
  return {
    executionId: s('executionId')!,
    line: s('line') ?? 'unknown',
    status: (s('status') ?? 'InProgress') as BuildStatus,
    startedAt: s('startedAt') ?? '',
    ...Object.fromEntries(STRING_FIELDS.flatMap((k) => (s(k) === undefined ? [] : [[k, s(k)]]))),
    ...(n(item.durationSeconds) !== undefined ? { durationSeconds: n(item.durationSeconds) } : {}),
    ...(item.stemcellKeys?.L ? { stemcellKeys: item.stemcellKeys.L.flatMap((v) => (v.S === undefined ? [] : [v.S])) } : {}),
    ...(item.amis?.M ? { amis: map(item.amis, (a) => a.S) } : {}),
    ...(checks ? { checks: { passed: n(checks.passed) ?? 0, failed: n(checks.failed) ?? 0 } } : {}),
    ...(item.stageSeconds?.M ? { stageSeconds: map(item.stageSeconds, (a) => n(a)) } : {}),
  };
}

/**
 * Prepare's record of a build it is starting. A retried Prepare writes it
 * again; a record the build's end already completed is left as it is.
 */
export async function recordStart(dynamodb: DynamoDBClient, table: string, record: BuildRecord, clock: Clock): Promise<void> {
  await putUnlessFinal(dynamodb, table, record, clock);
}

/** The record of a finished build, replacing what Prepare wrote; false when the build has a final record already (a second delivery of its event). */
export const recordEnd = putUnlessFinal;

/** Write the record unless the build's is final already; false when it is. */
async function putUnlessFinal(dynamodb: DynamoDBClient, table: string, record: BuildRecord, clock: Clock): Promise<boolean> {
  try {
    await withRetries(() => dynamodb.send(new PutItemCommand({ TableName: table, Item: recordItem(record), ...NOT_FINAL })), clock);
    return true;
  } catch (e) {
    if (errorCode(e) === 'ConditionalCheckFailedException') return false;
    throw e;
  }
}

/** The build's end was announced. */
export async function recordNotified(dynamodb: DynamoDBClient, table: string, executionId: string, at: string, clock: Clock): Promise<void> {
  await withRetries(
    () =>
      dynamodb.send(
        new UpdateItemCommand({
          TableName: table,
          Key: { executionId: S(executionId) },
          UpdateExpression: 'SET notifiedAt = :at',
          ConditionExpression: 'attribute_exists(executionId)',
          ExpressionAttributeValues: { ':at': S(at) },
        }),
      ),
    clock,
  );
}

/** A build's record, if it has one. */
export async function readRecord(dynamodb: DynamoDBClient, table: string, executionId: string, clock: Clock): Promise<BuildRecord | undefined> {
  const out = await withRetries(() => dynamodb.send(new GetItemCommand({ TableName: table, Key: { executionId: S(executionId) }, ConsistentRead: true })), clock);
  return out.Item ? recordFromItem(out.Item) : undefined;
}

async function query(dynamodb: DynamoDBClient, input: QueryCommandInput, clock: Clock, limit: number, enough: (records: readonly BuildRecord[]) => boolean = () => false): Promise<BuildRecord[]> {
  const records: BuildRecord[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await withRetries(() => dynamodb.send(new QueryCommand({ ...input, ExclusiveStartKey: start })), clock);
    records.push(...(page.Items ?? []).filter((item) => item.executionId?.S !== undefined).map(recordFromItem));
    start = page.LastEvaluatedKey;
  } while (start && records.length < limit && !enough(records));
  return records.slice(0, limit);
}

/** A line's records, newest first, started at or after `since` (ISO); reading stops once `enough` says so. */
export function buildsOfLine(dynamodb: DynamoDBClient, table: string, line: string, since: string, clock: Clock, limit = 1000, enough?: (records: readonly BuildRecord[]) => boolean): Promise<BuildRecord[]> {
  const index = BUILDS_TABLE.indexes.byLine;
  return query(
    dynamodb,
    {
      TableName: table,
      IndexName: index.name,
      KeyConditionExpression: '#line = :line AND #started >= :since',
      ExpressionAttributeNames: { '#line': index.partitionKey, '#started': index.sortKey },
      ExpressionAttributeValues: { ':line': S(line), ':since': S(since) },
      ScanIndexForward: false,
    },
    clock,
    limit,
    enough,
  );
}

/**
 * Every line's records started at or after `since` (ISO), newest first: a
 * query of each month from now back to since's, but not before `earliest`
 * (the farm's creation: no record is older).
 */
export async function buildsSince(dynamodb: DynamoDBClient, table: string, since: string, now: Date, clock: Clock, limit = 1000, earliest = new Date(0)): Promise<BuildRecord[]> {
  const index = BUILDS_TABLE.indexes.byMonth;
  const records: BuildRecord[] = [];
  const month = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const first = monthOf([since, earliest.toISOString()].sort().at(-1)!);
  while (monthOf(month.toISOString()) >= first && records.length < limit) {
    records.push(
      ...(await query(
        dynamodb,
        {
          TableName: table,
          IndexName: index.name,
          KeyConditionExpression: '#month = :month AND #started >= :since',
          ExpressionAttributeNames: { '#month': index.partitionKey, '#started': index.sortKey },
          ExpressionAttributeValues: { ':month': S(monthOf(month.toISOString())), ':since': S(since) },
          ScanIndexForward: false,
        },
        clock,
        limit - records.length,
      )),
    );
    month.setUTCMonth(month.getUTCMonth() - 1);
  }
  return records;
}
