/**
 * Output directories, the same for every command: `--out DIR` is created when
 * missing and proven writable (a file is created and removed in it) before
 * any work starts, so a read-only, full or pseudo file system is refused up
 * front, not after an hour of building.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EnvironmentError } from './errors';

/** Why the file system refused, in words. */
export function fsReason(e: unknown): string {
  const error = e as NodeJS.ErrnoException;
  const why: Record<string, string> = {
    EACCES: 'permission denied',
    EPERM: 'not permitted',
    EROFS: 'read-only file system',
    ENOSPC: 'no space left',
    EDQUOT: 'disk quota exceeded',
    ENOTDIR: 'a part of the path is not a directory',
    EEXIST: 'a file of that name exists',
    ENOENT: 'the file system refuses new directories there',
  };
  return why[error.code ?? ''] ?? error.message;
}

/**
 * `mkdir -p`, one level at a time. Node's own recursive mkdir spins forever
 * where the kernel answers ENOENT for a directory that exists (`/proc/x`).
 */
export function makeDirectories(dir: string): void {
  const missing: string[] = [];
  for (let at = path.resolve(dir); !fs.existsSync(at); at = path.dirname(at)) {
    missing.unshift(at);
    if (path.dirname(at) === at) break;
  }
  for (const d of missing) fs.mkdirSync(d);
}

/** Make `dir` when missing and check that files can be written in it; returns the absolute path. */
export function prepareOutputDirectory(dir: string): string {
  const resolved = path.resolve(dir);
  try {
    makeDirectories(resolved);
  } catch (e) {
    throw new EnvironmentError(`cannot create the output directory ${dir} (${fsReason(e)}); pass another --out`);
  }
  if (!fs.statSync(resolved).isDirectory()) throw new EnvironmentError(`the output directory ${dir} is not a directory; pass another --out`);
  const probe = path.join(resolved, `.stemcell-write-test-${process.pid}`);
  try {
    fs.writeFileSync(probe, 'probe', { flag: 'wx' });
  } catch (e) {
    throw new EnvironmentError(`cannot write to the output directory ${dir} (${fsReason(e)}); pass another --out`);
  } finally {
    fs.rmSync(probe, { force: true });
  }
  return resolved;
}
