/**
 * Time for the Lambda cores: a clock that tests replace, and the deadline a
 * core must return by (a Lambda has 15 minutes at most; Automation calls the
 * core again to carry on).
 */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
  /** In [0, 1): the jitter of retry delays. */
  random(): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: () => Math.random(),
};

export interface RunOptions {
  readonly clock: Clock;
  /** Epoch milliseconds by which the core returns, finished or not. */
  readonly deadline: number;
  /** How often to look at something that is not ready yet. */
  readonly pollMs: number;
}

/** Leave this much of a Lambda's time for returning the result. */
export const RETURN_MARGIN_MS = 20_000;

/** Run options for a Lambda invocation with `remainingMs` left. */
export function lambdaRunOptions(remainingMs: number, pollMs = 10_000): RunOptions {
  return { clock: systemClock, deadline: Date.now() + Math.max(0, remainingMs - RETURN_MARGIN_MS), pollMs };
}

/** Whether there is time left to wait `ms` more. */
export function hasTimeFor(options: RunOptions, ms: number): boolean {
  return options.clock.now() + ms < options.deadline;
}

/** The part of the Lambda context the handlers use. */
export interface LambdaContext {
  getRemainingTimeInMillis(): number;
}

/** A Lambda's setting from its environment, which the farm stack sets. */
export function stackSetting(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set; the farm stack sets it`);
  return value;
}
