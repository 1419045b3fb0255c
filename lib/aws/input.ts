/**
 * Checks of Lambda input events, so bad input is refused with a clear message
 * before any AWS call.
 */
import { isRegionName } from './identifiers';
import { UsageError } from '../errors';

/** A Lambda event that cannot be acted on (a usage error of the function). The message says what to fix. */
export class InvalidInputError extends UsageError {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidInput';
  }
}

export type EventObject = Record<string, unknown>;

export function eventObject(event: unknown, what: string): EventObject {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    throw new InvalidInputError(`${what}: the input must be a JSON object, got ${event === null ? 'null' : Array.isArray(event) ? 'an array' : typeof event}`);
  }
  return event as EventObject;
}

/** A pattern, or a predicate such as isAmiId, that a string must satisfy. */
export type StringCheck = RegExp | ((value: string) => boolean);
const satisfies = (check: StringCheck, value: string): boolean => (check instanceof RegExp ? check.test(value) : check(value));

export function requiredString(event: EventObject, key: string, pattern?: StringCheck, example?: string): string {
  const value = event[key];
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidInputError(`'${key}' is required: a string${example ? ` like ${example}` : ''}`);
  }
  if (pattern && !satisfies(pattern, value)) throw new InvalidInputError(`'${key}' is '${value}', which is not valid${example ? `; expected something like ${example}` : ''}`);
  return value;
}

export function optionalString(event: EventObject, key: string, pattern?: StringCheck, example?: string): string | undefined {
  return event[key] === undefined ? undefined : requiredString(event, key, pattern, example);
}

export function optionalBoolean(event: EventObject, key: string, fallback: boolean): boolean {
  const value = event[key];
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new InvalidInputError(`'${key}' must be true or false, got ${JSON.stringify(value)}`);
  return value;
}

export function optionalInteger(event: EventObject, key: string, fallback: number, min: number, max: number): number {
  const value = event[key];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidInputError(`'${key}' must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function optionalStringList(event: EventObject, key: string, check?: (item: string) => boolean, example?: string): string[] | undefined {
  const value = event[key];
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw new InvalidInputError(`'${key}' must be a list of strings${example ? ` like ${example}` : ''}, got ${JSON.stringify(value)}`);
  }
  const bad = check ? (value as string[]).filter((v) => !check(v)) : [];
  if (bad.length > 0) throw new InvalidInputError(`'${key}' holds ${bad.map((b) => `'${b}'`).join(', ')}, not valid${example ? `; expected items like ${example}` : ''}`);
  return value as string[];
}

export function region(event: EventObject, key: string): string {
  return checkRegion(requiredString(event, key, undefined, 'us-east-1'), key);
}

export function regionList(event: EventObject, key: string): string[] | undefined {
  return optionalStringList(event, key, isRegionName, '["us-east-1", "eu-central-1"]');
}

function checkRegion(value: string, key: string): string {
  if (!isRegionName(value)) throw new InvalidInputError(`'${key}' is '${value}', which is not an AWS region name like us-east-1`);
  return value;
}

/**
 * A JSON document another part of the farm wrote (request.json, result.json,
 * a runbook step's state), read as hostile input: at most `maxBytes`, JSON, an
 * object, and of `schema` when one is given.
 */
export function jsonDocument(text: string, what: string, maxBytes: number, schema?: string): EventObject {
  if (Buffer.byteLength(text) > maxBytes) throw new InvalidInputError(`${what} is over ${maxBytes} bytes; it is not one the farm wrote`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new InvalidInputError(`${what} is not JSON`);
  }
  const e = eventObject(json, what);
  if (schema !== undefined && e.schema !== schema) throw new InvalidInputError(`${what}'s schema is ${JSON.stringify(e.schema)?.slice(0, 80)}, not ${schema}; deploy the same farm version as the runbook`);
  return e;
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

/** A UTC time as JSON writes it (2026-11-22T05:00:00.000Z), and a real one. */
export function isoTime(event: EventObject, key: string): string {
  return requiredString(event, key, (v) => ISO_TIME.test(v) && !Number.isNaN(Date.parse(v)), '2026-11-22T05:00:00.000Z');
}
