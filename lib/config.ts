/**
 * The farm's configuration, read from cdk.json context and overridable with
 * `cdk synth -c key=value`. Values given with -c arrive as strings, so every
 * value is parsed and checked here, with errors that say which key to fix.
 */
import { Duration } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Node } from 'constructs';
import type { StemcellFarmStackProps } from './stacks/stemcell-farm-stack';
import { EXAMPLES, isEmailAddress, isKmsKeyArn } from './aws/identifiers';
import { ConfigError } from './config-error';
import { parseStemcellLines } from './farm/lines';

/** One context key: its type, default and what it means (the README table mirrors this). */
interface Setting<T> {
  readonly key: string;
  readonly parse: (raw: unknown, key: string) => T;
  readonly description: string;
}

export { ConfigError };

function integer(min: number, max: number) {
  return (raw: unknown, key: string): number => {
    const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw new ConfigError(key, `expected a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    }
    return value;
  };
}

function boolean(raw: unknown, key: string): boolean {
  if (raw === true || raw === 'true') return true;
  if (raw === false || raw === 'false') return false;
  throw new ConfigError(key, `expected true or false, got ${JSON.stringify(raw)}`);
}

function optionalString(raw: unknown, key: string): string | undefined {
  if (raw === '' || raw === null) return undefined;
  if (typeof raw !== 'string') throw new ConfigError(key, `expected a string, got ${JSON.stringify(raw)}`);
  return raw;
}

function retentionDays(raw: unknown, key: string): logs.RetentionDays {
  const days = integer(1, 3653)(raw, key);
  const valid = Object.values(logs.RetentionDays).filter((v): v is number => typeof v === 'number' && v > 0);
  if (!valid.includes(days)) throw new ConfigError(key, `CloudWatch Logs keeps logs for one of ${valid.join(', ')} days, not ${days}`);
  return days as logs.RetentionDays;
}


function kmsKeyArns(raw: unknown, key: string): string[] {
  const list = typeof raw === 'string' ? raw.split(',').map((s) => s.trim()).filter((s) => s !== '') : raw;
  if (!Array.isArray(list) || list.some((k) => typeof k !== 'string' || !isKmsKeyArn(k))) {
    throw new ConfigError(key, `expected KMS key ARNs (a list, or comma-separated), like ${EXAMPLES.kmsKeyArn}; got ${JSON.stringify(raw)}`);
  }
  return list as string[];
}

function email(raw: unknown, key: string): string | undefined {
  const value = optionalString(raw, key);
  if (value !== undefined && !isEmailAddress(value)) throw new ConfigError(key, `expected an email address, got ${JSON.stringify(raw)}`);
  return value;
}

export const SETTINGS = {
  maxAzs: { key: 'maxAzs', parse: integer(1, 2), description: 'Availability zones for the farm VPC (1 or 2; the stack is region-agnostic).' },
  privateSubnets: { key: 'privateSubnets', parse: boolean, description: 'Run builders in private subnets behind NAT gateways instead of public subnets.' },
  natGateways: { key: 'natGateways', parse: integer(1, 2), description: 'NAT gateways when privateSubnets is true.' },
  sshIngressCidr: { key: 'sshIngressCidr', parse: optionalString, description: 'Allow SSH (22/tcp) to builders from this IPv4 CIDR. Empty: no ingress at all.' },
  flowLogRetentionDays: { key: 'flowLogRetentionDays', parse: retentionDays, description: 'Days to keep VPC flow logs.' },
  noncurrentVersionDays: { key: 'noncurrentVersionDays', parse: integer(1, 3650), description: 'Days to keep overwritten or deleted object versions in the buckets.' },
  notificationEmail: { key: 'notificationEmail', parse: email, description: 'Subscribe this address to build notifications (it confirms by mail). Empty: none.' },
  stemcellLines: { key: 'stemcellLines', parse: parseStemcellLines, description: 'The stemcell lines the farm builds on a schedule: by operating system, a schedule, time zone, version format and runbook parameters.' },
  amiCopyKmsKeyArns: { key: 'amiCopyKmsKeyArns', parse: kmsKeyArns, description: 'KMS keys (ARNs, one per region you encrypt in) that copy-ami may encrypt AMI copies with.' },
} satisfies Record<string, Setting<unknown>>;

/** Read the farm stack's props from context; keys that are not set keep the stack's defaults. */
export function farmPropsFromContext(node: Node): StemcellFarmStackProps {
  const read = <T>(setting: Setting<T>): T | undefined => {
    const raw: unknown = node.tryGetContext(setting.key);
    return raw === undefined ? undefined : setting.parse(raw, setting.key);
  };
  const flowLogRetentionDays = read(SETTINGS.flowLogRetentionDays);
  const noncurrentVersionDays = read(SETTINGS.noncurrentVersionDays);
  return {
    maxAzs: read(SETTINGS.maxAzs),
    privateSubnets: read(SETTINGS.privateSubnets),
    natGateways: read(SETTINGS.natGateways),
    sshIngressCidr: read(SETTINGS.sshIngressCidr),
    flowLogRetention: flowLogRetentionDays,
    noncurrentVersionExpiration: noncurrentVersionDays === undefined ? undefined : Duration.days(noncurrentVersionDays),
    amiCopyKmsKeyArns: read(SETTINGS.amiCopyKmsKeyArns),
    notificationEmail: read(SETTINGS.notificationEmail),
    stemcellLines: read(SETTINGS.stemcellLines),
  };
}
