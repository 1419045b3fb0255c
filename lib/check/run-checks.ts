/** Run every check against an OS image tarball or a root directory. */
import * as fs from 'node:fs';
import { EnvironmentError } from '../errors';
import { CHECKS } from './checks';
import { STEMCELL_CHECKS } from './stemcell-checks';
import { CheckContext } from './context';
import { DirectoryView, FsView, TarballView } from './fs-view';
import { isOsImageTarball } from '../stemcell/os-image';
import { withStemcellRoot } from './stemcell-root';

export interface CheckResult {
  readonly id: string;
  readonly title: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface CheckReport {
  readonly target: string;
  readonly passed: number;
  readonly failed: number;
  readonly results: readonly CheckResult[];
}

/** The OS-image checks, plus the stemcell checks when the root is a stemcell's (it has a stemcell_version). */
export function runChecks(view: FsView, target: string): CheckReport {
  const ctx = new CheckContext(view);
  const stemcell = view.lstat('/var/vcap/bosh/etc/stemcell_version') !== undefined;
  const results = [...CHECKS, ...(stemcell ? STEMCELL_CHECKS : [])].map((check) => {
    try {
      return { id: check.id, title: check.title, ...check.run(ctx) };
    } catch (e) {
      return { id: check.id, title: check.title, ok: false, detail: `check could not run: ${(e as Error).message}` };
    }
  });
  const failed = results.filter((r) => !r.ok).length;
  return { target, passed: results.length - failed, failed, results };
}

/**
 * Check `target`: a directory as it is, an OS image .tgz read without
 * extracting it, or a stemcell .tgz whose disk is mounted read-only. A
 * stemcell is told from an OS image by its manifest, not by entry order.
 */
export async function checkTarget(target: string, installHostPackages = false, scratchRoot?: string): Promise<CheckReport> {
  const stat = fs.statSync(target, { throwIfNoEntry: false });
  if (!stat) throw new EnvironmentError(`${target} does not exist; give an OS image .tgz, a stemcell .tgz or a directory`);
  if (stat.isDirectory()) return runChecks(new DirectoryView(target), target);
  if (!stat.isFile()) throw new EnvironmentError(`${target} is neither a file nor a directory; give an OS image .tgz, a stemcell .tgz or a directory`);
  if (await isOsImageTarball(target)) return runChecks(await TarballView.fromFile(target), target);
  return withStemcellRoot(target, (view) => runChecks(view, target), installHostPackages, scratchRoot);
}
