/**
 * Following a build: poll its execution and the builder's log (Run Command
 * sends it to CloudWatch Logs, one stream per command and plugin, named after
 * the command id) until the build ends or the caller stops following.
 * Throttling and passing faults are retried with backoff; the build itself is
 * never touched.
 */
import { CloudWatchLogsClient, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { GetAutomationExecutionCommand, SSMClient } from '@aws-sdk/client-ssm';
import { errorCode, withRetries } from '../aws/retry';
import { Clock } from '../aws/runtime';
import { FailedError } from '../errors';
import { ExecutionView, executionView } from './executions';

export interface FollowClients {
  readonly ssm: SSMClient;
  readonly logs: CloudWatchLogsClient;
}

/** Long polls are cheap on both APIs, and a build takes tens of minutes. */
export const POLL_MS = 5000;
/** Patience for a throttled API before following gives up (the build goes on). */
const RETRY = { maxAttempts: 10, baseDelayMs: 1000, maxDelayMs: 20_000 };

export async function readExecution(ssm: SSMClient, executionId: string, clock: Clock): Promise<ExecutionView> {
  try {
    const out = await withRetries(() => ssm.send(new GetAutomationExecutionCommand({ AutomationExecutionId: executionId })), clock, RETRY);
    if (!out.AutomationExecution) throw new FailedError(`Systems Manager returned no execution ${executionId}`);
    return executionView(out.AutomationExecution);
  } catch (e) {
    if (errorCode(e) === 'AutomationExecutionNotFoundException') throw new FailedError(`no build ${executionId} in this region: check the id (stemcell farm list), or pass --region`);
    throw e;
  }
}

/** A position in the build's log: the events seen so far are not shown again. */
export interface LogCursor {
  readonly since: number;
  readonly seen: ReadonlySet<string>;
}

/** The builder's log lines since `cursor`, in order, and where to carry on. */
export async function readLog(logs: CloudWatchLogsClient, logGroup: string, commandId: string, cursor: LogCursor | undefined, clock: Clock, limit = 10_000): Promise<{ lines: string[]; cursor: LogCursor }> {
  const since = cursor?.since ?? 0;
  const seen = new Set(cursor?.seen ?? []);
  const lines: string[] = [];
  let last = since;
  let token: string | undefined;
  do {
    const page = await withRetries(() => logs.send(new FilterLogEventsCommand({ logGroupName: logGroup, logStreamNamePrefix: commandId, startTime: since, nextToken: token, limit: 1000 })), clock, RETRY).catch((e: unknown) => {
      // The group gets its first stream when the command first writes.
      if (errorCode(e) === 'ResourceNotFoundException') return { events: [], nextToken: undefined };
      throw e;
    });
    for (const event of page.events ?? []) {
      const id = event.eventId ?? `${event.logStreamName}/${event.timestamp}/${event.message}`;
      if (seen.has(id)) continue;
      seen.add(id);
      last = Math.max(last, event.timestamp ?? 0);
      for (const line of (event.message ?? '').replace(/\n$/, '').split('\n')) lines.push(line);
    }
    token = page.nextToken;
  } while (token && lines.length < limit);
  // Events at the last timestamp may still arrive: start there next time, and skip what was seen.
  return { lines, cursor: { since: last, seen: new Set([...seen].slice(-5000)) } };
}

export interface FollowSink {
  /** Each poll: the build as it is, and the log lines that are new. */
  update(view: ExecutionView, newLogLines: readonly string[]): void;
}

/**
 * Poll until the build ends (or `stop` is aborted: Ctrl-C stops following,
 * not the build) and return the last view.
 */
export async function follow(clients: FollowClients, executionId: string, logGroup: string, sink: FollowSink, clock: Clock, stop?: AbortSignal): Promise<ExecutionView> {
  let cursor: LogCursor | undefined;
  for (;;) {
    const view = await readExecution(clients.ssm, executionId, clock);
    let lines: string[] = [];
    if (view.commandId) ({ lines, cursor } = await readLog(clients.logs, logGroup, view.commandId, cursor, clock));
    sink.update(view, lines);
    if (view.done || stop?.aborted) return view;
    await Promise.race([clock.sleep(POLL_MS), new Promise<void>((resolve) => stop?.addEventListener('abort', () => resolve(), { once: true }))]);
    if (stop?.aborted) return view;
  }
}
