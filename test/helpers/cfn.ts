/**
 * CloudFormation's intrinsic functions, resolved the way a deployment would,
 * with made-up physical ids: so that tests can run what the template holds
 * (the runbook document, a function's environment) as deployed.
 */
import { createHash } from 'node:crypto';

export interface Deployment {
  readonly region: string;
  readonly account: string;
  readonly partition: string;
  /** The physical id (what Ref gives) of each logical id. @default - the logical id itself, or the resource's Name property */
  readonly physicalIds?: Record<string, string>;
}

type Template = { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> };

export function physicalId(template: Template, deployment: Deployment, logicalId: string): string {
  const given = deployment.physicalIds?.[logicalId];
  if (given) return given;
  const resource = template.Resources[logicalId];
  if (!resource) throw new Error(`Ref to ${logicalId}, which the template does not have`);
  const name = resource.Properties?.Name;
  if (typeof name === 'string') return name;
  const hex = createHash('sha1').update(logicalId).digest('hex').slice(0, 17);
  const prefix = { 'AWS::EC2::LaunchTemplate': 'lt', 'AWS::EC2::Subnet': 'subnet', 'AWS::EC2::SecurityGroup': 'sg', 'AWS::EC2::VPC': 'vpc' }[resource.Type];
  if (prefix) return `${prefix}-${hex}`;
  // Bucket names are lower case, as CloudFormation makes them.
  if (resource.Type === 'AWS::S3::Bucket') return `stemcellfarm-${logicalId.toLowerCase()}-${hex.slice(0, 12)}`;
  return logicalId;
}

function getAtt(template: Template, d: Deployment, logicalId: string, attribute: string): string {
  const resource = template.Resources[logicalId];
  if (!resource) throw new Error(`Fn::GetAtt of ${logicalId}, which the template does not have`);
  const id = physicalId(template, d, logicalId);
  if (attribute === 'Arn') {
    const service = resource.Type.split('::')[1].toLowerCase();
    if (service === 'iam') return `arn:${d.partition}:iam::${d.account}:role/${id}`;
    if (service === 'lambda') return `arn:${d.partition}:lambda:${d.region}:${d.account}:function:${id}`;
    if (service === 's3') return `arn:${d.partition}:s3:::${id}`;
    return `arn:${d.partition}:${service}:${d.region}:${d.account}:${id}`;
  }
  if (attribute === 'LatestVersionNumber') return '1';
  if (attribute === 'GroupId') return physicalId(template, d, logicalId);
  throw new Error(`Fn::GetAtt ${logicalId}.${attribute} is not simulated`);
}

const PSEUDO = (d: Deployment): Record<string, string> => ({
  'AWS::Region': d.region,
  'AWS::AccountId': d.account,
  'AWS::Partition': d.partition,
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::StackName': 'StemcellFarm',
});

export function resolveIntrinsics(value: unknown, template: Template, d: Deployment): unknown {
  if (Array.isArray(value)) return value.map((v) => resolveIntrinsics(v, template, d));
  if (value === null || typeof value !== 'object') return value;
  const o = value as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1) {
    const [k] = keys;
    const arg = o[k];
    if (k === 'Ref') return PSEUDO(d)[arg as string] ?? physicalId(template, d, arg as string);
    if (k === 'Fn::GetAtt') return getAtt(template, d, (arg as string[])[0], (arg as string[])[1]);
    if (k === 'Fn::Join') {
      const [sep, parts] = arg as [string, unknown[]];
      return (resolveIntrinsics(parts, template, d) as unknown[]).join(sep);
    }
    if (k === 'Fn::Sub') return (arg as string).replace(/\$\{([^}]+)\}/g, (_, name: string) => PSEUDO(d)[name] ?? physicalId(template, d, name));
    if (k === 'Fn::Select') {
      const [index, list] = arg as [number, unknown];
      return (resolveIntrinsics(list, template, d) as unknown[])[index];
    }
    if (k === 'Fn::Split') {
      const [sep, text] = arg as [string, unknown];
      return (resolveIntrinsics(text, template, d) as string).split(sep);
    }
    if (k.startsWith('Fn::')) throw new Error(`${k} is not simulated`);
  }
  return Object.fromEntries(keys.map((k) => [k, resolveIntrinsics(o[k], template, d)]));
}
