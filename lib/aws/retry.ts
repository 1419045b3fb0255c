/**
 * Retries with exponential backoff and full jitter, for the errors that pass:
 * throttling, the per-region limit of concurrent snapshot copies, and
 * transient service or network failures. The SDK clients the cores use make
 * one attempt each (see clients.ts), so this is the only retry layer.
 */
import { Clock } from './runtime';

export interface RetryPolicy {
  /** @default 8 */
  readonly maxAttempts?: number;
  /** @default 1000 */
  readonly baseDelayMs?: number;
  /** @default 30000 */
  readonly maxDelayMs?: number;
  /** Give up rather than sleep past this (epoch ms). @default - no deadline */
  readonly deadline?: number;
}

const THROTTLING = new Set(['RequestLimitExceeded', 'Throttling', 'ThrottlingException', 'TooManyRequestsException', 'SlowDown', 'RequestThrottled']);
const TRANSIENT = new Set(['InternalError', 'InternalFailure', 'ServiceUnavailable', 'Unavailable', 'InsufficientInstanceCapacity', 'TimeoutError', 'RequestTimeout', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNREFUSED', 'EAI_AGAIN']);

interface ErrorLike {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

/** The AWS error code of an SDK error (`RequestLimitExceeded`, `InvalidAMIID.NotFound`, ...). */
export function errorCode(error: unknown): string {
  const e = (error ?? {}) as ErrorLike;
  return e.Code ?? (e.name && e.name !== 'Error' ? e.name : undefined) ?? e.code ?? 'Error';
}

export function errorMessage(error: unknown): string {
  const message = (error as ErrorLike)?.message;
  return message ? `${errorCode(error)}: ${message}` : errorCode(error);
}

export function isThrottling(error: unknown): boolean {
  return THROTTLING.has(errorCode(error));
}

/** EC2's answer when a region already has as many snapshot copies in flight as it allows. */
export function isCopyLimit(error: unknown): boolean {
  return errorCode(error) === 'ResourceLimitExceeded';
}

export function isTransient(error: unknown): boolean {
  const status = (error as ErrorLike)?.$metadata?.httpStatusCode;
  return TRANSIENT.has(errorCode(error)) || (status !== undefined && status >= 500);
}

export function isRetryable(error: unknown): boolean {
  return isThrottling(error) || isCopyLimit(error) || isTransient(error);
}

/** The delay before attempt `attempt + 1`: uniform in [0, min(max, base * 2^attempt)). */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs ?? 30_000, (policy.baseDelayMs ?? 1000) * 2 ** attempt);
  return Math.floor(random() * ceiling);
}

/** Run `call`, retrying retryable errors; the last error is thrown when attempts or time run out. */
export async function withRetries<T>(call: () => Promise<T>, clock: Clock, policy: RetryPolicy = {}, retryable: (e: unknown) => boolean = isRetryable): Promise<T> {
  const maxAttempts = policy.maxAttempts ?? 8;
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (e) {
      if (!retryable(e) || attempt + 1 >= maxAttempts) throw e;
      const delay = backoffDelay(attempt, policy, () => clock.random());
      if (policy.deadline !== undefined && clock.now() + delay >= policy.deadline) throw e;
      await clock.sleep(delay);
    }
  }
}
