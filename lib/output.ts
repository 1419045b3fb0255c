/**
 * Output directories, the same for every command: `--out DIR` is created when
 * missing and proven writable (a file is created and removed in it) before
 * any work starts, so a read-only, full or pseudo file system is refused up
 * front, not after an hour of building.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EnvironmentError, isSystemError, systemErrorReason } from './errors';

/** Why the file system refused, in words. */
export function fsReason(e: unknown): string {
  return isSystemError(e) ? systemErrorReason(e) : (e as Error).message;
}

/**
 * `mkdir -p`, one level at a time; returns the directories it made. Node's
 * own recursive mkdir spins forever where the kernel answers ENOENT for a
 * directory that exists (`/proc/x`). On failure, what it made is removed.
 */
export function makeDirectories(dir: string): string[] {
  const missing: string[] = [];
  for (let at = path.resolve(dir); !fs.existsSync(at); at = path.dirname(at)) {
    missing.unshift(at);
    if (path.dirname(at) === at) break;
  }
  const made: string[] = [];
  try {
    for (const d of missing) {
      fs.mkdirSync(d);
      made.push(d);
    }
  } catch (e) {
    removeDirectories(made);
    throw e;
  }
  return made;
}

function removeDirectories(made: readonly string[]): void {
  for (const d of [...made].reverse()) fs.rmSync(d, { recursive: true, force: true });
}

/**
 * Make `dir` when missing and check that files can be written in it; returns
 * the absolute path. Refused, it leaves nothing it made behind.
 */
export function prepareOutputDirectory(dir: string, option = '--out', what = 'the output directory'): string {
  const resolved = path.resolve(dir);
  let made: string[];
  try {
    made = makeDirectories(resolved);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' && fs.existsSync(path.dirname(resolved)) ? 'the file system does not allow it there' : fsReason(e);
    throw new EnvironmentError(`cannot create ${what} ${dir} (${why}); pass another ${option}`);
  }
  if (!fs.statSync(resolved).isDirectory()) throw new EnvironmentError(`${what} ${dir} is not a directory; pass another ${option}`);
  const probe = path.join(resolved, `.stemcell-write-test-${process.pid}`);
  try {
    fs.writeFileSync(probe, 'probe', { flag: 'wx' });
  } catch (e) {
    removeDirectories(made);
    throw new EnvironmentError(`cannot write to ${what} ${dir} (${fsReason(e)}); pass another ${option}`);
  } finally {
    fs.rmSync(probe, { force: true });
  }
  return resolved;
}
