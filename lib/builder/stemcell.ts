/**
 * `stemcell build`: an OS image (given, found, or built first) through the
 * infrastructure's stemcell collection, then packed with the domain module
 * into the heavy stemcell tarball.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { digestFileOne } from '../digests';
import { EnvironmentError, UsageError } from '../errors';
import { diskIdentity, diskLayout } from '../stemcell/disk-layout';
import { heavyManifest, renderManifest } from '../stemcell/manifest';
import { defineStemcell, StemcellDefinition } from '../stemcell/matrix';
import { heavyTarballName, stemcellName, validateVersion } from '../stemcell/naming';
import { osImageTarballName, vetOsImage } from '../stemcell/os-image';
import { refuseExisting, writeTarball } from '../stemcell/tarball';
import { ensureHostPackages, requireFile, requireFreeSpace, requireRoot, STAGE_SCRIPTS } from './host';
import { buildOsImage, checkWorkDirectory, DEFAULT_OUT_DIR, DEFAULT_WORK_ROOT, prepareOsImageBuild, recordFileFor, refuseOutInsideWork } from './os-image';
import { aptStageSettings, collectionStages, resolveOsImageSettings } from './os-image-settings';
import { makeDirectories, prepareOutputDirectory } from '../output';
import { keptChroot, requireUnlocked, runCollection, StageResult } from './stage-runner';
import { renderSettingsEnv, StemcellStageSettings } from './stage-settings';
import { DirectoryView } from '../check/fs-view';
import { readSbomInput, SBOM_FILES, sbomDocuments } from '../stemcell/sbom';
import { version as PROJECT_VERSION } from '../../package.json';

const GIB = 2 ** 30;

export interface BuildStemcellOptions {
  /** @default 'debian-bookworm' */
  readonly os?: string;
  /** @default 'aws' */
  readonly infrastructure?: string;
  /** @default - the infrastructure's first */
  readonly diskFormat?: string;
  /** @default - the OS's */
  readonly firmware?: string;
  /** @default '0.0.1' */
  readonly version?: string;
  /** @default - <out>/bosh-<os>-os-image.tgz, built first when missing */
  readonly osImage?: string;
  /** @default - the pinned release in stage-scripts/data/bosh-agent.env, downloaded and verified */
  readonly agentBinary?: string;
  /** bosh-blobstore-* executables to install next to the agent. @default [] */
  readonly blobstoreClis?: readonly string[];
  /** Directory of the stemcell tarball, created when missing. @default 'out' */
  readonly outDir?: string;
  /** @default /var/tmp/stemcell-farm/work/stemcell-<infrastructure>-<os> */
  readonly work?: string;
  readonly resumeFrom?: string;
  readonly keepWork?: boolean;
  readonly mirror?: string;
  readonly proxy?: string;
  readonly packageCacheRoot?: string;
  /** apt-get install missing host packages, for the stemcell and for the OS image it builds first. @default false */
  readonly installHostPackages?: boolean;
  readonly say?: (line: string) => void;
}

export interface StemcellBuild {
  readonly tarball: string;
  readonly stages: readonly StageResult[];
  readonly work: string;
  readonly recordFile: string;
}

/** `<stemcell>.build.json`: the stemcell and what decides its bytes. */
export interface StemcellBuildRecord {
  readonly kind: 'stemcell';
  readonly name: string;
  readonly version: string;
  readonly firmware: string;
  readonly output: { readonly path: string; readonly bytes: number; readonly sha256: string };
  readonly inputs: {
    /** The time stamped into the disk: the OS image's. */
    readonly sourceDateEpoch: number;
    readonly osImage: { readonly path: string; readonly sha256: string };
    /** The bosh-agent installed: a file given, or the pinned release (checked against this sha256 when downloaded). */
    readonly agent: { readonly path?: string; readonly version?: string; readonly sha256: string };
    readonly blobstoreClis: readonly { readonly path: string; readonly sha256: string }[];
    readonly projectVersion: string;
  };
  readonly stages: readonly StageResult[];
}

/** The pinned agent release (stage-scripts/data/bosh-agent.env). */
export function pinnedAgent(): { version: string; url: string; size: number; sha256: string } {
  const env = Object.fromEntries(
    fs.readFileSync(path.join(STAGE_SCRIPTS, 'data', 'bosh-agent.env'), 'utf8').split('\n').filter((l) => /^[A-Z0-9_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  return { version: env.BOSH_AGENT_VERSION, url: env.BOSH_AGENT_URL, size: Number(env.BOSH_AGENT_SIZE), sha256: env.BOSH_AGENT_SHA256 };
}

/** Fail now, not after the OS image is built, when the pinned agent cannot be downloaded. */
async function requireAgentReachable(): Promise<void> {
  const { url, version } = pinnedAgent();
  try {
    const response = await fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(15_000) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
  } catch (e) {
    throw new EnvironmentError(`cannot reach the pinned bosh-agent ${version} at ${url} (${(e as Error).message}); pass --agent-binary PATH with a bosh-agent you have`);
  }
}

/** A program to install in the image: a regular file that is an ELF executable or a #! script. */
export function requireProgram(file: string, what: string, hint: string): void {
  requireFile(file, what, hint);
  const head = Buffer.alloc(4);
  const fd = fs.openSync(file, 'r');
  try {
    fs.readSync(fd, head, 0, 4, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (!head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46])) && head.subarray(0, 2).toString('latin1') !== '#!') {
    throw new UsageError(`${what} ${file} is not a program (neither an ELF executable nor a #! script); ${hint}`);
  }
}

/**
 * GRUB's superuser password, in grub-mkpasswd-pbkdf2's format but with salt
 * and hash drawn from the build's seed, not made from a password: none was
 * ever hashed, so none is known that opens the boot menu's editor (finding
 * one means inverting PBKDF2-SHA512), and a rebuild writes the same grub.cfg.
 */
export function lockedGrubPassword(seed: string): string {
  const draw = (purpose: string) => createHash('sha512').update(`grub-password\n${purpose}\n${seed}`).digest('hex').toUpperCase();
  return `grub.pbkdf2.sha512.10000.${draw('salt')}.${draw('hash')}`;
}

/** settings.env of a stemcell build. */
export function stemcellStageSettings(
  def: StemcellDefinition,
  version: string,
  apt: ReturnType<typeof aptStageSettings>,
  files: { osImage: string; agentBinary?: string; blobstoreClis: readonly string[]; outputDir: string },
): StemcellStageSettings {
  // What the disk tools and GRUB would draw at random comes from what names the stemcell.
  const seed = `${stemcellName(def)}\n${version}\n${apt.SOURCE_DATE_EPOCH}`;
  const identity = diskIdentity(def.firmware, seed);
  const layout = diskLayout(def.firmware, identity);
  return {
    ...apt,
    STEMCELL_OS_IMAGE: files.osImage,
    STEMCELL_INFRASTRUCTURE: def.infrastructure.name,
    STEMCELL_NAME: stemcellName(def),
    STEMCELL_VERSION: version,
    STEMCELL_DISK_FORMAT: def.diskFormat.diskFormat,
    STEMCELL_DISK_SIZE_MIB: String(def.infrastructure.defaultDiskSizeMiB),
    STEMCELL_FIRMWARE: def.firmware,
    STEMCELL_PARTITION_TABLE: layout.sfdiskScript,
    STEMCELL_ROOT_PARTITION: String(layout.rootPartition),
    STEMCELL_ESP_PARTITION: layout.espPartition === undefined ? '' : String(layout.espPartition),
    STEMCELL_ROOT_FS_UUID: identity.rootFsUuid,
    STEMCELL_ROOT_HASH_SEED: identity.rootHashSeed,
    STEMCELL_ESP_VOLUME_ID: layout.espPartition === undefined ? '' : identity.espVolumeId,
    STEMCELL_GRUB_PASSWORD_HASH: lockedGrubPassword(seed),
    STEMCELL_AGENT_BINARY: files.agentBinary === undefined ? '' : path.resolve(files.agentBinary),
    STEMCELL_BLOBSTORE_CLIS: files.blobstoreClis.map((c) => path.resolve(c)).join(' '),
    STEMCELL_OUTPUT_DIR: files.outputDir,
  };
}

export async function buildStemcell(options: BuildStemcellOptions): Promise<StemcellBuild> {
  const say = options.say ?? ((line: string) => process.stderr.write(`${line}\n`));
  const os = options.os ?? 'debian-bookworm';
  const def = defineStemcell({ infrastructure: options.infrastructure ?? 'aws', os, diskFormat: options.diskFormat, firmware: options.firmware });
  const version = validateVersion(options.version ?? '0.0.1');
  const outDir = path.resolve(options.outDir ?? DEFAULT_OUT_DIR);
  const tarball = path.join(outDir, heavyTarballName(def, version));
  const work = checkWorkDirectory(options.work ?? path.join(DEFAULT_WORK_ROOT, `stemcell-${def.infrastructure.name}-${os}`));
  refuseOutInsideWork(outDir, work);
  const collectionFile = path.join(STAGE_SCRIPTS, 'collections', 'stemcell', def.infrastructure.name);
  requireFile(collectionFile, 'collection', 'every infrastructure has one in stage-scripts/collections/stemcell');
  if (options.resumeFrom !== undefined) {
    const stages = collectionStages(fs.readFileSync(collectionFile, 'utf8'));
    if (!stages.includes(options.resumeFrom)) throw new UsageError(`cannot resume from ${JSON.stringify(options.resumeFrom)}: the stages are ${stages.join(', ')}`);
    requireFile(path.join(work, 'settings.env'), 'settings of the build to resume', 'resume needs the work directory of a failed build (see --work)');
  }
  refuseExisting(tarball);
  if (options.agentBinary !== undefined) requireProgram(options.agentBinary, 'agent binary', 'give the path of a bosh-agent executable');
  for (const cli of options.blobstoreClis ?? []) {
    requireProgram(cli, 'blobstore CLI', 'give the path of a bosh-blobstore-<kind> executable');
    if (!/^bosh-blobstore-[a-z0-9]+$/.test(path.basename(cli))) throw new UsageError(`blobstore CLI ${cli} must be named bosh-blobstore-<kind> (dav, s3, gcs, az)`);
  }
  // Package settings (mirror, proxy, cache) as for the OS image; checked before anything runs.
  const apt = resolveOsImageSettings({ os, out: tarball, mirror: options.mirror, proxy: options.proxy, packageCacheRoot: options.packageCacheRoot });

  const given = options.osImage === undefined ? undefined : requireFile(path.resolve(options.osImage), 'OS image', 'build one with stemcell build-os-image');
  const found = path.join(outDir, osImageTarballName(os));
  const osImage = given ?? found;
  const buildFirst = given === undefined && !fs.existsSync(found);

  requireRoot('stemcell build');
  prepareOutputDirectory(outDir);
  prepareOutputDirectory(path.dirname(apt.packageCache), '--package-cache', 'the package cache');
  requireFreeSpace(work, 4 * GIB + def.infrastructure.defaultDiskSizeMiB * 2 ** 20, 'the stemcell build (chroot and disk image)');
  requireUnlocked(work);
  const osImagePlan = buildFirst ? prepareOsImageBuild({ os, outDir, mirror: options.mirror, proxy: options.proxy, packageCacheRoot: options.packageCacheRoot, say }) : undefined;
  // Before installing anything: behind a proxy only curl (in the bosh_agent stage) knows the way, so no probe there.
  if (options.agentBinary === undefined && options.proxy === undefined) await requireAgentReachable();
  // One install for the whole command, the OS image it may build first included.
  ensureHostPackages(buildFirst ? ['build', 'build-os-image'] : ['build'], options.installHostPackages ?? false, say);

  let sourceDateEpoch: number | undefined;
  if (osImagePlan) {
    say(`no --os-image given and no ${found}: building it first`);
    sourceDateEpoch = (await buildOsImage({ os, outDir, say }, osImagePlan)).record.inputs.sourceDateEpoch;
  } else if (given === undefined) {
    say(`using the OS image ${found} built earlier (pass --os-image to choose another, or delete it to rebuild)`);
  }

  // The stages unpack the tar the reader vetted, written to the work directory
  // (root's) as it was read: GNU tar never meets an entry the reader has not
  // seen, nobody can swap the file between the two, and it is decompressed once.
  makeDirectories(work);
  const osImageTar = path.join(work, 'os-image.tar');
  const vetted = await vetOsImage(osImage, os, osImage, { tarTo: osImageTar });
  // A resumed build goes on with the chroot of the OS image it started from; the record must name that one.
  const startedFrom = path.join(work, 'os-image.sha256');
  if (options.resumeFrom !== undefined && fs.existsSync(startedFrom) && fs.readFileSync(startedFrom, 'utf8').trim() !== vetted.sha256) {
    throw new UsageError(`the build in ${work} started from another OS image than ${osImage} (its sha256 differs); resume with that OS image, or start again without --resume-from`);
  }
  fs.writeFileSync(startedFrom, `${vetted.sha256}\n`);
  // The stemcell takes on the OS image's clock: same OS image, same bytes.
  sourceDateEpoch ??= vetted.newestMtime;

  const outputDir = path.join(work, 'stemcell');
  const settings = stemcellStageSettings(def, version, aptStageSettings(apt, sourceDateEpoch), { osImage: osImageTar, agentBinary: options.agentBinary, blobstoreClis: options.blobstoreClis ?? [], outputDir });
  fs.writeFileSync(path.join(work, 'settings.env'), renderSettingsEnv(settings), { mode: 0o600 });
  say(`building ${stemcellName(def)} ${version} (${def.firmware}) in ${work}`);
  const stages = await runCollection({ work, collectionFile, resumeFrom: options.resumeFrom, env: keptChroot(options.keepWork) });

  const image = path.join(outputDir, 'image');
  const manifest = heavyManifest(def, { version, imageSha1: await digestFileOne(image, 'sha1') });
  // The image's own dpkg database and copyright files, as package_list kept them; links stay inside.
  const sbom = sbomDocuments({
    os: def.os,
    name: stemcellName(def),
    version,
    epochSeconds: sourceDateEpoch,
    toolVersion: PROJECT_VERSION,
    packages: readSbomInput(new DirectoryView(path.join(outputDir, 'sbom-root'))),
  });
  const written = await writeTarball(
    tarball,
    [
      { name: 'stemcell.MF', data: renderManifest(manifest) },
      { name: 'image', path: image },
      { name: 'packages.txt', path: path.join(outputDir, 'packages.txt') },
      { name: 'dev_tools_file_list.txt', path: path.join(outputDir, 'dev_tools_file_list.txt') },
      { name: SBOM_FILES.spdx, data: sbom.spdx },
      { name: SBOM_FILES.cycloneDx, data: sbom.cycloneDx },
    ],
    // Stored, not compressed again: the image, nearly all of it, is compressed
    // already (package_image); a second deflate pass took 2 s to save 1%.
    { level: 0, pigz: true },
  );
  const sha256 = (file: string) => digestFileOne(file, 'sha256');
  const pinned = pinnedAgent();
  const agent = options.agentBinary === undefined ? { version: pinned.version, sha256: pinned.sha256 } : { path: path.resolve(options.agentBinary), sha256: await sha256(options.agentBinary) };
  const record: StemcellBuildRecord = {
    kind: 'stemcell',
    name: stemcellName(def),
    version,
    firmware: def.firmware,
    output: { path: tarball, ...written },
    inputs: {
      sourceDateEpoch,
      osImage: { path: path.resolve(osImage), sha256: vetted.sha256 },
      agent,
      blobstoreClis: await Promise.all((options.blobstoreClis ?? []).map(async (cli) => ({ path: path.resolve(cli), sha256: await sha256(cli) }))),
      projectVersion: PROJECT_VERSION,
    },
    stages,
  };
  const recordFile = recordFileFor(tarball);
  fs.writeFileSync(recordFile, `${JSON.stringify(record, null, 2)}\n`);
  if (!options.keepWork) fs.rmSync(work, { recursive: true, force: true });
  say(`wrote ${tarball} and ${recordFile}`);
  return { tarball, stages, work, recordFile };
}
