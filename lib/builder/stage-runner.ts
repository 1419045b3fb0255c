/**
 * Drives stage-scripts/run.sh: one process per build, signals passed on so
 * the runner can release mounts and loop devices before it exits, and its
 * outcome turned into an error that says where to resume.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EnvironmentError, FailedError, InterruptedError, StopSignal } from '../errors';
import { deferSignals } from '../scratch';
import { STAGE_SCRIPTS } from './host';

export interface StageResult {
  readonly stage: string;
  /** ok, failed, interrupted, skipped (resumed past) or not run */
  readonly status: string;
  readonly seconds?: number;
}

/** A stage failed; the work directory is kept for --resume-from. */
export class StageFailedError extends FailedError {
  constructor(
    readonly stage: string | undefined,
    readonly work: string,
    readonly stages: readonly StageResult[],
  ) {
    super(
      stage === undefined
        ? `the stage runner stopped before any stage ran (see its message above); nothing was built in ${work}`
        : `stage ${stage} failed; the work directory ${work} is kept: after fixing the cause, run the same command with --resume-from ${stage}`,
    );
  }
}

/** Throw when another build holds the work directory's lock. */
export function requireUnlocked(work: string): void {
  const lock = path.join(work, '.lock');
  if (!fs.existsSync(lock)) return;
  const probe = spawnSync('flock', ['--nonblock', lock, 'true']);
  if (probe.status !== 0) throw new EnvironmentError(`another build is running in ${work}; wait for it or pass another --work`);
}

/** The rows of a tab-separated table the runner or a stage leaves in the work directory (none when it is missing). */
export function readWorkTable(work: string, name: string): string[][] {
  const file = path.join(work, name);
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.split('\t'));
}

export function readReport(work: string): StageResult[] {
  return readWorkTable(work, 'report.tsv').map(([stage, status, seconds]) => ({ stage, status, seconds: seconds === '' || seconds === undefined ? undefined : Number(seconds) }));
}

export interface RunCollectionOptions {
  readonly work: string;
  readonly collectionFile: string;
  readonly resumeFrom?: string;
  readonly env?: NodeJS.ProcessEnv;
}

const SIGNALS: StopSignal[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** The runner's environment for a kept work directory: its chroot is saved from memory to disk, as after a failure. */
export const keptChroot = (keepWork: boolean | undefined): Record<string, string> => (keepWork ? { STEMCELL_KEEP_CHROOT: '1' } : {});

/** Run a collection; the stage results when every stage passed, else a StageFailedError or InterruptedError. */
export async function runCollection(options: RunCollectionOptions): Promise<StageResult[]> {
  const args = [path.join(STAGE_SCRIPTS, 'run.sh'), '--work', options.work, '--collection', options.collectionFile];
  if (options.resumeFrom) args.push('--resume-from', options.resumeFrom);
  // Signals are passed on and waited for: run.sh stops the stage, releases
  // mounts and loop devices, and reports before exiting.
  const undefer = deferSignals();
  let received: StopSignal | undefined;
  // Stage output is progress, so it goes to stderr; stdout stays for results.
  const child = spawn('bash', args, { stdio: ['ignore', process.stderr, 'inherit'], env: { ...process.env, ...options.env } });
  const forwarders = SIGNALS.map((signal) => {
    const forward = (): void => {
      received ??= signal;
      child.kill(signal === 'SIGHUP' ? 'SIGTERM' : signal);
    };
    process.on(signal, forward);
    return () => process.off(signal, forward);
  });
  try {
    const { exitCode, killedBy } = await new Promise<{ exitCode: number | null; killedBy: NodeJS.Signals | null }>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (code, signal) => resolve({ exitCode: code, killedBy: signal }));
    });
    const stages = readReport(options.work);
    // A signal that came as the last stage finished still stops the build.
    if (exitCode === 0 && !received) return stages;
    // Killed from outside (the OOM killer, kill -9): it could release nothing.
    if (killedBy && !received) throw new FailedError(`the stage runner was killed by ${killedBy}; mounts and loop devices below ${options.work} may be left: rerun the same command with --resume-from to carry on (it releases them first)`);
    const stopped = stages.find((s) => s.status === 'failed' || s.status === 'interrupted');
    if (exitCode === 130 || exitCode === 143 || received) {
      const signal = received ?? (exitCode === 130 ? 'SIGINT' : 'SIGTERM');
      // Every stage done: resuming from the last one finishes the job.
      const resume = stopped?.stage ?? (exitCode === 0 ? stages.at(-1)?.stage : undefined);
      throw new InterruptedError(
        signal,
        `interrupted (${signal})${stopped ? ` during stage ${stopped.stage}` : exitCode === 0 ? ' after the last stage' : ''}; mounts and loop devices are released and the work directory ${options.work} is kept${resume ? `: run the same command with --resume-from ${resume} to carry on` : ''}`,
      );
    }
    throw new StageFailedError(stopped?.stage, options.work, stages);
  } finally {
    forwarders.forEach((off) => off());
    undefer();
  }
}
