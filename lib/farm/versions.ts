/**
 * Version numbers per stemcell line, kept in DynamoDB (the versions table):
 *
 * - `(line, "counter")`: the line's last number `n`, and the execution that
 *   took it. A number is taken with a conditional update (`n` is still what
 *   was read), so two executions never take the same one; a failed build
 *   keeps (burns) its number.
 * - `(line, "version#<version>")`: who holds a version, automatic or given.
 *   Written only if absent (or already this execution's), so an explicit
 *   Version cannot take a number the counter gave, nor the other way round.
 * - `(line, "execution#<id>")`: the execution's version, so that a retried
 *   Prepare gets the number the first one took.
 *
 * A Prepare that dies after taking a number but before recording it finds
 * the number again when the counter still names it; otherwise that number
 * is burned, never reused. Either guard alone (the counter's condition, the
 * version entry's) keeps two executions from one version; the counter keeps
 * the numbers consecutive.
 */
import { AttributeValue, ConditionalCheckFailedException, DynamoDBClient, GetItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { backoffDelay, errorCode, withRetries } from '../aws/retry';
import { Clock } from '../aws/runtime';
import { FailedError } from '../errors';
import { InvalidParameterError } from './parameters';
import type { VersionSource } from './prepare';
import { DEFAULT_VERSION_FORMAT, renderVersion, VersionFormat } from './version-format';

/** The versions table's key: the line, and which entry of it. */
export const VERSIONS_KEY = { partition: 'line', sort: 'entry' } as const;
const COUNTER = 'counter';
const executionEntry = (id: string): string => `execution#${id}`;
const versionEntry = (version: string): string => `version#${version}`;

/** Contended conditional updates: twenty Prepares at once settle within this many rounds. */
const MAX_ROUNDS = 60;

const S = (value: string): AttributeValue => ({ S: value });
const N = (value: number): AttributeValue => ({ N: String(value) });
const key = (line: string, entry: string): Record<string, AttributeValue> => ({ [VERSIONS_KEY.partition]: S(line), [VERSIONS_KEY.sort]: S(entry) });

const conditionFailed = (e: unknown): boolean => e instanceof ConditionalCheckFailedException || errorCode(e) === 'ConditionalCheckFailedException';

export interface DynamoVersionsOptions {
  readonly table: string;
  /** Each line's version format; lines not named number as `{major}.{n}` with major 1. */
  readonly formats?: Readonly<Record<string, VersionFormat>>;
}

export class DynamoVersions implements VersionSource {
  constructor(
    private readonly dynamodb: DynamoDBClient,
    private readonly options: DynamoVersionsOptions,
    private readonly clock: Clock,
  ) {}

  async versionFor(line: string, executionId: string, requested: string | undefined, now: Date, isBuilt: (version: string) => Promise<boolean>): Promise<string> {
    const known = await this.executionVersion(line, executionId);
    if (known !== undefined) {
      if (requested !== undefined && requested !== known) throw new FailedError(`execution ${executionId} already holds version ${known} of ${line}, not ${requested}`);
      return known;
    }
    if (requested !== undefined) {
      // Already built: Prepare refuses it, saying where; nothing to hold.
      if (await isBuilt(requested)) return requested;
      if (!(await this.holdVersion(line, requested, executionId, now))) {
        throw new InvalidParameterError('Version', `${requested} of ${line} is already taken by another build (the farm's versions table); versions are never reused, so choose another or leave Version empty`);
      }
      return this.recordExecution(line, executionId, requested, now);
    }
    return this.recordExecution(line, executionId, await this.nextVersion(line, executionId, now, isBuilt), now);
  }

  private format(line: string): VersionFormat {
    return this.options.formats?.[line] ?? DEFAULT_VERSION_FORMAT;
  }

  private async get(line: string, entry: string): Promise<Record<string, AttributeValue> | undefined> {
    const out = await withRetries(() => this.dynamodb.send(new GetItemCommand({ TableName: this.options.table, Key: key(line, entry), ConsistentRead: true })), this.clock);
    return out.Item;
  }

  private async executionVersion(line: string, executionId: string): Promise<string | undefined> {
    return (await this.get(line, executionEntry(executionId)))?.version?.S;
  }

  /** A conditional write; false when DynamoDB refuses it for its condition. */
  private async conditionally(command: PutItemCommand | UpdateItemCommand): Promise<boolean> {
    try {
      await withRetries(() => this.dynamodb.send(command as PutItemCommand), this.clock);
      return true;
    } catch (e) {
      if (conditionFailed(e)) return false;
      throw e;
    }
  }

  /** Take `version` for the execution; false when another execution holds it. */
  private holdVersion(line: string, version: string, executionId: string, now: Date): Promise<boolean> {
    return this.conditionally(
      new PutItemCommand({
        TableName: this.options.table,
        Item: { ...key(line, versionEntry(version)), version: S(version), executionId: S(executionId), reservedAt: S(now.toISOString()) },
        ConditionExpression: 'attribute_not_exists(#entry) OR executionId = :execution',
        ExpressionAttributeNames: { '#entry': VERSIONS_KEY.sort },
        ExpressionAttributeValues: { ':execution': S(executionId) },
      }),
    );
  }

  /** The line's next free number, taken for this execution. */
  private async nextVersion(line: string, executionId: string, now: Date, isBuilt: (version: string) => Promise<boolean>): Promise<string> {
    const burned = new Set<number>();
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const counter = await this.get(line, COUNTER);
      const last = counter?.n?.N === undefined ? 0 : Number(counter.n.N);
      if (!Number.isSafeInteger(last) || last < 0) throw new FailedError(`the versions table's counter of ${line} holds ${JSON.stringify(counter?.n)}, not a number`);
      // Taken by this execution before it could record it (a retried Prepare).
      let n = counter?.owner?.S === executionId && !burned.has(last) ? last : undefined;
      if (n === undefined && (await this.take(line, last, executionId))) n = last + 1;
      if (n !== undefined) {
        const version = renderVersion(this.format(line), n);
        // Held by an explicit Version, or built before the counter knew (by hand, or by a farm whose
        // tables were replaced): the number is burned, take the next. The hold stays, marking it taken.
        if ((await this.holdVersion(line, version, executionId, now)) && !(await isBuilt(version))) return version;
        burned.add(n);
        continue;
      }
      await this.clock.sleep(backoffDelay(Math.min(round, 4), { baseDelayMs: 50, maxDelayMs: 1000 }, () => this.clock.random()));
    }
    throw new FailedError(`could not take a version number of ${line} after ${MAX_ROUNDS} tries: too many builds of the line are starting at once; run this build again`);
  }

  /** Move the counter from `last` to `last + 1`, for this execution; false when another execution moved it first. */
  private take(line: string, last: number, executionId: string): Promise<boolean> {
    return this.conditionally(
      new UpdateItemCommand({
        TableName: this.options.table,
        Key: key(line, COUNTER),
        UpdateExpression: 'SET #n = :next, #owner = :execution',
        ConditionExpression: last === 0 ? 'attribute_not_exists(#n)' : '#n = :last',
        ExpressionAttributeNames: { '#n': 'n', '#owner': 'owner' },
        ExpressionAttributeValues: { ':next': N(last + 1), ':execution': S(executionId), ...(last === 0 ? {} : { ':last': N(last) }) },
      }),
    );
  }

  /** Record the execution's version; a Prepare of the same execution that recorded first wins. */
  private async recordExecution(line: string, executionId: string, version: string, now: Date): Promise<string> {
    const recorded = await this.conditionally(
      new PutItemCommand({
        TableName: this.options.table,
        Item: { ...key(line, executionEntry(executionId)), version: S(version), reservedAt: S(now.toISOString()) },
        ConditionExpression: 'attribute_not_exists(#entry)',
        ExpressionAttributeNames: { '#entry': VERSIONS_KEY.sort },
      }),
    );
    if (recorded) return version;
    const first = await this.executionVersion(line, executionId);
    if (first === undefined) throw new FailedError(`the versions table lost the entry of execution ${executionId}`);
    return first;
  }
}
