/**
 * A build as an operator follows it: its runbook execution (Systems Manager's
 * GetAutomationExecution, read as hostile input) turned into the steps, the
 * outputs and the failure, and rendered as progress lines for a terminal (a
 * block redrawn in place) or for a log (a line for each change). The CLI
 * makes every line printable before it writes it.
 */
import { AutomationExecution } from '@aws-sdk/client-ssm';
import { isAmiId, isExecutionId, isRegionName } from '../aws/identifiers';
import { isSafeKey } from '../aws/s3';
import { VERSION_PATTERN } from '../stemcell/naming';
import { failedStep, RUNBOOK_OUTPUTS } from './build-status';

/** Statuses after which nothing changes. */
export const DONE_STATUSES = ['Success', 'Failed', 'TimedOut', 'Cancelled', 'CompletedWithSuccess', 'CompletedWithFailure', 'Rejected', 'Exited', 'ChangeCalendarOverrideRejected'];
/** Of those, the ones that mean the build succeeded. */
export const SUCCESS_STATUSES = ['Success', 'CompletedWithSuccess'];

export interface StepView {
  readonly name: string;
  readonly status: string;
  readonly startedAt?: number;
  readonly endedAt?: number;
}

export interface ExecutionView {
  readonly id: string;
  readonly status: string;
  readonly done: boolean;
  readonly line?: string;
  readonly startedAt?: number;
  readonly endedAt?: number;
  readonly steps: readonly StepView[];
  readonly version?: string;
  readonly stemcellKeys?: readonly string[];
  readonly lightKey?: string;
  readonly amis?: Readonly<Record<string, string>>;
  readonly failedStep?: string;
  readonly failure?: string;
  /** The Run Command of the build on the builder: its log streams start with it. */
  readonly commandId?: string;
  /** Regions copied so far (from the latest copy-ami call). */
  readonly copiedRegions?: readonly string[];
}

const time = (d: Date | undefined): number | undefined => (d instanceof Date && !Number.isNaN(d.getTime()) ? d.getTime() : undefined);

/** A region -> AMI map from an output or a payload, when it is one; anything else is left out. */
function amiMap(value: unknown): Record<string, string> | undefined {
  let v = value;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      return undefined;
    }
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const entries = Object.entries(v).filter(([r, a]) => isRegionName(r) && typeof a === 'string' && isAmiId(a)) as [string, string][];
  return entries.length > 0 ? Object.fromEntries(entries.sort(([a], [b]) => a.localeCompare(b))) : undefined;
}

export function executionView(raw: AutomationExecution): ExecutionView {
  // What the API gives is read as hostile input: lists that are not lists, outputs that are not lists of strings.
  const list = <T>(v: unknown): T[] => (Array.isArray(v) ? (v as T[]) : []);
  const strings = (v: unknown): string[] => list<unknown>(v).filter((x): x is string => typeof x === 'string');
  const outputs = (o: unknown): Record<string, string[]> => (typeof o === 'object' && o !== null ? Object.fromEntries(Object.entries(o).map(([k, v]) => [k, strings(v)])) : {});
  const e: AutomationExecution = {
    ...raw,
    StepExecutions: list<NonNullable<AutomationExecution['StepExecutions']>[number]>(raw.StepExecutions).filter((s) => typeof s === 'object' && s !== null).map((s) => ({ ...s, Outputs: outputs(s.Outputs) })),
    Outputs: outputs(raw.Outputs),
    Parameters: outputs(raw.Parameters),
  };
  const status = typeof e.AutomationExecutionStatus === 'string' ? e.AutomationExecutionStatus.slice(0, 40) : 'Pending';
  const steps: StepView[] = (e.StepExecutions ?? []).map((s) => ({ name: String(s.StepName ?? '?').slice(0, 64), status: String(s.StepStatus ?? 'Pending').slice(0, 40), startedAt: time(s.ExecutionStartTime), endedAt: time(s.ExecutionEndTime) }));
  const output = (name: string): string[] | undefined => e.Outputs?.[name];
  const version = output(RUNBOOK_OUTPUTS.version)?.[0];
  const keys = output('Decode.StemcellKeys')?.filter(isSafeKey);
  const lightKey = output(RUNBOOK_OUTPUTS.lightKey)?.[0];
  const line = e.Parameters?.OperatingSystem?.[0];
  const runCommand = (e.StepExecutions ?? []).find((s) => s.StepName === 'BuildOnHost');
  const commandId = runCommand?.Outputs?.CommandId?.[0];
  // The latest copy-ami call's state: the AMIs copied so far.
  const copyPayload = [...(e.StepExecutions ?? [])].reverse().find((s) => s.StepName === 'Copy' && s.Outputs?.Payload)?.Outputs?.Payload?.[0];
  const copied = copyPayload ? amiMap((() => { try { return (JSON.parse(copyPayload) as { amis?: unknown }).amis; } catch { return undefined; } })()) : undefined;
  const done = DONE_STATUSES.includes(status);
  const failed = done && !SUCCESS_STATUSES.includes(status) ? failedStep(e) : {};
  return {
    id: e.AutomationExecutionId ?? '?',
    status,
    done,
    ...(line && /^[a-z0-9-]{1,40}$/.test(line) ? { line } : {}),
    startedAt: time(e.ExecutionStartTime),
    endedAt: time(e.ExecutionEndTime),
    steps,
    ...(version && VERSION_PATTERN.test(version) ? { version } : {}),
    ...(keys && keys.length > 0 ? { stemcellKeys: keys } : {}),
    ...(lightKey && isSafeKey(lightKey) ? { lightKey } : {}),
    ...(amiMap(output('Published.Amis')?.[0]) ? { amis: amiMap(output('Published.Amis')?.[0]) } : {}),
    ...(failed.step ? { failedStep: failed.step.slice(0, 64) } : {}),
    ...(failed.failure ? { failure: failed.failure } : {}),
    ...(commandId && isExecutionId(commandId) ? { commandId } : {}),
    ...(copied ? { copiedRegions: Object.keys(copied) } : {}),
  };
}

/** 1h 02m, 3m 07s, 12s. */
export function elapsed(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

const MARK: Record<string, string> = { Success: 'ok', InProgress: '..', Pending: '  ', Failed: '!!', TimedOut: '!!', Cancelled: 'xx', Cancelling: 'xx' };

function stepTime(step: StepView, now: number): string {
  if (step.startedAt === undefined) return '';
  return elapsed((step.endedAt ?? now) - step.startedAt);
}

/** The steps, a loop's repeated calls shown once (the latest), with how many there were. */
function collapsed(steps: readonly StepView[]): { step: StepView; times: number }[] {
  const out: { step: StepView; times: number }[] = [];
  for (const step of steps) {
    const seen = out.find((o) => o.step.name === step.name);
    if (seen) {
      seen.step = step;
      seen.times++;
    } else out.push({ step, times: 1 });
  }
  return out;
}

/** The block a terminal shows, redrawn at each poll: the build, each step with its state and time, the copies, the log's last lines. */
export function progressBlock(view: ExecutionView, now: number, logTail: readonly string[]): string[] {
  const head = `build ${view.id}${view.line ? ` (${view.line}${view.version ? ` ${view.version}` : ''})` : ''}: ${view.status}${view.startedAt ? `, ${elapsed((view.endedAt ?? now) - view.startedAt)}` : ''}`;
  const rows = collapsed(view.steps).map(({ step, times }) => ({ step, name: times > 1 ? `${step.name} x${times}` : step.name }));
  const width = rows.reduce((w, r) => Math.max(w, r.name.length), 8);
  const lines = [head, ...rows.map(({ step, name }) => `  ${MARK[step.status] ?? '  '} ${name.padEnd(width)}  ${step.status.padEnd(10)} ${stepTime(step, now)}`.trimEnd())];
  if (view.copiedRegions && !view.done) lines.push(`  copies: ${view.copiedRegions.length} region${view.copiedRegions.length === 1 ? '' : 's'} done (${view.copiedRegions.join(', ')})`);
  for (const line of logTail) lines.push(`  | ${line}`);
  return lines;
}

/** What changed since the last view, one line each, for output that is not a terminal. */
export function progressLines(before: ExecutionView | undefined, view: ExecutionView, now: number): string[] {
  const stamp = new Date(now).toISOString().slice(11, 19);
  const lines: string[] = [];
  if (!before) lines.push(`${stamp} build ${view.id}${view.line ? ` (${view.line})` : ''}: ${view.status}`);
  for (const step of view.steps) {
    const old = before?.steps.find((s) => s.name === step.name && s.startedAt === step.startedAt);
    if (old?.status === step.status) continue;
    lines.push(`${stamp} ${step.name}: ${step.status}${step.status !== 'InProgress' && step.status !== 'Pending' ? ` after ${stepTime(step, now)}` : ''}`);
  }
  const copied = view.copiedRegions?.length ?? 0;
  if (copied > (before?.copiedRegions?.length ?? 0) && !view.done) lines.push(`${stamp} copies: ${copied} region${copied === 1 ? '' : 's'} done`);
  if (before && before.status !== view.status) lines.push(`${stamp} build ${view.id}: ${view.status}`);
  return lines;
}

/** The end of a build, for people: outputs on success, the step and why on failure. */
export function summary(view: ExecutionView, stemcellBucket: string): string[] {
  const lines = [`build ${view.id}: ${view.status}${view.startedAt && view.endedAt ? ` after ${elapsed(view.endedAt - view.startedAt)}` : ''}`];
  if (view.version) lines.push(`version: ${view.version}`);
  for (const key of view.stemcellKeys ?? []) lines.push(`stemcell: s3://${stemcellBucket}/${key}`);
  if (view.lightKey) lines.push(`light stemcell: s3://${stemcellBucket}/${view.lightKey}`);
  if (view.amis) lines.push(`AMIs: ${Object.entries(view.amis).map(([r, a]) => `${r}=${a}`).join(' ')}`);
  if (view.failedStep) lines.push(`failed step: ${view.failedStep}`);
  if (view.failure) lines.push(`why: ${view.failure}`);
  return lines;
}
