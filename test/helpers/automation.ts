/**
 * Runs an SSM Automation document (schemaVersion 0.3) as synthesized, step by
 * step, against simulated AWS: the tests' executor of the runbook, not a
 * second model of it. It implements the actions the farm uses, with the
 * semantics AWS documents:
 *
 * - `{{ Name }}` references to parameters, step outputs and the automation
 *   and global variables; a value that is exactly one reference keeps its
 *   type (lists stay lists), others are interpolated as text;
 * - aws:executeAwsApi and aws:waitForAwsResourceProperty call the AWS SDK
 *   command of that name (answered by aws-sdk-client-mock fakes), with
 *   outputs selected by JSONPath ($, .name, [n]);
 * - aws:invokeLambdaFunction calls the function (InputPayload or Payload);
 *   its `Payload` output is the result as a JSON string, and a function that
 *   throws fails the step. Selectors on its outputs are refused: AWS
 *   documents them only for aws:executeScript;
 * - aws:executeScript runs the Python script with python3 and selects into
 *   `{ Payload: <returned value> }`;
 * - aws:runCommand sends the command and polls its invocation;
 * - aws:branch and aws:loop (at most 100 iterations, condition evaluated
 *   after the steps);
 * - maxAttempts, timeoutSeconds (aws:invokeLambdaFunction at most 300 s,
 *   aws:executeScript 600 s), onFailure (Abort, Continue, step:X; a failed
 *   critical step fails the execution even if a later step succeeds),
 *   onCancel (step:X runs the cancel workflow, which may not start with the
 *   actions AWS refuses there), nextStep and isEnd.
 *
 * Time is Date.now() and timers: under jest's fake timers the executor
 * advances them while it waits, so hours of polling cost milliseconds.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export type Value = string | number | boolean | string[] | Record<string, unknown> | unknown[] | null;

export interface StepRecord {
  readonly name: string;
  readonly action: string;
  status: 'Success' | 'Failed' | 'Cancelled' | 'TimedOut';
  readonly startedAt: number;
  endedAt?: number;
  failure?: string;
  inputs?: unknown;
  outputs?: Record<string, Value>;
}

export interface ExecutionResult {
  readonly status: 'Success' | 'Failed' | 'Cancelled' | 'TimedOut';
  readonly steps: StepRecord[];
  readonly outputs: Record<string, Value>;
  readonly failure?: string;
  /** Every parameter, given or defaulted, as the execution ran with it. */
  readonly parameters: Record<string, Value>;
  readonly startedAt: number;
  readonly endedAt: number;
}

export interface AutomationEnvironment {
  readonly executionId: string;
  readonly region: string;
  readonly account: string;
  readonly partition: string;
  /** An AWS API call: the SDK command `${api}Command` of the service's client, in the execution's region. */
  callAws(service: string, api: string, params: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** A synchronous Lambda invocation: the function's result, or a thrown error (FunctionError). */
  invokeLambda(functionName: string, payload: unknown): Promise<unknown>;
  /** Wait `ms` of (fake) time. */
  sleep(ms: number): Promise<void>;
  /** Settle a promise while (fake) time runs. */
  settle<T>(promise: Promise<T>): Promise<T>;
  /** Cancel the execution when this step starts. */
  readonly cancelAt?: string;
}

const LAMBDA_LIMIT_S = 300;
const SCRIPT_LIMIT_S = 600;
const MAX_LOOP = 100;
const NO_CANCEL_TARGET = ['aws:approve', 'aws:copyImage', 'aws:createImage', 'aws:createStack', 'aws:createTags', 'aws:pause', 'aws:runInstances', 'aws:sleep'];
const REFERENCE = /\{\{\s*([A-Za-z0-9_:.-]+)\s*\}\}/g;
const ONLY_REFERENCE = /^\{\{\s*([A-Za-z0-9_:.-]+)\s*\}\}$/;

class StepFailure extends Error {
  constructor(
    message: string,
    readonly status: 'Failed' | 'TimedOut' = 'Failed',
  ) {
    super(message);
  }
}

class Cancelled extends Error {}

/** `$`, `$.a.b`, `$.a[0].b`: the JSONPath Automation selectors use. */
export function select(value: unknown, selector: string): unknown {
  if (!selector.startsWith('$')) throw new StepFailure(`selector ${selector} does not start with $`);
  let current: unknown = value;
  for (const part of selector.slice(1).match(/\.[A-Za-z0-9_-]+|\[\d+\]/g) ?? []) {
    if (current === undefined || current === null) return undefined;
    current = part.startsWith('[') ? (current as unknown[])[Number(part.slice(1, -1))] : (current as Record<string, unknown>)[part.slice(1)];
  }
  return current;
}

function typed(value: unknown, type: string, name: string): Value {
  const bad = (): never => {
    throw new StepFailure(`output ${name}: ${JSON.stringify(value)?.slice(0, 200)} is not a ${type}`);
  };
  switch (type) {
    case 'String':
      return typeof value === 'string' ? value : bad();
    case 'Integer':
      return typeof value === 'number' && Number.isInteger(value) ? value : bad();
    case 'Boolean':
      return typeof value === 'boolean' ? value : bad();
    case 'StringList':
      return Array.isArray(value) && value.every((v) => typeof v === 'string') ? (value as string[]) : bad();
    case 'StringMap':
      return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : bad();
    case 'MapList':
      return Array.isArray(value) ? (value as unknown[]) : bad();
    default:
      throw new StepFailure(`output ${name}: unknown type ${type}`);
  }
}

type Step = Record<string, unknown> & { name: string; action: string; inputs?: Record<string, unknown> };

/**
 * What StartAutomationExecution does with its `Parameters` (every value a list
 * of strings, as a schedule or the CLI sends them): each becomes a value of
 * the type the document declares. A value that cannot be is refused, as the
 * API refuses it.
 */
export function fromApiParameters(document: unknown, parameters: Record<string, string[]>): Record<string, Value> {
  const declared = (document as { parameters?: Record<string, { type: string }> }).parameters ?? {};
  const out: Record<string, Value> = {};
  for (const [name, values] of Object.entries(parameters)) {
    const spec = declared[name];
    if (!spec) throw new Error(`InvalidAutomationExecutionParametersException: parameter ${name} is not defined in the document`);
    if (!Array.isArray(values) || values.some((v) => typeof v !== 'string')) throw new Error(`InvalidAutomationExecutionParametersException: ${name} must be a list of strings`);
    if (spec.type === 'StringList') out[name] = values;
    else if (values.length !== 1) throw new Error(`InvalidAutomationExecutionParametersException: ${name} takes one value, got ${values.length}`);
    else if (spec.type === 'Boolean') {
      if (values[0] !== 'true' && values[0] !== 'false') throw new Error(`InvalidAutomationExecutionParametersException: ${name} must be true or false`);
      out[name] = values[0] === 'true';
    } else if (spec.type === 'Integer') {
      if (!/^-?\d+$/.test(values[0])) throw new Error(`InvalidAutomationExecutionParametersException: ${name} must be an integer`);
      out[name] = Number(values[0]);
    } else out[name] = values[0];
  }
  return out;
}

export class AutomationExecution {
  readonly steps: StepRecord[] = [];
  private readonly values = new Map<string, Value>();
  private readonly document: { parameters?: Record<string, Record<string, unknown>>; mainSteps: Step[]; outputs?: string[] };
  private cancelled = false;

  constructor(
    document: unknown,
    parameters: Record<string, Value>,
    private readonly env: AutomationEnvironment,
  ) {
    this.document = document as AutomationExecution['document'];
    const declared = this.document.parameters ?? {};
    for (const name of Object.keys(parameters)) if (!(name in declared)) throw new Error(`parameter ${name} is not declared by the document`);
    for (const [name, spec] of Object.entries(declared)) {
      const value = (parameters[name] ?? spec.default) as Value;
      if (value === undefined) throw new Error(`parameter ${name} is required`);
      this.checkParameter(name, spec, value);
      this.values.set(name, value);
    }
    this.values.set('automation:EXECUTION_ID', env.executionId);
    this.values.set('global:REGION', env.region);
    this.values.set('global:ACCOUNT_ID', env.account);
    this.values.set('global:AWS_PARTITION', env.partition);
  }

  /** What the console and StartAutomationExecution check before anything runs. */
  private checkParameter(name: string, spec: Record<string, unknown>, value: Value): void {
    const items = spec.type === 'StringList' ? (value as string[]) : [value];
    if (spec.type === 'StringList' && !Array.isArray(value)) throw new Error(`parameter ${name} must be a list`);
    if (spec.type === 'Boolean' && typeof value !== 'boolean') throw new Error(`parameter ${name} must be true or false`);
    if (spec.maxItems !== undefined && items.length > (spec.maxItems as number)) throw new Error(`parameter ${name} takes at most ${spec.maxItems} items`);
    if (spec.minItems !== undefined && items.length < (spec.minItems as number)) throw new Error(`parameter ${name} needs at least ${spec.minItems} items`);
    for (const item of items) {
      if (spec.allowedValues && !(spec.allowedValues as unknown[]).includes(item)) throw new Error(`parameter ${name}: ${JSON.stringify(item)} is not an allowed value`);
      if (spec.allowedPattern && !new RegExp(spec.allowedPattern as string).test(String(item))) throw new Error(`parameter ${name}: ${JSON.stringify(item)} does not match ${spec.allowedPattern}`);
    }
  }

  private lookup(name: string): Value {
    if (!this.values.has(name)) throw new StepFailure(`{{ ${name} }} has no value (no such parameter, variable or step output yet)`);
    return this.values.get(name)!;
  }

  /** Substitute references in an input value. */
  resolve(input: unknown): unknown {
    if (typeof input === 'string') {
      const only = ONLY_REFERENCE.exec(input);
      if (only) return this.lookup(only[1]);
      return input.replace(REFERENCE, (_, name: string) => {
        const v = this.lookup(name);
        return typeof v === 'string' ? v : JSON.stringify(v);
      });
    }
    if (Array.isArray(input)) return input.map((i) => this.resolve(i));
    if (input !== null && typeof input === 'object') return Object.fromEntries(Object.entries(input).map(([k, v]) => [k, this.resolve(v)]));
    return input;
  }

  async run(): Promise<ExecutionResult> {
    const startedAt = Date.now();
    const main = this.document.mainSteps;
    const names = main.map((s) => s.name);
    let index = 0;
    let failure: { status: ExecutionResult['status']; message: string } | undefined;
    while (index >= 0 && index < main.length) {
      const step = main[index];
      let next: number;
      try {
        const chosen = await this.runStep(step);
        if (chosen !== undefined) next = names.indexOf(chosen);
        else if (step.isEnd === true) next = -1;
        else if (typeof step.nextStep === 'string') next = names.indexOf(step.nextStep);
        else next = index + 1;
        if (chosen !== undefined && next < 0) throw new Error(`${step.name}: no step ${chosen}`);
      } catch (e) {
        if (e instanceof Cancelled) {
          const target = (step.onCancel as string | undefined) ?? 'Abort';
          failure = { status: 'Cancelled', message: `cancelled during ${step.name}` };
          if (target === 'Abort') break;
          const to = main[names.indexOf(target.replace(/^step:/, ''))];
          if (!to) throw new Error(`${step.name}: onCancel names no step: ${target}`);
          if (NO_CANCEL_TARGET.includes(to.action)) throw new Error(`${step.name}: onCancel target ${to.name} is ${to.action}, which AWS does not run on cancel`);
          await this.cancelWorkflow(names.indexOf(to.name));
          break;
        }
        const message = (e as Error).message;
        const status = e instanceof StepFailure ? e.status : 'Failed';
        const onFailure = (step.onFailure as string | undefined) ?? 'Abort';
        if (onFailure === 'Continue') {
          next = index + 1;
        } else {
          failure ??= { status, message: `${step.name}: ${message}` };
          if (onFailure === 'Abort') break;
          next = names.indexOf(onFailure.replace(/^step:/, ''));
          if (next < 0) throw new Error(`${step.name}: onFailure names no step: ${onFailure}`);
        }
      }
      index = next;
    }
    const outputs: Record<string, Value> = {};
    for (const name of this.document.outputs ?? []) if (this.values.has(name)) outputs[name] = this.values.get(name)!;
    const parameters = Object.fromEntries(Object.keys(this.document.parameters ?? {}).map((name) => [name, this.values.get(name)!]));
    return { status: failure?.status ?? 'Success', steps: this.steps, outputs, failure: failure?.message, parameters, startedAt, endedAt: Date.now() };
  }

  /** After a cancel: the onCancel target and what follows it, for at most two minutes. */
  private async cancelWorkflow(start: number): Promise<void> {
    const main = this.document.mainSteps;
    const deadline = Date.now() + 120_000;
    this.cancelled = true;
    for (let i = start; i >= 0 && i < main.length && Date.now() < deadline; ) {
      const step = main[i];
      try {
        await this.runStep(step);
      } catch {
        break;
      }
      if (step.isEnd === true) break;
      i = typeof step.nextStep === 'string' ? main.findIndex((s) => s.name === step.nextStep) : i + 1;
    }
  }

  /** Run one step; returns the next step's name when the step chooses it (a branch). */
  private async runStep(step: Step): Promise<string | undefined> {
    if (!this.cancelled && this.env.cancelAt === step.name) {
      this.steps.push({ name: step.name, action: step.action, status: 'Cancelled', startedAt: Date.now(), endedAt: Date.now() });
      throw new Cancelled();
    }
    const record: StepRecord = { name: step.name, action: step.action, status: 'Success', startedAt: Date.now() };
    this.steps.push(record);
    const attempts = (step.maxAttempts as number | undefined) ?? 1;
    let last: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const { outputs, next } = await this.attempt(step, record);
        record.outputs = outputs;
        for (const [k, v] of Object.entries(outputs)) this.values.set(`${step.name}.${k}`, v);
        record.endedAt = Date.now();
        return next;
      } catch (e) {
        last = e;
      }
    }
    record.status = last instanceof StepFailure ? last.status : 'Failed';
    record.failure = (last as Error).message;
    record.endedAt = Date.now();
    throw last;
  }

  private async attempt(step: Step, record: StepRecord): Promise<{ outputs: Record<string, Value>; next?: string }> {
    if (step.action === 'aws:loop') return { outputs: await this.loop(step) };
    if (step.action === 'aws:branch') return { outputs: {}, next: this.branch(step) };
    const inputs = this.resolve(step.inputs ?? {}) as Record<string, unknown>;
    record.inputs = inputs;
    const timeout = step.timeoutSeconds as number | undefined;
    const started = Date.now();
    const within = async <T>(limitS: number | undefined, work: Promise<T>): Promise<T> => {
      const result = await this.env.settle(work);
      if (limitS !== undefined && Date.now() - started > limitS * 1000) throw new StepFailure(`${step.name} took ${Math.round((Date.now() - started) / 1000)} s, over its ${limitS} s`, 'TimedOut');
      return result;
    };
    let raw: Record<string, unknown>;
    switch (step.action) {
      case 'aws:executeAwsApi': {
        const { Service, Api, ...params } = inputs;
        raw = await within(timeout, this.env.callAws(Service as string, Api as string, params));
        break;
      }
      case 'aws:invokeLambdaFunction': {
        if (timeout === undefined || timeout > LAMBDA_LIMIT_S) throw new Error(`${step.name}: aws:invokeLambdaFunction runs at most ${LAMBDA_LIMIT_S} s; timeoutSeconds is ${timeout}`);
        if ((step.outputs as unknown[] | undefined)?.length) throw new Error(`${step.name}: selectors on aws:invokeLambdaFunction outputs are not documented; decode the Payload in aws:executeScript`);
        const payload = inputs.InputPayload ?? (typeof inputs.Payload === 'string' ? JSON.parse(inputs.Payload) : {});
        let result: unknown;
        try {
          result = await within(timeout, this.env.invokeLambda(inputs.FunctionName as string, payload));
        } catch (e) {
          if (e instanceof StepFailure) throw e;
          throw new StepFailure(`${inputs.FunctionName} failed: ${(e as Error).message}`);
        }
        return { outputs: { Payload: JSON.stringify(result), StatusCode: 200 } };
      }
      case 'aws:executeScript': {
        if (timeout === undefined || timeout > SCRIPT_LIMIT_S) throw new Error(`${step.name}: aws:executeScript runs at most ${SCRIPT_LIMIT_S} s; timeoutSeconds is ${timeout}`);
        raw = { Payload: runPython(inputs.Script as string, inputs.Handler as string, inputs.InputPayload ?? {}) };
        break;
      }
      case 'aws:waitForAwsResourceProperty': {
        const { Service, Api, PropertySelector, DesiredValues, ...params } = inputs;
        const limit = (timeout ?? 3600) * 1000;
        for (;;) {
          const response = await this.env.settle(this.env.callAws(Service as string, Api as string, params));
          const value = select(response, PropertySelector as string);
          if ((DesiredValues as unknown[]).includes(value)) break;
          if (Date.now() - started >= limit) throw new StepFailure(`${step.name}: ${PropertySelector} is ${JSON.stringify(value)} after ${limit / 1000} s`, 'TimedOut');
          await this.env.sleep(15_000);
        }
        return { outputs: {} };
      }
      case 'aws:runCommand':
        return { outputs: await this.runCommand(step, inputs, (timeout ?? 3600) * 1000, started) };
      default:
        throw new Error(`${step.name}: the executor does not know ${step.action}`);
    }
    const outputs: Record<string, Value> = {};
    for (const o of (step.outputs as { Name: string; Selector: string; Type: string }[] | undefined) ?? []) {
      outputs[o.Name] = typed(select(raw, o.Selector), o.Type, `${step.name}.${o.Name}`);
    }
    return { outputs };
  }

  private async runCommand(step: Step, inputs: Record<string, unknown>, limitMs: number, started: number): Promise<Record<string, Value>> {
    const sent = await this.env.settle(this.env.callAws('ssm', 'SendCommand', inputs));
    const commandId = select(sent, '$.Command.CommandId') as string;
    const instanceId = (inputs.InstanceIds as string[])[0];
    for (;;) {
      const invocation = await this.env.settle(this.env.callAws('ssm', 'GetCommandInvocation', { CommandId: commandId, InstanceId: instanceId }));
      const status = invocation.Status as string;
      if (status === 'Success') return { CommandId: commandId, Status: status, ResponseCode: invocation.ResponseCode as number, Output: String(invocation.StandardOutputContent ?? '').slice(0, 2500) };
      if (!['Pending', 'InProgress', 'Delayed'].includes(status)) throw new StepFailure(`${step.name}: command ${commandId} is ${status}: ${String(invocation.StandardErrorContent ?? '').slice(0, 2500)}`);
      if (Date.now() - started >= limitMs) throw new StepFailure(`${step.name}: command ${commandId} still ${status} after ${limitMs / 1000} s`, 'TimedOut');
      await this.env.sleep(30_000);
    }
  }

  private condition(c: Record<string, unknown>): boolean {
    if (c.And) return (c.And as Record<string, unknown>[]).every((x) => this.condition(x));
    if (c.Or) return (c.Or as Record<string, unknown>[]).some((x) => this.condition(x));
    if (c.Not) return !this.condition(c.Not as Record<string, unknown>);
    const value = this.resolve(c.Variable);
    if ('StringEquals' in c) return value === c.StringEquals;
    if ('Contains' in c) return typeof value === 'string' && value.includes(c.Contains as string);
    if ('StartsWith' in c) return typeof value === 'string' && value.startsWith(c.StartsWith as string);
    if ('BooleanEquals' in c) return value === c.BooleanEquals;
    if ('NumericEquals' in c) return value === c.NumericEquals;
    throw new StepFailure(`condition ${JSON.stringify(c)} uses an operator the executor does not know`);
  }

  private branch(step: Step): string | undefined {
    for (const choice of (step.inputs!.Choices as Record<string, unknown>[]) ?? []) if (this.condition(choice)) return choice.NextStep as string;
    return step.inputs!.Default as string | undefined;
  }

  private async loop(step: Step): Promise<Record<string, Value>> {
    const inputs = step.inputs!;
    const max = inputs.MaxIterations as number;
    if (!Number.isInteger(max) || max < 1 || max > MAX_LOOP) throw new Error(`${step.name}: MaxIterations must be 1 to ${MAX_LOOP}, is ${max}`);
    const inner = inputs.Steps as Step[];
    let iteration = 0;
    do {
      iteration++;
      this.values.set(`${step.name}.CurrentIteration`, iteration);
      for (const s of inner) await this.runStep(s);
    } while (iteration < max && this.condition(inputs.LoopCondition as Record<string, unknown>));
    return { CurrentIteration: iteration };
  }
}

/** aws:executeScript's Python: the handler called with the input payload; its return value, as JSON. */
function runPython(script: string, handler: string, payload: unknown): unknown {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'automation-script-'));
  try {
    fs.writeFileSync(path.join(dir, 'script.py'), script);
    const runner = `import json, sys\nsys.path.insert(0, ${JSON.stringify(dir)})\nimport script\nprint(json.dumps(script.${handler}(json.load(sys.stdin), None)))\n`;
    const r = spawnSync('python3', ['-c', runner], { input: JSON.stringify(payload), encoding: 'utf8' });
    if (r.status !== 0) throw new StepFailure(`script failed: ${r.stderr.trim().split('\n').pop()}`);
    return JSON.parse(r.stdout);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
