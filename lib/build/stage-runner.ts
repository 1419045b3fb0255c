/**
 * Drives stage-scripts/run.sh: one process per build, signals passed on so
 * the runner can release mounts and loop devices before it exits.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EnvironmentError } from '../stemcell/errors';
import { STAGE_SCRIPTS } from './host';

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
