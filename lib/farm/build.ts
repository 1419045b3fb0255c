/**
 * `stemcell farm-build`: one farm build on a builder, from its request in S3.
 * The OS image is built (and uploaded with its build record) or downloaded;
 * each infrastructure's stemcell is built from that one OS image, checked,
 * and uploaded; each AWS stemcell's root.img becomes an EBS snapshot through
 * the EBS direct APIs; result.json says what was made. Every upload is a
 * conditional write, so nothing is ever overwritten, and running the same
 * request again reuses what an earlier run already stored.
 */
import { EBSClient } from '@aws-sdk/client-ebs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { S3Client } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidInputError } from '../aws/input';
import { Clock } from '../aws/runtime';
import { downloadObject, headObject, parseS3Uri, putNewObject, readObjectText } from '../aws/s3';
import { buildOsImage, recordFileFor } from '../builder/os-image';
import { requireRoot } from '../builder/host';
import { buildStemcell, requireProgram } from '../builder/stemcell';
import { StageFailedError } from '../builder/stage-runner';
import { StageResult } from '../builder/stage-runner';
import { checkTarget } from '../check/run-checks';
import { digestFile, digestFileForUpload, DigestSet } from '../digests';
import { FailedError, InterruptedError, UsageError } from '../errors';
import { makeDirectories } from '../output';
import { partialOutput, withScratch } from '../scratch';
import { amiName, amiStemcellFromManifest, idempotencyToken, stemcellTags } from '../stemcell/ami';
import { osImageTarballName } from '../stemcell/os-image';
import { readStemcellTarball } from '../stemcell/tarball';
import { findBuildSnapshot, uploadRootImage } from '../publish/snapshot-upload';
import { osImageRecordKey, requestKey, resultKey } from './keys';
import { BuildRequest, MAX_REQUEST_BYTES, parseBuildRequest, StemcellTarget } from './request';
import { BuildResult, MAX_RESULT_BYTES, parseBuildResult, RESULT_SCHEMA, resultMismatch, StageTime, StemcellResult } from './result';

import { OBJECT_METADATA } from './keys';

export interface FarmBuildClients {
  readonly s3: S3Client;
  readonly ebs: EBSClient;
  readonly ec2: EC2Client;
}

export interface FarmBuildOptions {
  /** s3://<stemcell bucket>/builds/<build id>/request.json */
  readonly requestUri: string;
  /** The region of the farm, where snapshots are made; the request must name the same. */
  readonly region: string;
  /** @default - the pinned release */
  readonly agentBinary?: string;
  /** @default - the builds' default package cache */
  readonly packageCacheRoot?: string;
  /** Where the local work happens (a scratch directory below it, removed on every way out). @default /var/tmp */
  readonly scratchRoot?: string;
  readonly say: (line: string) => void;
  readonly clock: Clock;
}

const stageTimes = (stages: readonly StageResult[]): StageTime[] => stages.filter((s) => s.seconds !== undefined).map((s) => ({ stage: s.stage, seconds: s.seconds! }));

/** Read and check the request; the key must be where Prepare writes requests. */
export async function readRequest(s3: S3Client, requestUri: string, clock: Clock): Promise<BuildRequest> {
  const { bucket, key } = parseS3Uri(requestUri, '--request');
  const text = await readObjectText(s3, bucket, key, MAX_REQUEST_BYTES, clock);
  if (text === undefined) throw new UsageError(`${requestUri} does not exist; the runbook's Prepare step writes it`);
  const request = parseBuildRequest(text);
  if (key !== requestKey(request.buildId) || bucket !== request.buckets.stemcellBucket) {
    throw new InvalidInputError(`${requestUri} holds the request of build ${request.buildId}, which belongs at s3://${request.buckets.stemcellBucket}/${requestKey(request.buildId)}`);
  }
  return request;
}

/** Download an object to `file` through a partial output: a failed download leaves nothing. */
async function download(s3: S3Client, bucket: string, key: string, file: string, clock: Clock): Promise<void> {
  const out = partialOutput(file);
  try {
    await downloadObject(s3, bucket, key, out.path, clock);
    await out.commit();
  } finally {
    out.release();
    fs.rmSync(out.path, { force: true });
  }
}

/** An object this build uploaded, or undefined; an object at the key from another build is an error. */
async function ownObject(s3: S3Client, bucket: string, key: string, buildId: string, clock: Clock): Promise<{ sha1: string; bytes: number; checksPassed: number } | undefined> {
  const head = await headObject(s3, bucket, key, clock);
  if (!head) return undefined;
  const owner = head.Metadata?.[OBJECT_METADATA.buildId];
  const sha1 = head.Metadata?.[OBJECT_METADATA.sha1] ?? '';
  if (owner !== buildId || !/^[0-9a-f]{40}$/.test(sha1)) {
    throw new FailedError(`s3://${bucket}/${key} exists already, made by ${owner ? `build ${owner}` : 'something else than a farm build'}; this build never overwrites it: start a build with another version`);
  }
  return { sha1, bytes: head.ContentLength ?? 0, checksPassed: Number(head.Metadata?.[OBJECT_METADATA.checksPassed] ?? 0) || 0 };
}

/** Upload a tarball this build made as a new object; returns its digests (read once, for the metadata and Content-MD5 alike). */
async function upload(s3: S3Client, bucket: string, key: string, file: string, metadata: { buildId: string; checksPassed?: number }, clock: Clock): Promise<DigestSet> {
  const digests = await digestFileForUpload(file);
  const meta: Record<string, string> = { [OBJECT_METADATA.buildId]: metadata.buildId, [OBJECT_METADATA.sha1]: digests.sha1 };
  if (metadata.checksPassed !== undefined) meta[OBJECT_METADATA.checksPassed] = String(metadata.checksPassed);
  const written = await putNewObject(s3, bucket, key, { body: file, contentType: 'application/gzip', metadata: meta, contentMd5: digests.contentMd5 }, clock);
  if (written === 'exists') await ownObject(s3, bucket, key, metadata.buildId, clock);
  return digests;
}

interface OsImageOutcome {
  readonly file: string;
  readonly sha256: string;
  readonly built: boolean;
  readonly stages: StageTime[];
}

async function osImageFor(clients: FarmBuildClients, request: BuildRequest, dir: string, options: FarmBuildOptions): Promise<OsImageOutcome> {
  const { s3 } = clients;
  const bucket = request.buckets.osImageBucket;
  const key = request.osImage.key;
  const file = path.join(dir, 'out', osImageTarballName(request.operatingSystem));
  const earlier = request.osImage.build ? await ownObject(s3, bucket, key, request.buildId, options.clock) : undefined;
  if (!request.osImage.build || earlier) {
    options.say(`using the OS image s3://${bucket}/${key}${earlier ? ' (built by an earlier run of this build)' : ''}`);
    await download(s3, bucket, key, file, options.clock);
    return { file, sha256: (await digestFile(file)).sha256, built: false, stages: [] };
  }
  let customizeScript: string | undefined;
  if (request.customizeScriptKey) {
    customizeScript = path.join(dir, 'customize.sh');
    await download(s3, bucket, request.customizeScriptKey, customizeScript, options.clock);
  }
  const built = await buildOsImage({
    os: request.operatingSystem,
    outDir: path.dirname(file),
    work: path.join(dir, 'work', 'os-image'),
    extraPackages: request.extraPackages,
    customizeScript,
    snapshot: request.snapshot,
    packageCacheRoot: options.packageCacheRoot,
    say: options.say,
  });
  const digests = await upload(s3, bucket, key, built.tarball, { buildId: request.buildId }, options.clock);
  const record = await putNewObject(s3, bucket, osImageRecordKey(key), { body: recordFileFor(built.tarball), contentType: 'application/json', metadata: { [OBJECT_METADATA.buildId]: request.buildId } }, options.clock);
  options.say(`uploaded s3://${bucket}/${key} and its build record${record === 'exists' ? ' (the record was there already)' : ''}`);
  return { file: built.tarball, sha256: digests.sha256, built: true, stages: stageTimes(built.stages) };
}

/** A stemcell as its build left it: built now (a local tarball to check and upload) or stored by an earlier run. */
type MadeStemcell = { readonly built: { readonly tarball: string; readonly stages: StageTime[] } } | { readonly stored: StoredObject };

interface StoredObject {
  readonly sha1: string;
  readonly bytes: number;
  readonly checksPassed: number;
}

/** Build a stemcell, unless an earlier run of this build stored it. */
async function makeStemcell(clients: FarmBuildClients, request: BuildRequest, target: StemcellTarget, osImage: () => Promise<OsImageOutcome>, dir: string, options: FarmBuildOptions): Promise<MadeStemcell> {
  const stored = await ownObject(clients.s3, request.buckets.stemcellBucket, target.key, request.buildId, options.clock);
  if (stored) {
    options.say(`s3://${request.buckets.stemcellBucket}/${target.key} was built and checked by an earlier run of this build`);
    return { stored };
  }
  const built = await buildStemcell({
    os: request.operatingSystem,
    infrastructure: target.infrastructure,
    firmware: request.firmware,
    version: request.version,
    osImage: (await osImage()).file,
    agentBinary: options.agentBinary,
    outDir: path.join(dir, 'out'),
    work: path.join(dir, 'work', `stemcell-${target.infrastructure}`),
    packageCacheRoot: options.packageCacheRoot,
    say: options.say,
  });
  return { built: { tarball: built.tarball, stages: stageTimes(built.stages) } };
}

/** Check and upload a stemcell built now, and make the snapshot of an AWS one: what it adds to result.json. */
async function finishStemcell(clients: FarmBuildClients, request: BuildRequest, target: StemcellTarget, made: MadeStemcell, dir: string, options: FarmBuildOptions): Promise<StemcellResult> {
  const bucket = request.buckets.stemcellBucket;
  let stored: StoredObject;
  let stages: StageTime[] = [];
  if ('stored' in made) {
    stored = made.stored;
  } else {
    stages = made.built.stages;
    // The check's scratch space (its mounts) stays below the build's.
    const report = await checkTarget(made.built.tarball, false, dir);
    if (report.failed > 0) {
      const failures = report.results.filter((r) => !r.ok).map((r) => `${r.id} (${r.detail})`);
      throw new FailedError(`${target.fileName} failed ${report.failed} of ${report.results.length} checks, so it was not uploaded: ${failures.join('; ')}`);
    }
    const { sha1 } = await upload(clients.s3, bucket, target.key, made.built.tarball, { buildId: request.buildId, checksPassed: report.passed }, options.clock);
    options.say(`uploaded s3://${bucket}/${target.key} (${report.passed} checks passed)`);
    stored = { sha1, bytes: fs.statSync(made.built.tarball).size, checksPassed: report.passed };
  }
  // Only a stemcell that passed every check is uploaded; how many, its metadata says.
  const result = { infrastructure: target.infrastructure, key: target.key, sha1: stored.sha1, bytes: stored.bytes, reused: 'stored' in made, checks: { passed: stored.checksPassed, failed: 0 }, stages };
  if (target.infrastructure !== 'aws') return result;
  return { ...result, snapshotId: await snapshotFor(clients, request, target, path.join(dir, 'out', target.fileName), options) };
}

/** The EBS snapshot of an AWS stemcell's root.img: an earlier run's, or uploaded now. */
async function snapshotFor(clients: FarmBuildClients, request: BuildRequest, target: StemcellTarget, file: string, options: FarmBuildOptions): Promise<string> {
  const bucket = request.buckets.stemcellBucket;
  if (!fs.existsSync(file)) await download(clients.s3, bucket, target.key, file, options.clock);
  const contents = await readStemcellTarball(file);
  const stemcell = amiStemcellFromManifest(contents.manifest);
  const earlier = await findBuildSnapshot(clients.ec2, request.buildId, options.clock, stemcell.name);
  if (earlier) {
    options.say(`EBS snapshot ${earlier} of ${target.fileName} was made by an earlier run of this build`);
    return earlier;
  }
  const upload = await uploadRootImage(file, request.region, clients.ebs, clients.ec2, {
    imageSha1: contents.imageDigests.sha1,
    tags: stemcellTags(stemcell, request.buildId),
    description: `${amiName(stemcell, request.buildId)} root disk`,
    clientToken: idempotencyToken('farm-build', request.region, request.buildId, target.key, randomUUID()),
    clock: options.clock,
  });
  options.say(`EBS snapshot ${upload.snapshotId} of ${target.fileName}: ${upload.changedBlocks} blocks of 512 KiB sent, ${upload.volumeSizeGiB} GiB volume`);
  return upload.snapshotId;
}

export async function farmBuild(clients: FarmBuildClients, options: FarmBuildOptions): Promise<BuildResult> {
  // What can be checked on this host, before any AWS call.
  requireRoot('stemcell farm-build');
  if (options.agentBinary !== undefined) requireProgram(options.agentBinary, 'agent binary', 'give the path of a bosh-agent executable');
  const request = await readRequest(clients.s3, options.requestUri, options.clock);
  if (request.region !== options.region) throw new UsageError(`build ${request.buildId} belongs to the farm in ${request.region}, not ${options.region}; run it there`);
  const bucket = request.buckets.stemcellBucket;
  const resultAt = resultKey(request.buildId);
  const done = await readObjectText(clients.s3, bucket, resultAt, MAX_RESULT_BYTES, options.clock);
  if (done !== undefined) {
    const result = parseBuildResult(done);
    const mismatch = resultMismatch(result, request);
    if (mismatch) throw new FailedError(`s3://${bucket}/${resultAt} is not this build's result: ${mismatch}; not touching it`);
    options.say(`build ${request.buildId} is done already: s3://${bucket}/${resultAt}`);
    return result;
  }
  const startedAt = new Date(options.clock.now()).toISOString();
  options.say(`build ${request.buildId}: ${request.operatingSystem} ${request.version} for ${request.stemcells.map((s) => s.infrastructure).join(', ')}`);

  return withScratch(
    'farm-build',
    (dir) => buildIn(dir, clients, request, startedAt, options).catch((e: unknown) => {
      throw asFarmBuildError(e);
    }),
    options.scratchRoot,
  );
}

/**
 * The stages' own errors speak of a work directory to resume from with
 * --resume-from; a farm build's work directory is scratch space, gone with
 * it, and what carries on is the same request.
 */
function asFarmBuildError(e: unknown): unknown {
  const again = 'what this build stored is kept: run the same request again to carry on';
  if (e instanceof InterruptedError) return new InterruptedError(e.signal, `interrupted (${e.signal}); mounts, loop devices and scratch space are released, and ${again}`);
  if (e instanceof StageFailedError) return new FailedError(`stage ${e.stage ?? '(none)'} failed (the end of its log is above); ${again} after fixing the cause`);
  return e;
}

/** The build itself, in its scratch directory: OS image, stemcells (each finished while the next builds), result.json. */
async function buildIn(dir: string, clients: FarmBuildClients, request: BuildRequest, startedAt: string, options: FarmBuildOptions): Promise<BuildResult> {
  const bucket = request.buckets.stemcellBucket;
  const resultAt = resultKey(request.buildId);
  makeDirectories(path.join(dir, 'out'));
  // The OS image is needed only for stemcells still to build; fetched or built once.
  let osImage: Promise<OsImageOutcome> | undefined;
  const needOsImage = (): Promise<OsImageOutcome> => (osImage ??= osImageFor(clients, request, dir, options));
  // Each stemcell is checked, uploaded and snapshotted while the next one builds (one at a time each).
  const stemcells: StemcellResult[] = [];
  let finishing: Promise<void> = Promise.resolve();
  let failure: { error: unknown } | undefined;
  try {
    for (const [index, target] of request.stemcells.entries()) {
      if (failure) break;
      const made = await makeStemcell(clients, request, target, needOsImage, dir, options);
      finishing = finishing.then(async () => {
        stemcells[index] = await finishStemcell(clients, request, target, made, dir, options);
      });
      finishing.catch((error: unknown) => (failure ??= { error }));
    }
    await finishing;
  } finally {
    // Nothing may still read the scratch space when it is removed.
    await finishing.catch(() => undefined);
  }
  const image = osImage ? await osImage : undefined;
  const result: BuildResult = {
    schema: RESULT_SCHEMA,
    buildId: request.buildId,
    version: request.version,
    osImage: { key: request.osImage.key, ...(image ? { sha256: image.sha256 } : {}), built: image?.built ?? false, stages: image?.stages ?? [] },
    stemcells,
    startedAt,
    finishedAt: new Date(options.clock.now()).toISOString(),
  };
  const written = await putNewObject(clients.s3, bucket, resultAt, { body: Buffer.from(`${JSON.stringify(result, null, 2)}\n`), contentType: 'application/json' }, options.clock);
  if (written === 'exists') throw new FailedError(`s3://${bucket}/${resultAt} appeared while this run built: another run of build ${request.buildId} finished first; its result stands`);
  options.say(`wrote s3://${bucket}/${resultAt}`);
  return result;
}
