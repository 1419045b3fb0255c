/**
 * `stemcell publish-light`: the farm's AWS path for a heavy AWS stemcell on
 * disk, with the caller's credentials: root.img into an EBS snapshot, the AMI
 * registered, copied to every region and shared, the light stemcell written
 * beside the heavy one, and the AMIs marked published. The Lambda cores do the
 * work; this loops on them where a Lambda would be called again. Re-running
 * with the same heavy stemcell (and build id) carries on where it stopped.
 */
import { EBSClient } from '@aws-sdk/client-ebs';
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { copyAmi, CopyAmiResult, parseCopyAmiEvent } from './copy-ami';
import { markPublished } from './light-stemcell';
import { amiName, amiStemcellFromManifest, idempotencyToken, stemcellTags, validateBuildId } from '../stemcell/ami';
import { Ec2ForRegion } from '../aws/clients';
import { InvalidInputError } from '../aws/input';
import { registerAmi, RegisterAmiResult } from './register-ami';
import { Clock, RunOptions } from '../aws/runtime';
import { FailedError, UsageError } from '../errors';
import { checkPublishable, lightStemcellFrom } from '../stemcell/light';
import { readStemcellTarball, refuseExisting, StemcellTarballContents, writeTarball } from '../stemcell/tarball';
import { findBuildSnapshot, uploadRootImage } from './snapshot-upload';

export interface PublishLightOptions {
  readonly heavyPath: string;
  /** Where root.img is uploaded and the AMI registered. */
  readonly region: string;
  /** The copy-ami input beyond the source: regions, visibility, shareWith, encryption, concurrency, retryFailed. */
  readonly copy: Record<string, unknown>;
  /** `v2.0`: the AMIs require IMDSv2. */
  readonly imdsSupport?: 'v2.0';
  /** @default - derived from the image's sha1, so a re-run finds its own snapshot and AMI */
  readonly buildId?: string;
  /** Write the light stemcell although some regions failed. @default false */
  readonly allowPartial?: boolean;
  /** Regions that must have an AMI, partial or not. @default - none */
  readonly requiredRegions?: readonly string[];
  /** @default - beside the heavy stemcell */
  readonly outDir?: string;
}

export interface AwsClients {
  readonly ec2: Ec2ForRegion;
  readonly ebs: (region: string) => EBSClient;
}

export interface PublishLightResult {
  readonly lightPath: string;
  readonly snapshotId: string;
  readonly amis: Record<string, string>;
  readonly failed: Record<string, string>;
}

/** An AWS step that did not succeed; what was made is tagged for the cleanup, and a re-run carries on. */
export class PublishFailedError extends FailedError {
  constructor(message: string) {
    super(message);
    this.name = 'PublishFailedError';
  }
}

export interface PublishTiming {
  readonly clock: Clock;
  /** How long one round of the loop may take (a Lambda's time). @default 14 minutes */
  readonly roundMs?: number;
  /** @default 15 s */
  readonly pollMs?: number;
}

export function defaultBuildId(contents: StemcellTarballContents): string {
  return `sha1-${contents.imageDigests.sha1.slice(0, 16)}`;
}

export async function publishLight(aws: AwsClients, options: PublishLightOptions, timing: PublishTiming, say: (line: string) => void): Promise<PublishLightResult> {
  const round = (): RunOptions => ({ clock: timing.clock, deadline: timing.clock.now() + (timing.roundMs ?? 14 * 60_000), pollMs: timing.pollMs ?? 15_000 });

  // Everything that can be checked without AWS, first: a corrupt or non-AWS
  // stemcell fails making a light stemcell with a placeholder AMI, and the
  // copy options the way the copy-ami Lambda checks them.
  const contents = await readStemcellTarball(options.heavyPath);
  const preview = lightStemcellFrom(contents, { [options.region]: 'ami-00000000' });
  const stemcell = amiStemcellFromManifest(contents.manifest);
  const outFile = path.join(options.outDir ?? path.dirname(options.heavyPath), preview.fileName);
  refuseExisting(outFile);
  const buildId = validateBuildId(options.buildId ?? defaultBuildId(contents));
  let copyInput;
  try {
    copyInput = parseCopyAmiEvent({ ...options.copy, sourceRegion: options.region, sourceImageId: 'ami-00000000' });
  } catch (e) {
    throw e instanceof InvalidInputError ? new UsageError(e.message) : e;
  }
  const tags = stemcellTags(stemcell, buildId);
  const ec2 = aws.ec2(options.region);

  // 1. The snapshot: an earlier run's, or root.img uploaded now.
  let snapshotId = await findBuildSnapshot(ec2, buildId, timing.clock);
  if (snapshotId) {
    say(`snapshot ${snapshotId} from an earlier run (build ${buildId})`);
  } else {
    say(`uploading root.img of ${path.basename(options.heavyPath)} to a new EBS snapshot in ${options.region}`);
    const upload = await uploadRootImage(options.heavyPath, options.region, aws.ebs(options.region), ec2, {
      imageSha1: contents.imageDigests.sha1,
      tags,
      description: `${amiName(stemcell, buildId)} root disk`,
      clientToken: idempotencyToken('publish-light', options.region, buildId, randomUUID()),
      clock: timing.clock,
    });
    snapshotId = upload.snapshotId;
    say(`snapshot ${snapshotId}: ${upload.changedBlocks} blocks of 512 KiB sent, ${upload.volumeSizeGiB} GiB volume`);
  }

  // 2. The AMI, registered and available.
  let registered: RegisterAmiResult;
  do {
    registered = await registerAmi(ec2, { region: options.region, snapshotId, stemcell, buildId, imdsSupport: options.imdsSupport }, round());
    say(`AMI ${registered.imageId ?? '(waiting for the snapshot)'} in ${options.region}: ${registered.state}`);
  } while (registered.state !== 'available');

  // 3. Copies in every region, shared as asked.
  let copies: CopyAmiResult;
  const input = { ...copyInput, sourceImageId: registered.imageId! };
  do {
    copies = await copyAmi(aws.ec2, input, round());
    const total = copies.regions.length;
    say(`copies: ${Object.keys(copies.amis).length}/${total} available, ${copies.pending.length} pending, ${Object.keys(copies.failed).length} failed`);
  } while (!copies.done);
  checkPublishable({ amis: copies.amis, failed: copies.failed, allowPartial: options.allowPartial ?? false, requiredRegions: options.requiredRegions ?? [] });

  // 4. The light stemcell, then the AMIs marked published.
  const light = lightStemcellFrom(contents, copies.amis);
  await writeTarball(outFile, light.files);
  await markPublished(aws.ec2, copies.amis, round());
  say(`wrote ${outFile} (${Object.keys(copies.amis).length} regions)`);
  return { lightPath: outFile, snapshotId, amis: copies.amis, failed: copies.failed };
}
