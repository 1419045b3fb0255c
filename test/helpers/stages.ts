/**
 * Running real stage scripts in dry-run mode (STEMCELL_DRY_RUN=1): commands
 * that need root, a network or a real chroot are recorded in dry-run.log
 * instead of run; files are written as usual into a scratch chroot.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { aptStageSettings, osImageStageSettings, resolveOsImageSettings } from '../../lib/builder/os-image-settings';
import { renderSettingsEnv } from '../../lib/builder/stage-settings';
import { stemcellStageSettings } from '../../lib/builder/stemcell';
import { defineStemcell } from '../../lib/stemcell';
import { tempDir } from './stemcells';

/** The clock of dry runs: any fixed time. */
const SOURCE_DATE_EPOCH = 1_763_596_800;

export const STAGES = path.join(__dirname, '..', '..', 'stage-scripts', 'stages');
export const LIB = path.join(__dirname, '..', '..', 'stage-scripts', 'lib');
/** /etc/pam.d and /etc/login.defs as the distribution ships them (test/fixtures/distribution-files). */
export const DISTRIBUTION_FILES = path.join(__dirname, '..', 'fixtures', 'distribution-files');

/**
 * settings.env as a build renders it: an OS image build's, or with `stemcell`
 * variables given, a stemcell build's with those values. A variable outside
 * the contract (lib/builder/stage-settings.ts) is an error.
 */
export function settingsEnv(os: string, work: string, request: { snapshot?: string; extraPackages?: string[]; proxy?: string } = {}, stemcell: [string, string][] = []): string {
  const settings = resolveOsImageSettings({ os, out: path.join(work, 'os.tgz'), packageCacheRoot: path.join(work, 'cache'), ...request });
  if (stemcell.length === 0) return renderSettingsEnv(osImageStageSettings(settings, SOURCE_DATE_EPOCH));
  const given = new Map(stemcell);
  const def = defineStemcell({ os, infrastructure: given.get('STEMCELL_INFRASTRUCTURE') ?? 'aws', firmware: given.get('STEMCELL_FIRMWARE') });
  const base: Record<string, string> = {
    ...stemcellStageSettings(def, '1.10', aptStageSettings(settings, SOURCE_DATE_EPOCH), { osImage: '/nonexistent', blobstoreClis: [], outputDir: path.join(work, 'stemcell') }),
  };
  for (const [name, value] of given) {
    if (!(name in base)) throw new Error(`${name} is not a settings.env variable of stemcell builds`);
    base[name] = value;
  }
  return renderSettingsEnv(base as unknown as Parameters<typeof renderSettingsEnv>[0]);
}

export interface DryRun {
  chroot: string;
  commands: string[];
  read: (p: string) => string;
}

export function dryRun(
  stage: string,
  os: string,
  request: { snapshot?: string; extraPackages?: string[]; proxy?: string } = {},
  extra: [string, string][] = [],
  options: { dry?: boolean; before?: (work: string) => void } = {},
): DryRun & { status: number | null; stderr: string; work: string } {
  const work = tempDir('dry-run-');
  const chroot = path.join(work, 'chroot');
  // The files stages edit in place rather than write, as the distribution ships them.
  fs.cpSync(path.join(DISTRIBUTION_FILES, 'etc'), path.join(chroot, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(work, 'settings.env'), settingsEnv(os, work, request, extra));
  options.before?.(work);
  const r = spawnSync('bash', [path.join(STAGES, stage, 'apply.sh')], {
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH,
      STEMCELL_DRY_RUN: options.dry === false ? '' : '1',
      STEMCELL_WORK: work,
      STEMCELL_CHROOT: chroot,
      STEMCELL_SETTINGS: path.join(work, 'settings.env'),
      STEMCELL_STAGE: stage,
      STEMCELL_STAGE_DIR: path.join(STAGES, stage),
      STEMCELL_LIB: LIB,
    },
  });
  if (r.status !== 0 && options.dry !== false) throw new Error(`${stage} failed in dry run: ${r.stderr}`);
  const log = path.join(work, 'dry-run.log');
  return {
    chroot,
    commands: fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : [],
    read: (p) => fs.readFileSync(path.join(chroot, p), 'utf8'),
    status: r.status,
    stderr: r.stderr,
    work,
  };
}

