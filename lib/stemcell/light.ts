/**
 * Light AWS stemcells: the heavy stemcell's side files, an empty `image` and a
 * manifest whose cloud properties map regions to AMIs. Pure: the CLI writes the
 * result to disk, the light-stemcell Lambda to S3.
 */
import { AmiMap } from './aws';
import { InvalidStemcellError } from './errors';
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
