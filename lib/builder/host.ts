/**
 * Preconditions of a command on this host, checked before anything is
 * written: root, host packages (stage-scripts/data/host-packages.txt, the one
 * list), free disk, input files.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EnvironmentError } from '../errors';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const STAGE_SCRIPTS = path.join(REPO_ROOT, 'stage-scripts');
export const HOST_PACKAGES_FILE = path.join(STAGE_SCRIPTS, 'data', 'host-packages.txt');

/** A package, and what shows it is installed: commands, or absolute paths of files it ships. */
export interface HostPackage {
  readonly name: string;
  readonly proofs: readonly string[];
}

export interface HostPackageGroup {
  readonly name: string;
  readonly uses: readonly string[];
  readonly packages: readonly HostPackage[];
}

export function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) {
    throw new EnvironmentError(`${what} needs root (it bootstraps chroots, mounts file systems or installs packages); run it with sudo`);
  }
}

export function findCommand(command: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs.filter((d) => d !== '')) {
    const candidate = path.join(dir, command);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

/** The groups of the host package list, by name. */
export function hostPackageGroups(text = fs.readFileSync(HOST_PACKAGES_FILE, 'utf8')): Map<string, HostPackageGroup> {
  const groups = new Map<string, { name: string; uses: string[]; packages: HostPackage[] }>();
  let current: { name: string; uses: string[]; packages: HostPackage[] } | undefined;
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') return;
    const where = `${path.basename(HOST_PACKAGES_FILE)} line ${index + 1}`;
    const group = /^\[([a-z0-9-]+)\]$/.exec(line);
    if (group) {
      if (groups.has(group[1])) throw new Error(`${where}: group [${group[1]}] appears twice`);
      current = { name: group[1], uses: [], packages: [] };
      groups.set(current.name, current);
      return;
    }
    if (!current) throw new Error(`${where}: '${line}' comes before any [group]`);
    if (line.startsWith('uses:')) {
      current.uses.push(...line.slice('uses:'.length).trim().split(/\s+/));
      return;
    }
    const [name, ...proofs] = line.split(/\s+/);
    if (!/^[a-z0-9][a-z0-9+.-]+$/.test(name) || proofs.length === 0) throw new Error(`${where}: expected 'package proof...', got '${line}'`);
    current.packages.push({ name, proofs });
  });
  for (const g of groups.values()) {
    for (const used of g.uses) if (!groups.has(used)) throw new Error(`[${g.name}] uses [${used}], which does not exist`);
  }
  return groups;
}

/** The packages of `groups` and of the groups they use, each once (proofs merged). */
export function hostPackagesFor(groupNames: readonly string[], groups = hostPackageGroups()): HostPackage[] {
  const byName = new Map<string, Set<string>>();
  const visit = (name: string, seen: Set<string>): void => {
    const group = groups.get(name);
    if (!group) throw new Error(`no host package group [${name}] in ${HOST_PACKAGES_FILE}`);
    if (seen.has(name)) return;
    seen.add(name);
    group.uses.forEach((u) => visit(u, seen));
    for (const p of group.packages) {
      const proofs = byName.get(p.name) ?? new Set<string>();
      p.proofs.forEach((proof) => proofs.add(proof));
      byName.set(p.name, proofs);
    }
  };
  const seen = new Set<string>();
  groupNames.forEach((g) => visit(g, seen));
  return [...byName].map(([name, proofs]) => ({ name, proofs: [...proofs] }));
}

/** What of a package's proofs is not on this host. */
export function missingProofs(pkg: HostPackage): string[] {
  return pkg.proofs.filter((proof) => (proof.startsWith('/') ? !fs.existsSync(proof) : findCommand(proof) === undefined));
}

export function missingHostPackages(packages: readonly HostPackage[]): HostPackage[] {
  return packages.filter((p) => missingProofs(p).length > 0);
}

/** apt-get install `packages` (as root), or throw saying what went wrong. */
export function installHostPackages(packages: readonly string[], say: (line: string) => void): void {
  if (packages.length === 0) return;
  requireRoot('installing host packages');
  say(`installing host packages: ${packages.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // apt's output is progress: stderr, so stdout stays for results.
  const stdio: ['ignore', number, number] = ['ignore', 2, 2];
  const update = spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'update'], { stdio, env });
  if (update.error) throw new EnvironmentError(`cannot run apt-get (${update.error.message}); install ${packages.join(' ')} by hand`);
  // A fresh cloud machine's own apt runs (cloud-init, apt-daily) may hold dpkg's lock for minutes: wait for it.
  const result = update.status === 0 ? spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'install', '-y', '--no-install-recommends', ...packages], { stdio, env }) : update;
  if (result.status !== 0) throw new EnvironmentError(`apt-get could not install ${packages.join(' ')}; install them by hand and try again`);
}

/**
 * Make sure the packages of `groups` are installed: install the missing ones
 * with apt-get when `install` is set, or say exactly what to install.
 */
export function ensureHostPackages(groupNames: readonly string[], install: boolean, say: (line: string) => void = () => undefined, groups = hostPackageGroups()): void {
  const packages = hostPackagesFor(groupNames, groups);
  const missing = missingHostPackages(packages);
  if (missing.length === 0) return;
  const names = missing.map((p) => p.name);
  if (!install) {
    throw new EnvironmentError(`missing host packages: ${names.join(' ')}. Install them with: apt-get install -y ${names.join(' ')} (or pass --install-host-packages)`);
  }
  installHostPackages(names, say);
  const still = missingHostPackages(packages);
  if (still.length > 0) {
    throw new EnvironmentError(`still missing after apt-get install: ${still.map((p) => `${p.name} (${missingProofs(p).join(', ')})`).join('; ')}`);
  }
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

/** Throw unless `file` is an existing regular file we can read. */
export function requireFile(file: string, what: string, hint: string): string {
  const stat = fs.statSync(file, { throwIfNoEntry: false });
  if (!stat) throw new EnvironmentError(`${what} ${file} does not exist; ${hint}`);
  if (!stat.isFile()) throw new EnvironmentError(`${what} ${file} is ${stat.isDirectory() ? 'a directory' : 'not a regular file'}; ${hint}`);
  try {
    fs.accessSync(file, fs.constants.R_OK);
  } catch {
    throw new EnvironmentError(`${what} ${file} is not readable; ${hint}`);
  }
  return file;
}

/** Throw unless `dir` is an existing directory. */
export function requireDirectory(dir: string, what: string, hint: string): string {
  const stat = fs.statSync(dir, { throwIfNoEntry: false });
  if (!stat) throw new EnvironmentError(`${what} ${dir} does not exist; ${hint}`);
  if (!stat.isDirectory()) throw new EnvironmentError(`${what} ${dir} is not a directory; ${hint}`);
  return dir;
}
