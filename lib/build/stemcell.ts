/**
 * `stemcell build`: an OS image (given, or built first) through the
 * infrastructure's stemcell collection, then packed with the domain module
 * into the heavy stemcell tarball.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EnvironmentError, ExitCode, UsageError } from '../stemcell/errors';
import { heavyManifest, renderManifest } from '../stemcell/manifest';
import { defineStemcell, StemcellDefinition } from '../stemcell/matrix';
import { heavyTarballName, stemcellName, validateVersion } from '../stemcell/naming';
import { refuseExisting, writeTarball } from '../stemcell/tarball';
import { ensureHostTools, HostTool, requireFile, requireFreeSpace, requireRoot, STAGE_SCRIPTS } from './host';
import { buildOsImage, DEFAULT_WORK_ROOT, defaultOsImageOut } from './os-image';
import { collectionStages, renderSettingsEnv, resolveOsImageSettings } from './os-image-settings';
import { failedBuildExitCode, requireUnlocked, runCollection, RUNNER_TOOLS, StageResult } from './stage-runner';

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
  /** @default - out/bosh-<os>-os-image.tgz, built first when missing */
  readonly osImage?: string;
  /** @default - the pinned release in stage-scripts/data/bosh-agent.env, downloaded and verified */
  readonly agentBinary?: string;
  /** bosh-blobstore-* executables to install next to the agent. @default [] */
  readonly blobstoreClis?: readonly string[];
  /** @default 'out' */
  readonly outDir?: string;
  /** @default /var/tmp/stemcell-farm/work/stemcell-<infrastructure>-<os> */
  readonly work?: string;
  readonly resumeFrom?: string;
  readonly keepWork?: boolean;
  readonly mirror?: string;
  readonly proxy?: string;
  readonly packageCacheRoot?: string;
  readonly installHostPackages?: boolean;
  readonly say?: (line: string) => void;
}

export interface StemcellOutcome {
  readonly exitCode: number;
  readonly tarball?: string;
  readonly stages: readonly StageResult[];
  readonly work: string;
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

function hostTools(def: StemcellDefinition): HostTool[] {
  const tools: HostTool[] = [
    ...RUNNER_TOOLS,
    { command: 'sfdisk', package: 'fdisk' },
    { command: 'mkfs.ext4', package: 'e2fsprogs' },
    { command: 'blkid', package: 'util-linux' },
    { command: 'grub-mkpasswd-pbkdf2', package: 'grub-common' },
    { command: 'grub-install', package: 'grub2-common' },
  ];
  if (def.firmware === 'efi') {
    tools.push({ command: 'mkfs.vfat', package: 'dosfstools' }, { command: 'mcopy', package: 'mtools' }, { command: 'grub-mkimage', package: 'grub-efi-amd64-bin' });
  }
  if (def.diskFormat.diskFormat !== 'raw') tools.push({ command: 'qemu-img', package: 'qemu-utils' });
  return tools;
}

async function sha1File(file: string): Promise<string> {
  const hash = createHash('sha1');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export async function buildStemcell(options: BuildStemcellOptions): Promise<StemcellOutcome> {
  const say = options.say ?? ((line: string) => process.stderr.write(`${line}\n`));
  const os = options.os ?? 'debian-bookworm';
  const def = defineStemcell({ infrastructure: options.infrastructure ?? 'aws', os, diskFormat: options.diskFormat, firmware: options.firmware });
  const version = validateVersion(options.version ?? '0.0.1');
  const outDir = path.resolve(options.outDir ?? 'out');
  const tarball = path.join(outDir, heavyTarballName(def, version));
  const work = path.resolve(options.work ?? path.join(DEFAULT_WORK_ROOT, `stemcell-${def.infrastructure.name}-${os}`));
  const collectionFile = path.join(STAGE_SCRIPTS, 'collections', 'stemcell', def.infrastructure.name);
  requireFile(collectionFile, 'collection', 'every infrastructure has one in stage-scripts/collections/stemcell');
  if (options.resumeFrom !== undefined) {
    const stages = collectionStages(fs.readFileSync(collectionFile, 'utf8'));
    if (!stages.includes(options.resumeFrom)) throw new UsageError(`cannot resume from '${options.resumeFrom}': the stages are ${stages.join(', ')}`);
  }
  refuseExisting(tarball);
  if (options.agentBinary !== undefined) requireFile(options.agentBinary, 'agent binary', 'give the path of a bosh-agent executable');
  if (options.osImage !== undefined) requireFile(options.osImage, 'OS image', 'build one with stemcell build-os-image');
  for (const cli of options.blobstoreClis ?? []) {
    requireFile(cli, 'blobstore CLI', 'give the path of a bosh-blobstore-<kind> executable');
    if (!path.basename(cli).startsWith('bosh-blobstore-')) throw new UsageError(`blobstore CLI ${cli} must be named bosh-blobstore-<kind> (dav, s3, gcs, az)`);
  }
  requireRoot('stemcell build');
  ensureHostTools(hostTools(def), options.installHostPackages ?? false);
  requireFreeSpace(work, 4 * GIB + def.infrastructure.defaultDiskSizeMiB * 2 ** 20, 'the stemcell build (chroot and disk image)');
  requireUnlocked(work);
  // Behind a proxy only curl (in the bosh_agent stage) knows the way; skip the probe.
  if (options.agentBinary === undefined && options.proxy === undefined) await requireAgentReachable();

  let osImage = options.osImage === undefined ? undefined : path.resolve(options.osImage);
  if (osImage === undefined) {
    const built = path.resolve(outDir, path.basename(defaultOsImageOut(os)));
    if (fs.existsSync(built)) {
      say(`using the OS image ${built} built earlier (pass --os-image to choose another, or delete it to rebuild)`);
    } else {
      say(`no --os-image given: building ${built} first`);
      const outcome = await buildOsImage({ os, out: built, mirror: options.mirror, proxy: options.proxy, packageCacheRoot: options.packageCacheRoot, say });
      if (outcome.exitCode !== ExitCode.OK) return { exitCode: outcome.exitCode, stages: outcome.stages, work: outcome.work };
    }
    osImage = built;
  }

  // Package settings (mirror, proxy, cache) as for the OS image; the image is this build's input.
  const apt = resolveOsImageSettings({ os, out: osImage, mirror: options.mirror, proxy: options.proxy, packageCacheRoot: options.packageCacheRoot });
  const outputDir = path.join(work, 'stemcell');
  fs.mkdirSync(work, { recursive: true });
  fs.writeFileSync(
    path.join(work, 'settings.env'),
    renderSettingsEnv(apt, [
      ['STEMCELL_OS_IMAGE', osImage],
      ['STEMCELL_INFRASTRUCTURE', def.infrastructure.name],
      ['STEMCELL_NAME', stemcellName(def)],
      ['STEMCELL_VERSION', version],
      ['STEMCELL_DISK_FORMAT', def.diskFormat.diskFormat],
      ['STEMCELL_DISK_SIZE_MIB', String(def.infrastructure.defaultDiskSizeMiB)],
      ['STEMCELL_FIRMWARE', def.firmware],
      ['STEMCELL_AGENT_BINARY', options.agentBinary === undefined ? '' : path.resolve(options.agentBinary)],
      ['STEMCELL_BLOBSTORE_CLIS', (options.blobstoreClis ?? []).map((c) => path.resolve(c)).join(' ')],
      ['STEMCELL_OUTPUT_DIR', outputDir],
    ]),
    { mode: 0o600 },
  );
  say(`building ${stemcellName(def)} ${version} (${def.firmware}) in ${work}`);
  const run = await runCollection({ work, collectionFile, resumeFrom: options.resumeFrom });
  const stages = run.stages;
  if (run.exitCode !== 0) return { exitCode: failedBuildExitCode(run, work, say), stages, work };

  const image = path.join(outputDir, 'image');
  const manifest = heavyManifest(def, { version, imageSha1: await sha1File(image) });
  fs.mkdirSync(outDir, { recursive: true });
  await writeTarball(tarball, [
    { name: 'stemcell.MF', data: renderManifest(manifest) },
    { name: 'image', path: image },
    { name: 'packages.txt', path: path.join(outputDir, 'packages.txt') },
    { name: 'dev_tools_file_list.txt', path: path.join(outputDir, 'dev_tools_file_list.txt') },
  ], { pigz: true });
  if (!options.keepWork) fs.rmSync(work, { recursive: true, force: true });
  if (!fs.existsSync(tarball)) throw new EnvironmentError(`${tarball} was not written`);
  say(`wrote ${tarball}`);
  return { exitCode: ExitCode.OK, tarball, stages, work };
}
