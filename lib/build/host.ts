/**
 * Preconditions of a build on this host, checked before anything is written:
 * root, host tools (installable with apt-get), archive keyrings, free disk.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EnvironmentError } from '../stemcell/errors';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const STAGE_SCRIPTS = path.join(REPO_ROOT, 'stage-scripts');

/** A command the build runs on the host, and the Debian package that has it. */
export interface HostTool {
  readonly command: string;
  readonly package: string;
}

export function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) {
    throw new EnvironmentError(`${what} needs root (it bootstraps a chroot and mounts file systems); run it with sudo`);
  }
}

export function findCommand(command: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs.filter((d) => d !== '')) {
    const candidate = path.join(dir, command);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

/** The packages whose commands are missing. */
export function missingHostPackages(tools: readonly HostTool[]): string[] {
  return [...new Set(tools.filter((t) => findCommand(t.command) === undefined).map((t) => t.package))];
}

/** Install missing host packages with apt-get, or say exactly which to install. */
export function ensureHostTools(tools: readonly HostTool[], install: boolean): void {
  const missing = missingHostPackages(tools);
  if (missing.length === 0) return;
  if (!install) {
    throw new EnvironmentError(
      `missing host packages: ${missing.join(' ')}. Install them with: apt-get install -y ${missing.join(' ')} (or pass --install-host-packages)`,
    );
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
  const result = update.status === 0 ? spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { stdio: 'inherit', env }) : update;
  if (result.status !== 0) throw new EnvironmentError(`apt-get could not install ${missing.join(' ')}; install them by hand and try again`);
  const still = missingHostPackages(tools);
  if (still.length > 0) throw new EnvironmentError(`still missing after apt-get install: ${still.join(' ')}`);
}

/** Throw unless the file system holding `dir` (or its nearest existing parent) has `bytes` free. */
export function requireFreeSpace(dir: string, bytes: number, what: string): void {
  let existing = path.resolve(dir);
  while (!fs.existsSync(existing)) existing = path.dirname(existing);
  const stats = fs.statfsSync(existing);
  const free = stats.bavail * stats.bsize;
  if (free < bytes) {
    const gib = (n: number): string => (n / 2 ** 30).toFixed(1);
    throw new EnvironmentError(`${what} needs ${gib(bytes)} GiB free under ${existing}, only ${gib(free)} GiB are; free some space or choose another directory`);
  }
}

export function requireFile(file: string, what: string, hint: string): void {
  if (!fs.existsSync(file)) throw new EnvironmentError(`${what} ${file} does not exist; ${hint}`);
}
