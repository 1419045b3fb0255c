/**
 * The state a build's runbook carries from one Lambda step to the next. Each
 * farm step takes `{ "state": "<the previous step's Payload>" }` and returns
 * the state with its own part filled in. Automation passes a Lambda's whole
 * result on as the `Payload` string and can test it with `Contains`, so the
 * runbook's branch and loops test the markers below: `"publish":true`,
 * `"registered":false` and `"copied":false`. JSON.stringify writes them
 * exactly so, and the same text inside a string value would be escaped.
 */
import { eventObject, InvalidInputError, jsonDocument } from '../aws/input';
import { AmiStemcell } from '../stemcell/ami';
import { AmiMap } from '../stemcell/aws';

export interface AwsPublishing {
  /** The heavy AWS stemcell in the stemcell bucket. */
  readonly key: string;
  readonly stemcell: AmiStemcell;
  readonly imdsSupport?: 'v2.0';
  /** copy-ami's input beyond the source AMI: visibility, shareWith, encrypted, includeRegions, excludeRegions. */
  readonly copy: Record<string, unknown>;
}

export interface FarmState {
  readonly buildId: string;
  readonly region: string;
  readonly operatingSystem: string;
  readonly version: string;
  readonly stemcellBucket: string;
  readonly requestUri: string;
  readonly resultKey: string;
  readonly stemcellKeys: readonly string[];
  readonly builderAmi: string;
  readonly instanceType: string;
  readonly subnetId: string;
  readonly volumeSizeGiB: number;
  /** Register, copy and write the light stemcell after the build. */
  readonly publish: boolean;
  readonly aws?: AwsPublishing;
  /** From result.json. */
  readonly snapshotId?: string;
  readonly registered?: boolean;
  readonly imageId?: string;
  readonly copied?: boolean;
  readonly amis?: AmiMap;
  readonly failed?: Readonly<Record<string, string>>;
  readonly lightKey?: string;
}

/** Automation hands a Lambda at most this much payload. */
const MAX_STATE_BYTES = 200 * 1024;

/** The runbook's markers, tested with `Contains` on a step's Payload. */
export const MARKERS = {
  publish: '"publish":true',
  notRegistered: '"registered":false',
  notCopied: '"copied":false',
} as const;

/** The state in a farm step's event. */
export function parseFarmEvent(event: unknown, what: string): FarmState {
  const e = eventObject(event, what);
  if (typeof e.state !== 'string') throw new InvalidInputError(`${what}: 'state' must be the previous step's Payload (a JSON string)`);
  const s = jsonDocument(e.state, `${what} 'state'`, MAX_STATE_BYTES);
  for (const key of ['buildId', 'region', 'version', 'stemcellBucket', 'resultKey']) {
    if (typeof s[key] !== 'string' || s[key] === '') throw new InvalidInputError(`${what}: 'state.${key}' is missing; pass the Payload of the step before`);
  }
  return s as unknown as FarmState;
}

/** What a step needs from the state, or an error naming the step that should have provided it. */
export function need<K extends keyof FarmState>(state: FarmState, key: K, from: string): NonNullable<FarmState[K]> {
  const value = state[key];
  if (value === undefined || value === null) throw new InvalidInputError(`the state has no '${key}'; ${from} provides it`);
  return value as NonNullable<FarmState[K]>;
}

/** Whether a Lambda event is a farm runbook step's (it carries the state) rather than a direct call's. */
export const isFarmEvent = (event: unknown): boolean => typeof event === 'object' && event !== null && !Array.isArray(event) && 'state' in event;
