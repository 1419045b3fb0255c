/**
 * Following a build: poll its execution and the builder's log (Run Command
 * sends it to CloudWatch Logs, one stream per command and plugin, named after
 * the command id) until the build ends or the caller stops following.
 * Throttling and passing faults are retried with backoff; stopping (an abort
 * signal) ends a request in flight and any wait at once. The build itself is
 * never touched.
 */
import { CloudWatchLogsClient, DescribeLogStreamsCommand, FilterLogEventsCommand, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { GetAutomationExecutionCommand, SSMClient } from '@aws-sdk/client-ssm';
import { errorCode, withRetries } from '../aws/retry';
import { Clock } from '../aws/runtime';
import { FailedError } from '../errors';
import { ExecutionView, executionView } from './executions';

export interface FollowClients {
  readonly ssm: SSMClient;
  readonly logs: CloudWatchLogsClient;
}

/** A build takes tens of minutes; a poll every few seconds is plenty and cheap. */
export const POLL_MS = 5000;
/** Patience for a throttled API before following gives up (the build goes on). */
const RETRY = { maxAttempts: 10, baseDelayMs: 1000, maxDelayMs: 20_000 };
/** Run Command writes stdout and stderr to two streams: an event may arrive after later ones of the other stream. */
const LATE_MS = 5 * 60_000;

/** A clock whose waits end when `stop` is aborted, so that retries and polls stop at once. */
export function stoppableClock(clock: Clock, stop?: AbortSignal): Clock {
  if (!stop) return clock;
  return {
    now: () => clock.now(),
    random: () => clock.random(),
    sleep: async (ms) => {
      if (stop.aborted) return;
      let onAbort: () => void = () => undefined;
      await Promise.race([clock.sleep(ms), new Promise<void>((resolve) => stop.addEventListener('abort', (onAbort = () => resolve()), { once: true }))]);
      stop.removeEventListener('abort', onAbort);
    },
  };
}

export interface ReadOptions {
  readonly stop?: AbortSignal;
  /** Right after the start, Systems Manager may not know the execution yet: wait for it this long. @default 0 */
  readonly notFoundForMs?: number;
}

export async function readExecution(ssm: SSMClient, executionId: string, clock: Clock, options: ReadOptions = {}): Promise<ExecutionView> {
  const until = clock.now() + (options.notFoundForMs ?? 0);
  for (;;) {
    try {
      const out = await withRetries(() => ssm.send(new GetAutomationExecutionCommand({ AutomationExecutionId: executionId }), { abortSignal: options.stop }), clock, RETRY);
      if (!out.AutomationExecution) throw new FailedError(`Systems Manager returned no execution ${executionId}`);
      return executionView(out.AutomationExecution);
    } catch (e) {
      if (errorCode(e) !== 'AutomationExecutionNotFoundException') throw e;
      if (clock.now() >= until || options.stop?.aborted) throw new FailedError(`no build ${executionId} in this region: check the id (stemcell farm list), or pass --region`);
      await clock.sleep(2000);
    }
  }
}

/** A position in the build's log: events seen in the last minutes are not shown again. */
export interface LogCursor {
  readonly since: number;
  readonly seen: ReadonlyMap<string, number>;
}

/** The builder's log lines since `cursor`, in the order CloudWatch Logs gives them, and where to carry on. */
export async function readLog(logs: CloudWatchLogsClient, logGroup: string, commandId: string, cursor: LogCursor | undefined, clock: Clock, stop?: AbortSignal): Promise<{ lines: string[]; cursor: LogCursor }> {
  const since = cursor?.since ?? 0;
  const seen = new Map(cursor?.seen ?? []);
  const lines: string[] = [];
  let last = since;
  let token: string | undefined;
  do {
    const page = await withRetries(() => logs.send(new FilterLogEventsCommand({ logGroupName: logGroup, logStreamNamePrefix: commandId, startTime: since, nextToken: token, limit: 1000 }), { abortSignal: stop }), clock, RETRY).catch((e: unknown) => {
      // The group gets its first stream when the command first writes.
      if (errorCode(e) === 'ResourceNotFoundException') return { events: [], nextToken: undefined };
      throw e;
    });
    for (const event of page.events ?? []) {
      const timestamp = typeof event.timestamp === 'number' && Number.isFinite(event.timestamp) ? event.timestamp : since;
      const id = event.eventId ?? `${event.logStreamName}/${timestamp}/${event.message}`;
      if (seen.has(id)) continue;
      seen.set(id, timestamp);
      last = Math.max(last, timestamp);
      for (const line of String(event.message ?? '').replace(/\n$/, '').split('\n')) lines.push(line);
    }
    token = page.nextToken;
  } while (token && !stop?.aborted);
  // Start a while before the newest event next time (a late event of the other stream), and skip what was seen.
  const next = Math.max(since, last - LATE_MS);
  for (const [id, at] of seen) if (at < next) seen.delete(id);
  return { lines, cursor: { since: next, seen } };
}

/** The last `count` lines of the build's log, read from the end of its streams (a long log is not read whole). */
export async function readLogTail(logs: CloudWatchLogsClient, logGroup: string, commandId: string, count: number, clock: Clock): Promise<string[]> {
  const streams = await withRetries(() => logs.send(new DescribeLogStreamsCommand({ logGroupName: logGroup, logStreamNamePrefix: commandId, limit: 10 })), clock, RETRY);
  const events: { timestamp: number; message: string }[] = [];
  for (const stream of streams.logStreams ?? []) {
    if (!stream.logStreamName) continue;
    const out = await withRetries(() => logs.send(new GetLogEventsCommand({ logGroupName: logGroup, logStreamName: stream.logStreamName, startFromHead: false, limit: count })), clock, RETRY);
    for (const e of out.events ?? []) events.push({ timestamp: e.timestamp ?? 0, message: String(e.message ?? '') });
  }
  events.sort((a, b) => a.timestamp - b.timestamp);
  return events.flatMap((e) => e.message.replace(/\n$/, '').split('\n')).slice(-count);
}

export interface FollowSink {
  /** Each poll: the build as it is, and the log lines that are new. */
  update(view: ExecutionView, newLogLines: readonly string[]): void;
}

/**
 * Poll until the build ends, or `stop` is aborted (Ctrl-C stops following,
 * not the build), and return the last view.
 */
export async function follow(clients: FollowClients, executionId: string, logGroup: string, sink: FollowSink, clock: Clock, stop?: AbortSignal, options: { justStarted?: boolean } = {}): Promise<ExecutionView | undefined> {
  const waits = stoppableClock(clock, stop);
  let cursor: LogCursor | undefined;
  let view: ExecutionView | undefined;
  try {
    for (;;) {
      view = await readExecution(clients.ssm, executionId, waits, { stop, notFoundForMs: options.justStarted && view === undefined ? 60_000 : 0 });
      let lines: string[] = [];
      if (view.commandId) ({ lines, cursor } = await readLog(clients.logs, logGroup, view.commandId, cursor, waits, stop));
      sink.update(view, lines);
      if (view.done || stop?.aborted) return view;
      await waits.sleep(POLL_MS);
      if (stop?.aborted) return view;
    }
  } catch (e) {
    // Stopped mid-request: the request's abort is the stop, not a failure.
    if (stop?.aborted) return view;
    throw e;
  }
}
