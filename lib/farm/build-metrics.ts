/**
 * A build's end as metrics: one log line in CloudWatch's embedded metric
 * format (EMF), written by build-status when it announces the end (once per
 * build). CloudWatch Logs turns it into the metrics the farm's dashboard
 * charts (builds, successes and duration per line), and Logs Insights reads
 * its plain fields (the newest light stemcell of each line). The names here
 * are the one home of both: the dashboard imports them.
 *
 * Spec: CloudWatch user guide, "Specification: Embedded metric format".
 */
import type { BuildStatusResult } from './build-status';
import { BuildRecord } from './records';

/** The namespace of the farm's own metrics. */
export const METRICS_NAMESPACE = 'StemcellFarm';
/** The one dimension of the build metrics: the stemcell line. */
export const LINE_DIMENSION = 'Line';
/** The metrics of a build's end, with their EMF units. */
export const BUILD_METRICS = {
  /** 1 per build that ended (success, failure, time-out or cancel). */
  builds: { name: 'Builds', unit: 'Count' },
  /** 1 per build that succeeded, 0 otherwise: Sum / Builds is the success rate. */
  succeeded: { name: 'Succeeded', unit: 'Count' },
  /** From the execution's start to its end; absent when the record has no duration. */
  duration: { name: 'DurationSeconds', unit: 'Seconds' },
} as const;
/** The `event` field of the line, which Logs Insights queries filter on. */
export const BUILD_END_EVENT = 'build-end';

/** A line's name (an operating system's, or 'unknown'); anything else is written as 'unknown', so a record cannot make metrics (each one a custom metric, billed) of its own. */
const LINE_VALUE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const UNKNOWN_LINE = 'unknown';
/** Text fields are bounded: a record is read from hostile input, and a log event holds at most 256 KB. */
const MAX_FIELD_CHARS = 256;
/** An S3 key is at most 1,024 bytes. */
const MAX_KEY_CHARS = 1024;

/** `line` as the dimension value the metrics carry ('unknown' for what cannot be one). */
export function lineDimensionValue(line: string): string {
  return LINE_VALUE.test(line) ? line : UNKNOWN_LINE;
}

/** At most `max` characters (code points, so no surrogate pair is cut), marked when cut. */
function bounded(text: string, max = MAX_FIELD_CHARS): string {
  const chars = Array.from(text);
  return chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : text;
}

/** An ISO time as epoch milliseconds, or undefined. */
function epochMs(iso: string | undefined): number | undefined {
  if (iso === undefined) return undefined;
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * The EMF line of a finished build: one JSON object on one line, nothing
 * before or after it (the spec's requirement of the log event). Its metrics
 * are stamped with the build's end (`endedAt`; `fallbackMs` when the record
 * has none that parses). Deterministic: the same record gives the same line.
 */
export function buildEndLog(record: BuildRecord, fallbackMs: number = Date.now()): string {
  const endedMs = epochMs(record.endedAt) ?? fallbackMs;
  const duration = record.durationSeconds;
  const hasDuration = typeof duration === 'number' && Number.isFinite(duration) && duration >= 0;
  const metrics = [BUILD_METRICS.builds, BUILD_METRICS.succeeded, ...(hasDuration ? [BUILD_METRICS.duration] : [])];
  const document = {
    event: BUILD_END_EVENT,
    _aws: {
      Timestamp: endedMs,
      CloudWatchMetrics: [{ Namespace: METRICS_NAMESPACE, Dimensions: [[LINE_DIMENSION]], Metrics: metrics.map((m) => ({ Name: m.name, Unit: m.unit })) }],
    },
    // The dimension and the metrics: members of the root, as the directive names them.
    [LINE_DIMENSION]: lineDimensionValue(record.line),
    [BUILD_METRICS.builds.name]: 1,
    [BUILD_METRICS.succeeded.name]: record.status === 'Success' ? 1 : 0,
    ...(hasDuration ? { [BUILD_METRICS.duration.name]: duration } : {}),
    // Plain fields, for Logs Insights.
    status: bounded(record.status),
    executionId: bounded(record.executionId),
    ...(record.version !== undefined ? { version: bounded(record.version) } : {}),
    endedAt: new Date(endedMs).toISOString(),
    ...(record.lightKey !== undefined ? { lightKey: bounded(record.lightKey, MAX_KEY_CHARS) } : {}),
    ...(record.failedStep !== undefined ? { failedStep: bounded(record.failedStep) } : {}),
  };
  return JSON.stringify(document);
}

/**
 * The record whose end build-status announced just now, if any: a result with
 * a notification is announced once per build (a second delivery of the
 * event, or an event that is not ours, has none), so its metrics count each
 * build once.
 */
export function announcedBuild(result: BuildStatusResult): BuildRecord | undefined {
  return result.notification && result.record ? result.record : undefined;
}

/**
 * Logs Insights: the newest light stemcell of each line, from the EMF lines
 * in build-status's log group (as far back as the query's time range and the
 * log group's retention reach). Newest by the build's end.
 */
export const NEWEST_LIGHT_STEMCELL_QUERY: readonly string[] = [
  `filter event = "${BUILD_END_EVENT}" and status = "Success" and ispresent(lightKey)`,
  `fields ${LINE_DIMENSION}, version, lightKey as lightStemcell, endedAt, executionId`,
  'sort endedAt desc',
  `dedup ${LINE_DIMENSION}`,
];
