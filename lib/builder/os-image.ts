/**
 * `stemcell build-os-image`: check every input and precondition, render the
 * settings, run the OS's collection, write the build record.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { digestFile } from '../digests';
import { EnvironmentError, UsageError } from '../errors';
import { osImageTarballName } from '../stemcell/os-image';
import { ensureHostPackages, requireDirectory, requireFile, requireFreeSpace, requireRoot, STAGE_SCRIPTS } from './host';
import { makeDirectories, prepareOutputDirectory } from '../output';
import { checkOwnStages, composeCollection, OsImageBuildRequest, OsImageSettings, osImageStageSettings, resolveOsImageSettings, settingsForRecord } from './os-image-settings';
import { Download, fetchReleaseFiles, newestRelease, ReleaseFile, releaseFile } from './release-files';
import { keptChroot, readWorkTable, requireUnlocked, runCollection, StageResult } from './stage-runner';
import { version as PROJECT_VERSION } from '../../package.json';
import { renderSettingsEnv } from './stage-settings';

export const DEFAULT_WORK_ROOT = '/var/tmp/stemcell-farm/work';
export const DEFAULT_OUT_DIR = 'out';
const GIB = 2 ** 30;

export interface BuildOsImageOptions extends Omit<OsImageBuildRequest, 'out'> {
  /** Directory of the OS image tarball, created when missing. @default 'out' */
  readonly outDir?: string;
  /** @default /var/tmp/stemcell-farm/work/os-image-<os> */
  readonly work?: string;
  readonly resumeFrom?: string;
  /** Keep the work directory after a successful build. @default false */
  readonly keepWork?: boolean;
  /** Folders of your own stages (each with an apply.sh), run before file_permissions. @default [] */
  readonly addStages?: readonly string[];
  /** apt-get install missing host packages. @default false */
  readonly installHostPackages?: boolean;
  /** Progress messages. @default - stderr */
  readonly say?: (line: string) => void;
  /** How Release files are downloaded. @default - curl */
  readonly download?: Download;
}

/** What decides the bytes of the OS image, beyond its settings and packages. */
export interface BuildInputs {
  /** The time stamped into the image: given, the snapshot's, or the newest Release file's. */
  readonly sourceDateEpoch: number;
  /** The Release files the time was taken from (none for a snapshot or a given time). */
  readonly releases: readonly ReleaseFile[];
  /** The Release files of apt's last update in the build; they differ from `releases` when the mirror changed meanwhile. */
  readonly releasesUsed: readonly ReleaseFile[];
  readonly customizeScriptSha256?: string;
  readonly projectVersion: string;
}

export interface BuildRecord {
  readonly kind: 'os-image';
  readonly os: string;
  readonly output: { readonly path: string; readonly bytes: number; readonly sha256: string };
  readonly settings: Record<string, unknown>;
  readonly inputs: BuildInputs;
  readonly stages: readonly StageResult[];
  readonly packages: readonly { readonly name: string; readonly version: string }[];
  readonly startedAt: string;
  readonly finishedAt: string;
}

export interface OsImageBuild {
  readonly tarball: string;
  readonly settings: OsImageSettings;
  readonly work: string;
  readonly stages: readonly StageResult[];
  readonly record: BuildRecord;
  readonly recordFile: string;
}

export function recordFileFor(tarball: string): string {
  return tarball.replace(/\.tgz$/, '') + '.build.json';
}

function readPackages(work: string): { name: string; version: string }[] {
  return readWorkTable(work, 'packages.tsv').map(([name, version]) => ({ name, version }));
}

/** Refuse an output directory that a successful build would delete with its work directory. */
export function refuseOutInsideWork(outDir: string, work: string): void {
  if (outDir === work || outDir.startsWith(`${work}/`)) {
    throw new UsageError(`--out ${outDir} is inside the work directory ${work}, which is removed after the build; choose another --out`);
  }
}

/** A directory a build makes when missing (--work, --package-cache): absent, or a directory. */
export function checkWorkDirectory(dir: string, option = '--work'): string {
  const resolved = path.resolve(dir);
  const stat = fs.statSync(resolved, { throwIfNoEntry: false });
  if (stat && !stat.isDirectory()) throw new EnvironmentError(`${option} ${dir} is not a directory; pass a directory (it is created when missing)`);
  return resolved;
}

export interface OsImagePlan {
  readonly settings: OsImageSettings;
  readonly work: string;
  readonly collection: string;
  readonly stagesPath: string;
}

/**
 * Validate everything that can be validated before a single file of the build
 * is written or a package installed: inputs, root, a writable --out and
 * package cache, free space, the work directory's lock.
 */
export function prepareOsImageBuild(options: BuildOsImageOptions): OsImagePlan {
  if (!options.os) throw new UsageError('no operating system given');
  const outDir = path.resolve(options.outDir ?? DEFAULT_OUT_DIR);
  const settings = resolveOsImageSettings({ ...options, out: path.join(outDir, osImageTarballName(options.os)) });
  const work = checkWorkDirectory(options.work ?? path.join(DEFAULT_WORK_ROOT, `os-image-${settings.os.name}`));
  refuseOutInsideWork(outDir, work);
  const base = path.join(STAGE_SCRIPTS, 'collections', 'os-image', settings.os.name);
  requireFile(base, 'collection', 'every supported OS has one in stage-scripts/collections/os-image');
  for (const dir of options.addStages ?? []) {
    requireDirectory(dir, 'stage folder', 'an added stage is a folder holding apply.sh');
    requireFile(path.join(dir, 'apply.sh'), 'stage script', 'an added stage is a folder holding apply.sh');
  }
  const own = checkOwnStages(options.addStages ?? [], fs.readdirSync(path.join(STAGE_SCRIPTS, 'stages')));
  const collection = composeCollection(fs.readFileSync(base, 'utf8'), settings.customizeScript !== undefined, own.names);
  if (options.resumeFrom !== undefined) {
    if (!collection.split('\n').includes(options.resumeFrom)) {
      throw new UsageError(`cannot resume from ${JSON.stringify(options.resumeFrom)}: the stages are ${collection.trim().split('\n').join(', ')}`);
    }
    requireFile(path.join(work, 'settings.env'), 'settings of the build to resume', 'resume needs the work directory of a failed build (see --work)');
  }
  if (settings.customizeScript !== undefined) requireFile(settings.customizeScript, 'customization script', 'give the path of a script file');
  if (fs.existsSync(settings.out)) throw new EnvironmentError(`${settings.out} already exists; remove it or pass another --out`);
  // No Ubuntu archive keyring is in the host package list: say so before installing anything.
  if (settings.os.distro === 'ubuntu') requireFile(archiveKeyring(settings), 'archive keyring', 'build Ubuntu OS images on an Ubuntu host');
  requireRoot('stemcell build-os-image');
  prepareOutputDirectory(outDir);
  prepareOutputDirectory(path.dirname(settings.packageCache), '--package-cache', 'the package cache');
  requireFreeSpace(work, 4 * GIB, 'the build (chroot and package cache)');
  requireFreeSpace(outDir, 1 * GIB, 'the OS image tarball');
  requireUnlocked(work);
  return { settings, work, collection, stagesPath: own.searchPath };
}

const archiveKeyring = (settings: OsImageSettings): string => `/usr/share/keyrings/${settings.os.distro}-archive-keyring.gpg`;

/** The host packages of an OS image build (installed when asked), and the archive keyring one of them brings. */
export function readyOsImageHost(settings: OsImageSettings, install: boolean, say?: (line: string) => void): void {
  ensureHostPackages(['build-os-image'], install, say);
  requireFile(archiveKeyring(settings), 'archive keyring', 'apt-get install debian-archive-keyring');
}

const CLOCK_FILE = 'clock.json';

/**
 * The build's clock: given, the snapshot's, or the newest Date of the
 * Release files, downloaded now. A resumed build keeps the clock of its first
 * run, which its finished stages already stamped into the chroot.
 */
function buildClock(settings: OsImageSettings, work: string, resuming: boolean, download?: Download): { sourceDateEpoch: number; releases: ReleaseFile[] } {
  const kept = path.join(work, CLOCK_FILE);
  if (resuming && fs.existsSync(kept)) {
    let clock: { sourceDateEpoch?: unknown; releases?: unknown } | null = null;
    try {
      clock = JSON.parse(fs.readFileSync(kept, 'utf8'));
    } catch {
      // reported below
    }
    if (!clock || !Number.isSafeInteger(clock.sourceDateEpoch) || !Array.isArray(clock.releases)) {
      throw new EnvironmentError(`${kept} is damaged, so the resumed stages would not get the time the finished ones were built with; build again without --resume-from`);
    }
    return clock as { sourceDateEpoch: number; releases: ReleaseFile[] };
  }
  if (settings.sourceDateEpoch !== undefined) return { sourceDateEpoch: settings.sourceDateEpoch, releases: [] };
  const releases = fetchReleaseFiles(settings, download);
  return { sourceDateEpoch: newestRelease(releases), releases };
}

/** The InRelease files of apt's last update, which the clean stage keeps in the work directory. */
function releasesUsed(work: string): ReleaseFile[] {
  const dir = path.join(work, 'apt-releases');
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).sort().map((name) => releaseFile(fs.readFileSync(path.join(dir, name)), name.replace(/_InRelease$/, '').replaceAll('_', '/')));
}

export async function buildOsImage(options: BuildOsImageOptions, plan = prepareOsImageBuild(options)): Promise<OsImageBuild> {
  const say = options.say ?? ((line: string) => process.stderr.write(`${line}\n`));
  const { settings, work, collection, stagesPath } = plan;
  readyOsImageHost(settings, options.installHostPackages ?? false, say);
  const startedAt = new Date().toISOString();
  const clock = buildClock(settings, work, options.resumeFrom !== undefined, options.download);

  makeDirectories(work);
  fs.writeFileSync(path.join(work, CLOCK_FILE), `${JSON.stringify(clock)}\n`);
  fs.writeFileSync(path.join(work, 'settings.env'), renderSettingsEnv(osImageStageSettings(settings, clock.sourceDateEpoch)), { mode: 0o600 });
  const collectionFile = path.join(work, 'collection');
  fs.writeFileSync(collectionFile, collection);
  say(`building ${settings.os.name} OS image in ${work}${options.resumeFrom ? `, resuming from ${options.resumeFrom}` : ''}`);

  const stages = await runCollection({ work, collectionFile, resumeFrom: options.resumeFrom, env: { STEMCELL_STAGES_PATH: stagesPath, ...keptChroot(options.keepWork) } });
  const stat = fs.statSync(settings.out);
  const used = releasesUsed(work);
  const known = new Set(clock.releases.map((r) => r.sha256));
  if (clock.releases.length > 0 && used.some((r) => !known.has(r.sha256))) {
    say('the mirror published new Release files during the build: a rebuild from the same mirror state will not give the same bytes (build from a --snapshot for that)');
  }
  const record: BuildRecord = {
    kind: 'os-image',
    os: settings.os.name,
    output: { path: settings.out, bytes: stat.size, sha256: (await digestFile(settings.out)).sha256 },
    settings: settingsForRecord(settings),
    inputs: {
      ...clock,
      releasesUsed: used,
      customizeScriptSha256: settings.customizeScript === undefined ? undefined : (await digestFile(settings.customizeScript)).sha256,
      projectVersion: PROJECT_VERSION,
    },
    stages,
    packages: readPackages(work),
    startedAt,
    finishedAt: new Date().toISOString(),
  };
  const recordFile = recordFileFor(settings.out);
  fs.writeFileSync(recordFile, `${JSON.stringify(record, null, 2)}\n`);
  if (!options.keepWork) fs.rmSync(work, { recursive: true, force: true });
  say(`wrote ${settings.out} (${(stat.size / 2 ** 20).toFixed(0)} MiB) and ${recordFile}`);
  return { tarball: settings.out, settings, work, stages, record, recordFile };
}
