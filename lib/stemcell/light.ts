/**
 * Light AWS stemcells: the heavy stemcell's side files, an empty `image` and a
 * manifest whose cloud properties map regions to AMIs. Pure: the CLI writes the
 * result to disk, the light-stemcell Lambda to S3.
 */
import { AmiMap } from './aws';
import { FailedError, InvalidStemcellError } from '../errors';
import { lightManifest, renderManifest, StemcellManifest } from './manifest';
import { tarballName } from './naming';
import { IMAGE_FILE, MANIFEST_FILE, StemcellTarballContents, TarballFile } from './tarball';

export interface LightStemcell {
  readonly fileName: string;
  readonly manifest: StemcellManifest;
  readonly files: readonly TarballFile[];
}

/** Everything needed to write the light stemcell of a heavy AWS stemcell. */
export function lightStemcellFrom(heavy: StemcellTarballContents, amis: AmiMap): LightStemcell {
  if (!heavy.sha1Matches) {
    throw new InvalidStemcellError(
      `${heavy.manifest.name} ${heavy.manifest.version}: image does not match the manifest's sha1 (${heavy.manifest.sha1}, image has ${heavy.imageDigests.sha1}); the heavy stemcell is corrupt`,
    );
  }
  const manifest = lightManifest(heavy.manifest, amis);
  const sideFiles = [...heavy.sideFiles].filter(([name]) => name !== MANIFEST_FILE && name !== IMAGE_FILE);
  return {
    fileName: tarballName(manifest.name, manifest.version, 'light'),
    manifest,
    files: [
      { name: MANIFEST_FILE, data: renderManifest(manifest) },
      { name: IMAGE_FILE, data: Buffer.alloc(0) },
      ...sideFiles.map(([name, data]) => ({ name, data })),
    ],
  };
}

/** The outcome of copying AMIs to every region, and what the publisher accepts. */
export interface Publication {
  /** Region -> AMI, as copy-ami returns it. */
  readonly amis: AmiMap;
  /** Region -> reason, as copy-ami returns it. @default - none */
  readonly failed: Readonly<Record<string, string>>;
  /** Publish although some regions failed. @default false */
  readonly allowPartial: boolean;
  /** Regions that must be in the map even when partial maps are allowed. @default - none */
  readonly requiredRegions: readonly string[];
}

/** A light stemcell that must not be written: its AMI map has holes that were not allowed. */
export class NotPublishableError extends FailedError {
  constructor(message: string) {
    super(message);
    this.name = 'NotPublishable';
  }
}

/**
 * The one rule for publishing a light stemcell, for the Lambda and for
 * `stemcell publish-light`: no region may have failed unless partial maps are
 * allowed, and required regions are never optional.
 */
export function checkPublishable(p: Publication): void {
  const failedRegions = Object.keys(p.failed).sort();
  if (failedRegions.length > 0 && !p.allowPartial) {
    const reasons = failedRegions.map((r) => `${r}: ${p.failed[r]}`).join('; ');
    throw new NotPublishableError(
      `not publishing: the copy failed in ${failedRegions.join(', ')} (${reasons}); no light stemcell written. ` +
        'Copy again with retryFailed (--retry-failed) to replace the failed copies, or publish without those regions with allowPartial (--allow-partial). The AMIs stay unpublished until then',
    );
  }
  const missing = p.requiredRegions.filter((r) => !(r in p.amis));
  if (missing.length > 0) throw new NotPublishableError(`not publishing: required regions ${missing.join(', ')} have no AMI; no light stemcell written`);
}
