/**
 * Drives stage-scripts/run.sh: one process per build, signals passed on so
 * the runner can release mounts and loop devices before it exits.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EnvironmentError, ExitCode } from '../stemcell/errors';
import { HostTool, STAGE_SCRIPTS } from './host';

/** What run.sh itself needs on the host, whatever the stages do. */
export const RUNNER_TOOLS: readonly HostTool[] = [
  { command: 'findmnt', package: 'util-linux' },
  { command: 'flock', package: 'util-linux' },
  { command: 'setsid', package: 'util-linux' },
  { command: 'losetup', package: 'mount' },
  { command: 'chroot', package: 'coreutils' },
  { command: 'tar', package: 'tar' },
  { command: 'pigz', package: 'pigz' },
];

export interface StageResult {
  readonly stage: string;
  /** ok, failed, interrupted, skipped (resumed past) or not run */
  readonly status: string;
  readonly seconds?: number;
}

export interface RunOutcome {
  readonly exitCode: number;
  readonly stages: readonly StageResult[];
}

/** Throw when another build holds the work directory's lock. */
export function requireUnlocked(work: string): void {
  const lock = path.join(work, '.lock');
  if (!fs.existsSync(lock)) return;
  const probe = spawnSync('flock', ['--nonblock', lock, 'true']);
  if (probe.status !== 0) throw new EnvironmentError(`another build is running in ${work}; wait for it or pass another --work`);
}

export function readReport(work: string): StageResult[] {
  const report = path.join(work, 'report.tsv');
  if (!fs.existsSync(report)) return [];
  return fs
    .readFileSync(report, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [stage, status, seconds] = line.split('\t');
      return { stage, status, seconds: seconds === '' || seconds === undefined ? undefined : Number(seconds) };
    });
}

/**
 * The exit code of a build whose runner failed (BUILD_FAILED, or 130/143 when
 * interrupted), after telling the operator where to resume.
 */
export function failedBuildExitCode(outcome: RunOutcome, work: string, say: (line: string) => void): number {
  const failed = outcome.stages.find((s) => s.status === 'failed' || s.status === 'interrupted');
  if (failed) say(`the work directory ${work} is kept; after fixing the cause run the same command with --resume-from ${failed.stage}`);
  return outcome.exitCode === 130 || outcome.exitCode === 143 ? outcome.exitCode : ExitCode.BUILD_FAILED;
}

export interface RunCollectionOptions {
  readonly work: string;
  readonly collectionFile: string;
  readonly resumeFrom?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export async function runCollection(options: RunCollectionOptions): Promise<RunOutcome> {
  const args = [path.join(STAGE_SCRIPTS, 'run.sh'), '--work', options.work, '--collection', options.collectionFile];
  if (options.resumeFrom) args.push('--resume-from', options.resumeFrom);
  // Stage output is progress, so it goes to stderr; stdout stays for results.
  const child = spawn('bash', args, { stdio: ['inherit', process.stderr, 'inherit'], env: { ...process.env, ...options.env } });
  // Pass interrupts on and wait: run.sh stops the stage, releases mounts and
  // loop devices, and reports before exiting.
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  const onInt = forward('SIGINT');
  const onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    const exitCode = await new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (code, signal) => resolve(code ?? (signal === 'SIGINT' ? 130 : 143)));
    });
    return { exitCode, stages: readReport(options.work) };
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}
