/**
 * `stemcell build-os-image`: check preconditions, render settings, run the
 * OS's collection, write the build record.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EnvironmentError, ExitCode, UsageError } from '../stemcell/errors';
import { ensureHostTools, HostTool, requireFile, requireFreeSpace, requireRoot, STAGE_SCRIPTS } from './host';
import { checkOwnStages, composeCollection, OsImageBuildRequest, OsImageSettings, renderSettingsEnv, resolveOsImageSettings, settingsForRecord } from './os-image-settings';
import { failedBuildExitCode, requireUnlocked, runCollection, RUNNER_TOOLS, StageResult } from './stage-runner';

export const DEFAULT_WORK_ROOT = '/var/tmp/stemcell-farm/work';
const GIB = 2 ** 30;

export interface BuildOsImageOptions extends OsImageBuildRequest {
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
}

export interface BuildRecord {
  readonly kind: 'os-image';
  readonly os: string;
  readonly output: { readonly path: string; readonly bytes: number; readonly sha256: string };
  readonly settings: Record<string, unknown>;
  readonly stages: readonly StageResult[];
  readonly packages: readonly { readonly name: string; readonly version: string }[];
  readonly startedAt: string;
  readonly finishedAt: string;
}

export interface BuildOutcome {
  readonly exitCode: number;
  readonly settings: OsImageSettings;
  readonly work: string;
  readonly stages: readonly StageResult[];
  readonly record?: BuildRecord;
  readonly recordFile?: string;
}

export function defaultOsImageOut(os: string): string {
  return path.join('out', `bosh-${os}-os-image.tgz`);
}

export function recordFileFor(out: string): string {
  return out.replace(/\.tgz$/, '') + '.build.json';
}

function hostTools(settings: OsImageSettings): HostTool[] {
  return [...RUNNER_TOOLS, { command: settings.bootstrapTool, package: settings.bootstrapTool }];
}

function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    fs.createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

function readPackages(work: string): { name: string; version: string }[] {
  const file = path.join(work, 'packages.tsv');
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const [name, version] = l.split('\t');
      return { name, version };
    });
}

/** Validate everything that can be validated before a single file is written. */
export function prepareOsImageBuild(options: BuildOsImageOptions): { settings: OsImageSettings; work: string; collection: string; stagesPath: string } {
  const settings = resolveOsImageSettings(options);
  const work = path.resolve(options.work ?? path.join(DEFAULT_WORK_ROOT, `os-image-${settings.os.name}`));
  const base = path.join(STAGE_SCRIPTS, 'collections', 'os-image', settings.os.name);
  requireFile(base, 'collection', 'every supported OS has one in stage-scripts/collections/os-image');
  for (const dir of options.addStages ?? []) requireFile(path.join(dir, 'apply.sh'), 'stage script', 'an added stage is a folder holding apply.sh');
  const own = checkOwnStages(options.addStages ?? [], fs.readdirSync(path.join(STAGE_SCRIPTS, 'stages')));
  const collection = composeCollection(fs.readFileSync(base, 'utf8'), settings.customizeScript !== undefined, own.names);
  if (options.resumeFrom !== undefined) {
    if (!collection.split('\n').includes(options.resumeFrom)) {
      throw new UsageError(`cannot resume from '${options.resumeFrom}': the stages are ${collection.trim().split('\n').join(', ')}`);
    }
    requireFile(path.join(work, 'settings.env'), 'work directory of the build to resume', 'resume needs the work directory of a failed build (see --work)');
  }
  if (settings.customizeScript !== undefined) requireFile(settings.customizeScript, 'customization script', 'give the path of an executable script');
  if (fs.existsSync(settings.out)) throw new EnvironmentError(`${settings.out} already exists; remove it or pass another --out`);
  requireRoot('stemcell build-os-image');
  ensureHostTools(hostTools(settings), options.installHostPackages ?? false);
  const keyring = `/usr/share/keyrings/${settings.os.distro}-archive-keyring.gpg`;
  requireFile(keyring, 'archive keyring', settings.os.distro === 'ubuntu' ? 'build Ubuntu OS images on an Ubuntu host' : 'apt-get install debian-archive-keyring');
  requireFreeSpace(work, 4 * GIB, 'the build (chroot and package cache)');
  requireFreeSpace(path.dirname(settings.out), 1 * GIB, 'the OS image tarball');
  requireUnlocked(work);
  return { settings, work, collection, stagesPath: own.searchPath };
}

export async function buildOsImage(options: BuildOsImageOptions): Promise<BuildOutcome> {
  const say = options.say ?? ((line: string) => process.stderr.write(`${line}\n`));
  const { settings, work, collection, stagesPath } = prepareOsImageBuild(options);
  const startedAt = new Date().toISOString();

  fs.mkdirSync(work, { recursive: true });
  fs.mkdirSync(path.dirname(settings.out), { recursive: true });
  fs.writeFileSync(path.join(work, 'settings.env'), renderSettingsEnv(settings), { mode: 0o600 });
  const collectionFile = path.join(work, 'collection');
  fs.writeFileSync(collectionFile, collection);
  say(`building ${settings.os.name} OS image in ${work}${options.resumeFrom ? `, resuming from ${options.resumeFrom}` : ''}`);

  const run = await runCollection({ work, collectionFile, resumeFrom: options.resumeFrom, env: { STEMCELL_STAGES_PATH: stagesPath } });
  const stages = run.stages;
  if (run.exitCode !== 0) return { exitCode: failedBuildExitCode(run, work, say), settings, work, stages };

  const stat = fs.statSync(settings.out);
  const record: BuildRecord = {
    kind: 'os-image',
    os: settings.os.name,
    output: { path: settings.out, bytes: stat.size, sha256: await sha256File(settings.out) },
    settings: settingsForRecord(settings),
    stages,
    packages: readPackages(work),
    startedAt,
    finishedAt: new Date().toISOString(),
  };
  const recordFile = recordFileFor(settings.out);
  fs.writeFileSync(recordFile, `${JSON.stringify(record, null, 2)}\n`);
  if (!options.keepWork) fs.rmSync(work, { recursive: true, force: true });
  say(`wrote ${settings.out} (${(stat.size / 2 ** 20).toFixed(0)} MiB) and ${recordFile}`);
  return { exitCode: ExitCode.OK, settings, work, stages, record, recordFile };
}
