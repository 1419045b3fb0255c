/** Run every check against an OS image tarball or a root directory. */
import * as fs from 'node:fs';
import { EnvironmentError } from '../stemcell/errors';
import { CHECKS } from './checks';
import { CheckContext } from './context';
import { DirectoryView, FsView, TarballView } from './fs-view';

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

export function runChecks(view: FsView, target: string): CheckReport {
  const ctx = new CheckContext(view);
  const results = CHECKS.map((check) => {
    try {
      return { id: check.id, title: check.title, ...check.run(ctx) };
    } catch (e) {
      return { id: check.id, title: check.title, ok: false, detail: `check could not run: ${(e as Error).message}` };
    }
  });
  const failed = results.filter((r) => !r.ok).length;
  return { target, passed: results.length - failed, failed, results };
}

/** A view of `target`: a directory as it is, or a .tgz OS image read without extracting it. */
export async function openRoot(target: string): Promise<FsView> {
  const stat = fs.statSync(target, { throwIfNoEntry: false });
  if (!stat) throw new EnvironmentError(`no such file or directory: ${target}`);
  if (stat.isDirectory()) return new DirectoryView(target);
  return TarballView.fromFile(target);
}
