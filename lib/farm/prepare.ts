/**
 * Prepare, the runbook's first step: check the operator's form before anything
 * is launched, pick the version, the OS image and the builder image, write the
 * build request to S3 and hand the runbook what its later steps need. Calling
 * it again for the same execution returns what the first call decided.
 */
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { EXAMPLES, isAmiId, isRegionName } from '../aws/identifiers';
import { eventObject, InvalidInputError, jsonDocument, requiredString } from '../aws/input';
import { selectedRegions } from '../aws/regions';
import { errorCode, withRetries } from '../aws/retry';
import { headObject, putNewObject, readObjectText } from '../aws/s3';
import { Clock } from '../aws/runtime';
import { digestOf } from '../digests';
import { FailedError, UsageError } from '../errors';
import { amiStemcellFromManifest } from '../stemcell/ami';
import { heavyManifest } from '../stemcell/manifest';
import { defineStemcell } from '../stemcell/matrix';
import { BUILDER_INSTANCE_TYPES, BuildParameters, InvalidParameterError, parseBuildParameters } from './parameters';
import { AwsPublishing, FarmState } from './state';
import { FarmBuckets, isFarmOsImageKeyOf, osImageKey, requestKey, resultKey } from './keys';
import { BuildRequest, MAX_REQUEST_BYTES, parseBuildRequest, REQUEST_SCHEMA, stemcellTargets } from './request';
import { recordStart } from './records';

/** The stemcell line a build belongs to: versions are numbered per line. */
export const stemcellLine = (p: Pick<BuildParameters, 'operatingSystem'>): string => p.operatingSystem;

/**
 * Where a build's version comes from. The parameter when given; otherwise the
 * line's next number. Asked again for the same execution, it answers the same.
 */
export interface VersionSource {
  /**
   * `isBuilt` says whether a version already has stemcells (in the bucket):
   * a source that numbers the build skips such versions.
   */
  versionFor(line: string, executionId: string, requested: string | undefined, now: Date, isBuilt: (version: string) => Promise<boolean>): Promise<string>;
}

/**
 * Until the farm keeps a counter per line: the version asked for, or
 * `0.<UTC time to the second>` of the first Prepare of the execution (a retried
 * Prepare finds its request and never asks again).
 */
export const timestampVersions: VersionSource = {
  versionFor: async (_line, _executionId, requested, now) => requested ?? `0.${now.toISOString().replace(/[-:T]|\.\d+Z$/g, '')}`,
};

export interface PrepareConfig extends FarmBuckets {
  readonly region: string;
  /** SSM parameter holding the builder AMI id, used when the form leaves BuilderAmi empty. */
  readonly builderImageParameter: string;
  /**
   * Read when builderImageParameter does not exist yet: the farm's builder
   * image parameter appears with the pipeline's first image, and until then
   * builds start from the stock image and install at boot.
   */
  readonly fallbackBuilderImageParameter?: string;
  /** The builds table, where Prepare records the build it starts. @default - no record */
  readonly buildsTable?: string;
  /** Subnets builders may be launched in; one is chosen per build. */
  readonly subnetIds: readonly string[];
}

export interface PrepareClients {
  readonly s3: S3Client;
  readonly ssm: SSMClient;
  /** The farm's region: which regions this account has enabled. */
  readonly ec2: EC2Client;
  /** The builds table's (with config.buildsTable). */
  readonly dynamodb?: DynamoDBClient;
}

export interface PrepareEvent {
  readonly executionId: string;
  readonly parameters: Record<string, unknown>;
}

/** The runbook's Prepare input: the execution id and, beside it, the form's parameters by name. */
export function parsePrepareEvent(event: unknown): PrepareEvent {
  const { executionId, ...parameters } = eventObject(event, 'prepare');
  return { executionId: requiredString({ executionId }, 'executionId', /^[A-Za-z0-9-]{1,64}$/, 'the Automation execution id ({{automation:EXECUTION_ID}})'), parameters };
}

/** Root volume: the OS image build and each stemcell's disk and tarball, with room to spare. */
export const volumeSizeGiB = (infrastructures: number): number => 20 + 10 * infrastructures;

const exists = async (s3: S3Client, bucket: string, key: string, clock: Clock): Promise<boolean> => (await headObject(s3, bucket, key, clock)) !== undefined;

/** The newest OS image of `os` in the bucket, by the time it was written. */
async function latestOsImage(s3: S3Client, bucket: string, os: string, clock: Clock): Promise<string | undefined> {
  let newest: { key: string; at: number } | undefined;
  let token: string | undefined;
  do {
    const page = await withRetries(() => s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${os}/`, ContinuationToken: token })), clock);
    for (const o of page.Contents ?? []) {
      const at = o.LastModified?.getTime() ?? 0;
      if (o.Key && isFarmOsImageKeyOf(o.Key, os) && (!newest || at > newest.at)) newest = { key: o.Key, at };
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return newest?.key;
}

async function builderImage(ssm: SSMClient, params: BuildParameters, config: PrepareConfig, clock: Clock): Promise<string> {
  if (params.builderAmi) return params.builderAmi;
  const names = [config.builderImageParameter, ...(config.fallbackBuilderImageParameter ? [config.fallbackBuilderImageParameter] : [])];
  for (const name of names) {
    let value: string | undefined;
    try {
      value = (await withRetries(() => ssm.send(new GetParameterCommand({ Name: name })), clock)).Parameter?.Value;
    } catch (e) {
      if (errorCode(e) !== 'ParameterNotFound') throw e;
      continue;
    }
    if (!value || !isAmiId(value)) throw new FailedError(`the builder image parameter ${name} holds ${value === undefined ? 'nothing' : JSON.stringify(value.slice(0, 80))}, not an AMI id; give BuilderAmi, or fix the parameter`);
    return value;
  }
  throw new FailedError(`no builder image: no parameter ${names.join(' nor ')} exists; give BuilderAmi, or run the builder image pipeline`);
}

/** The runbook's state after Prepare: what the launch, the build and the publishing steps need. */
function initialState(request: BuildRequest, params: Pick<BuildParameters, 'publishLight' | 'imdsV2' | 'visibility' | 'shareWith' | 'encrypt' | 'regions' | 'excludeRegions'>, launch: Launch): FarmState {
  const aws = request.stemcells.find((s) => s.infrastructure === 'aws');
  let publishing: AwsPublishing | undefined;
  if (aws) {
    const def = defineStemcell({ infrastructure: 'aws', os: request.operatingSystem, firmware: request.firmware });
    publishing = {
      key: aws.key,
      // What register-ami names and boots the AMI as: the fields of the manifest the builder writes.
      stemcell: amiStemcellFromManifest(heavyManifest(def, { version: request.version, imageSha1: '0'.repeat(40) })),
      ...(params.imdsV2 ? { imdsSupport: 'v2.0' as const } : {}),
      copy: {
        visibility: params.visibility,
        ...(params.visibility === 'shared' ? { shareWith: params.shareWith } : {}),
        encrypted: params.encrypt,
        ...(params.regions.length > 0 ? { includeRegions: params.regions } : {}),
        ...(params.excludeRegions.length > 0 ? { excludeRegions: params.excludeRegions } : {}),
      },
    };
  }
  return {
    buildId: request.buildId,
    region: request.region,
    operatingSystem: request.operatingSystem,
    version: request.version,
    stemcellBucket: request.buckets.stemcellBucket,
    requestUri: `s3://${request.buckets.stemcellBucket}/${requestKey(request.buildId)}`,
    resultKey: resultKey(request.buildId),
    stemcellKeys: request.stemcells.map((s) => s.key),
    ...launch,
    volumeSizeGiB: volumeSizeGiB(request.stemcells.length),
    publish: params.publishLight && publishing !== undefined,
    ...(publishing ? { aws: publishing } : {}),
  };
}

/** request.json: the request, with the form and the launch choices it was made from, so that a retried Prepare answers the same. */
interface StoredRequest extends BuildRequest {
  readonly form: Record<string, unknown>;
  readonly launch: Launch;
}

interface Launch {
  readonly builderAmi: string;
  readonly instanceType: string;
  readonly subnetId: string;
}

/** The launch choices a stored request names, checked as any input is. */
function parseLaunch(value: unknown, config: PrepareConfig): Launch {
  const launch = eventObject(value, "the stored request's 'launch'");
  return {
    builderAmi: requiredString(launch, 'builderAmi', isAmiId, EXAMPLES.ami),
    instanceType: requiredString(launch, 'instanceType', (t) => (BUILDER_INSTANCE_TYPES as readonly string[]).includes(t), BUILDER_INSTANCE_TYPES.join(', ')),
    subnetId: requiredString(launch, 'subnetId', (id) => config.subnetIds.includes(id), config.subnetIds.join(', ')),
  };
}

export async function prepareBuild(clients: PrepareClients, config: PrepareConfig, event: PrepareEvent, versions: VersionSource, clock: Clock): Promise<FarmState> {
  if (!isRegionName(config.region)) throw new Error(`prepare: region ${JSON.stringify(config.region)} is not a region name`);
  if (config.subnetIds.length === 0) throw new Error('prepare: no builder subnets configured');
  const now = new Date(clock.now());
  const buildId = event.executionId;
  const buckets: FarmBuckets = { osImageBucket: config.osImageBucket, stemcellBucket: config.stemcellBucket };
  const params = parseBuildParameters(event.parameters, buckets, now.getTime());

  // A retried Prepare: the request this execution already wrote decides.
  const storedKey = requestKey(buildId);
  const stored = await readObjectText(clients.s3, config.stemcellBucket, storedKey, MAX_REQUEST_BYTES, clock);
  if (stored !== undefined) {
    const request = parseBuildRequest(stored);
    const previous = jsonDocument(stored, `s3://${config.stemcellBucket}/${storedKey}`, MAX_REQUEST_BYTES);
    await recordBuild(clients, config, request, clock);
    return initialState(request, parseBuildParameters(eventObject(previous.form, "the stored request's 'form'"), buckets, Date.parse(request.createdAt)), parseLaunch(previous.launch, config));
  }

  const os = params.operatingSystem;
  let imageKey: string;
  if (params.osImage === 'build') {
    imageKey = osImageKey(os, buildId);
  } else if (params.osImage === 'latest') {
    const latest = await latestOsImage(clients.s3, config.osImageBucket, os, clock);
    if (!latest) throw new InvalidParameterError('OsImage', `the OS image bucket holds no ${os} OS image yet; set OsImage to 'build'`);
    imageKey = latest;
  } else {
    if (!(await exists(clients.s3, config.osImageBucket, params.osImage, clock))) {
      throw new InvalidParameterError('OsImage', `s3://${config.osImageBucket}/${params.osImage} does not exist; give the key of an OS image in that bucket, 'latest' or 'build'`);
    }
    imageKey = params.osImage;
  }
  if (params.customizeScript && !(await exists(clients.s3, params.customizeScript.bucket, params.customizeScript.key, clock))) {
    throw new InvalidParameterError('CustomizeScript', `s3://${params.customizeScript.bucket}/${params.customizeScript.key} does not exist; upload the script first`);
  }
  const builderAmi = await builderImage(clients.ssm, params, config, clock);
  // Regions named in the form must exist in the partition and be enabled: found out now, not after the build.
  if (params.publishLight && params.regions.length + params.excludeRegions.length > 0) {
    try {
      await selectedRegions(clients.ec2, { includeRegions: params.regions.length > 0 ? params.regions : undefined, excludeRegions: params.excludeRegions }, { clock, deadline: clock.now() + 60_000, pollMs: 1000 });
    } catch (e) {
      if (e instanceof InvalidInputError) throw new InvalidParameterError(params.regions.length > 0 ? 'Regions' : 'ExcludeRegions', e.message);
      throw e;
    }
  }

  const targetsOf = (v: string) => stemcellTargets(os, params.infrastructures, v, params.firmware);
  const builtKey = async (v: string): Promise<string | undefined> => {
    for (const s of targetsOf(v)) if (await exists(clients.s3, config.stemcellBucket, s.key, clock)) return s.key;
    return undefined;
  };
  let version: string;
  try {
    version = await versions.versionFor(stemcellLine(params), event.executionId, params.version, now, async (v) => (await builtKey(v)) !== undefined);
  } catch (e) {
    throw e instanceof UsageError && !(e instanceof InvalidParameterError) ? new InvalidParameterError('Version', e.message) : e;
  }
  const stemcells = targetsOf(version);
  const built = await builtKey(version);
  if (built) {
    throw new InvalidParameterError('Version', `${version} of ${os} is already built (s3://${config.stemcellBucket}/${built}); stemcells are never overwritten, so choose another version or leave Version empty`);
  }

  const request: BuildRequest = {
    schema: REQUEST_SCHEMA,
    buildId,
    executionId: event.executionId,
    createdAt: now.toISOString(),
    region: config.region,
    buckets,
    operatingSystem: os,
    version,
    firmware: params.firmware,
    osImage: { build: params.osImage === 'build', key: imageKey },
    extraPackages: params.extraPackages,
    customizeScriptKey: params.customizeScript?.key,
    snapshot: params.snapshot,
    stemcells,
  };
  // Spread builds over the farm's subnets (and so its zones), the same way for the same build.
  const subnetId = config.subnetIds[parseInt(digestOf(buildId).slice(0, 8), 16) % config.subnetIds.length];
  const launch: Launch = { builderAmi, instanceType: params.instanceType, subnetId };
  const body: StoredRequest = { ...request, form: event.parameters, launch };
  const written = await putNewObject(clients.s3, config.stemcellBucket, storedKey, { body: Buffer.from(`${JSON.stringify(body, null, 2)}\n`), contentType: 'application/json' }, clock);
  // A Prepare of the same execution raced this one: take its decisions.
  if (written === 'exists') return prepareBuild(clients, config, event, versions, clock);
  await recordBuild(clients, config, request, clock);
  return initialState(request, params, launch);
}

/** The build's record, InProgress, once its version and request exist (written again by a retried Prepare). */
async function recordBuild(clients: PrepareClients, config: PrepareConfig, request: BuildRequest, clock: Clock): Promise<void> {
  if (!config.buildsTable || !clients.dynamodb) return;
  await recordStart(
    clients.dynamodb,
    config.buildsTable,
    {
      executionId: request.executionId,
      line: stemcellLine(request),
      version: request.version,
      status: 'InProgress',
      startedAt: request.createdAt,
      requestKey: requestKey(request.buildId),
      stemcellKeys: request.stemcells.map((s) => s.key),
      osImageKey: request.osImage.key,
    },
    clock,
  );
}
