/**
 * `result.json`: what a farm build made, written by the builder beside its
 * request and read by the runbook (and, later, by the build records and the
 * CLI). Read back as hostile input, like the request.
 */
import { isSnapshotId } from '../aws/identifiers';
import { eventObject, InvalidInputError, isoTime, jsonDocument, optionalString, requiredString } from '../aws/input';
import { validateBuildId } from '../stemcell/ami';
import { infrastructureNames } from '../stemcell/matrix';
import { validateVersion } from '../stemcell/naming';
import { isSafeKey } from '../aws/s3';

export const RESULT_SCHEMA = 'stemcell-farm/build-result/v1';
export const MAX_RESULT_BYTES = 256 * 1024;

export interface StageTime {
  readonly stage: string;
  readonly seconds: number;
}

export interface CheckSummary {
  readonly passed: number;
  readonly failed: number;
}

export interface StemcellResult {
  readonly infrastructure: string;
  readonly key: string;
  readonly sha1: string;
  readonly bytes: number;
  /** Found in the bucket from an earlier run of the same build, not built now. */
  readonly reused: boolean;
  readonly checks: CheckSummary;
  readonly stages: readonly StageTime[];
  /** AWS stemcells: the EBS snapshot of root.img. */
  readonly snapshotId?: string;
}

export interface BuildResult {
  readonly schema: typeof RESULT_SCHEMA;
  readonly buildId: string;
  readonly version: string;
  /** sha256 only when this run used the OS image (not when every stemcell was there already). */
  readonly osImage: { readonly key: string; readonly sha256?: string; readonly built: boolean; readonly stages: readonly StageTime[] };
  readonly stemcells: readonly StemcellResult[];
  readonly startedAt: string;
  readonly finishedAt: string;
}

const SHA1 = /^[0-9a-f]{40}$/;
const SHA256 = /^[0-9a-f]{64}$/;

function count(e: Record<string, unknown>, key: string): number {
  const v = e[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new InvalidInputError(`'${key}' must be a whole number, got ${JSON.stringify(v)?.slice(0, 80)}`);
  return v;
}

const MAX_SECONDS = 7 * 24 * 3600;


function stages(value: unknown, what: string): StageTime[] {
  if (!Array.isArray(value)) throw new InvalidInputError(`${what} must be a list`);
  return value.map((s, i) => {
    const e = eventObject(s, `${what}[${i}]`);
    const seconds = e.seconds;
    // A build lasts hours, not years; Infinity (1e999 in JSON) would not survive being written back.
    if (typeof seconds !== 'number' || !(seconds >= 0 && seconds <= MAX_SECONDS)) throw new InvalidInputError(`${what}[${i}].seconds must be a number of seconds up to ${MAX_SECONDS}`);
    return { stage: requiredString(e, 'stage', /^[a-z0-9_.-]{1,64}$/), seconds };
  });
}

export function parseBuildResult(text: string): BuildResult {
  const e = jsonDocument(text, 'the build result', MAX_RESULT_BYTES, RESULT_SCHEMA);
  const osImage = eventObject(e.osImage, "build result 'osImage'");
  if (typeof osImage.built !== 'boolean') throw new InvalidInputError("'osImage.built' must be true or false");
  if (!Array.isArray(e.stemcells) || e.stemcells.length === 0) throw new InvalidInputError("'stemcells' must list at least one stemcell");
  let buildId: string;
  try {
    buildId = validateBuildId(requiredString(e, 'buildId'));
  } catch (err) {
    throw new InvalidInputError((err as Error).message);
  }
  const version = requiredString(e, 'version');
  try {
    validateVersion(version);
  } catch (err) {
    throw new InvalidInputError((err as Error).message);
  }
  return {
    schema: RESULT_SCHEMA,
    buildId,
    version,
    osImage: { key: requiredString(osImage, 'key', isSafeKey), sha256: optionalString(osImage, 'sha256', SHA256), built: osImage.built, stages: stages(osImage.stages, "'osImage.stages'") },
    stemcells: e.stemcells.map((s, i) => {
      const c = eventObject(s, `build result 'stemcells[${i}]'`);
      const checks = eventObject(c.checks, `'stemcells[${i}].checks'`);
      if (typeof c.reused !== 'boolean') throw new InvalidInputError(`'stemcells[${i}].reused' must be true or false`);
      return {
        infrastructure: requiredString(c, 'infrastructure', (v) => (infrastructureNames() as string[]).includes(v)),
        key: requiredString(c, 'key', isSafeKey),
        sha1: requiredString(c, 'sha1', SHA1),
        bytes: count(c, 'bytes'),
        reused: c.reused,
        checks: { passed: count(checks, 'passed'), failed: count(checks, 'failed') },
        stages: stages(c.stages, `'stemcells[${i}].stages'`),
        snapshotId: optionalString(c, 'snapshotId', isSnapshotId),
      };
    }),
    startedAt: isoTime(e, 'startedAt'),
    finishedAt: isoTime(e, 'finishedAt'),
  };
}

/** Whether a result is this request's: the same build and version, every stemcell asked for, none failing a check. */
export function resultMismatch(result: BuildResult, request: { buildId: string; version: string; stemcells: readonly { key: string }[] }): string | undefined {
  if (result.buildId !== request.buildId || result.version !== request.version) return `it is the result of build ${result.buildId} ${result.version}, not of ${request.buildId} ${request.version}`;
  const wanted = request.stemcells.map((s) => s.key).sort();
  const got = result.stemcells.map((s) => s.key).sort();
  if (JSON.stringify(wanted) !== JSON.stringify(got)) return `it names ${got.join(', ')}, not the stemcells asked for (${wanted.join(', ')})`;
  const failing = result.stemcells.filter((s) => s.checks.failed > 0);
  if (failing.length > 0) return `${failing.map((s) => s.key).join(', ')} failed ${failing.map((s) => s.checks.failed).join(', ')} checks`;
  return undefined;
}
