/**
 * Scratch space and half-written outputs, released on every way out of a
 * command: success, failure, a crash, SIGINT, SIGTERM, SIGHUP, a timeout.
 *
 * Everything a command must undo (a scratch directory, a partial output, a
 * mount, a loop device, a child process) is registered here with a
 * synchronous release action. Normal code releases in `finally`; the process
 * handlers installed by `installExitHandlers` release whatever is left when a
 * signal or an uncaught error ends the process instead. Scratch directories
 * carry the owner's pid in their name, so one left by a process that was
 * killed outright (SIGKILL, the OOM killer, a power cut) is swept away by the
 * next command that makes scratch.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EnvironmentError } from './errors';

type Action = () => void;

const actions = new Map<number, { what: string; action: Action }>();
let nextId = 0;

/** A registered release: call it when done (it runs once); later signals then leave it alone. */
export type Release = () => void;

/** Register `action` to run if the process ends before `release` is called. */
export function onExit(what: string, action: Action): Release {
  const id = nextId++;
  actions.set(id, { what, action });
  return () => {
    const entry = actions.get(id);
    if (!entry) return;
    actions.delete(id);
    entry.action();
  };
}

/** Run every registered action, newest first. Never throws: a failed action is reported and the rest still run. */
export function releaseAll(report: (line: string) => void = () => undefined): void {
  for (const id of [...actions.keys()].sort((a, b) => b - a)) {
    const entry = actions.get(id)!;
    actions.delete(id);
    try {
      entry.action();
    } catch (e) {
      report(`could not release ${entry.what}: ${(e as Error).message}`);
    }
  }
}

/** What is registered now (for tests and diagnostics). */
export function pendingReleases(): string[] {
  return [...actions.values()].map((a) => a.what);
}

/** Mount points at or below `dir`, deepest first. */
export function mountsBelow(dir: string): string[] {
  const resolved = path.resolve(dir);
  let info = '';
  try {
    info = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  return info
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((m): m is string => m !== undefined)
    .map((m) => m.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => m === resolved || m.startsWith(`${resolved}/`))
    .sort()
    .reverse();
}

/** Loop devices backed by files at or below `dir`. */
export function loopDevicesBelow(dir: string): string[] {
  const resolved = path.resolve(dir);
  const r = spawnSync('losetup', ['--list', '--noheadings', '--raw', '--output', 'NAME,BACK-FILE'], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  return r.stdout
    .split('\n')
    .map((line) => /^(\S+) (.*?)(?: \(deleted\))?$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null && (m[2] === resolved || m[2].startsWith(`${resolved}/`)))
    .map((m) => m[1]);
}

/**
 * Remove a directory tree, first unmounting anything mounted in it and
 * detaching loop devices backed by its files. If something stays mounted the
 * tree is left alone (removing it would reach into the mounted file system).
 */
export function removeTree(dir: string): void {
  for (const mount of mountsBelow(dir)) {
    if (spawnSync('umount', [mount]).status !== 0) spawnSync('umount', ['--lazy', mount]);
  }
  for (const loop of loopDevicesBelow(dir)) spawnSync('losetup', ['--detach', loop]);
  if (mountsBelow(dir).length > 0) throw new EnvironmentError(`${dir} still has something mounted (${mountsBelow(dir).join(', ')}); not removing it: unmount it and remove the directory by hand`);
  fs.rmSync(dir, { recursive: true, force: true });
}

/** The default parent of scratch directories: big enough for a disk image, and not a tmpfs. */
export const SCRATCH_ROOT = '/var/tmp';
const SCRATCH_NAME = /^stemcell-[a-z-]+-(\d+)-[A-Za-z0-9]{6}$/;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the process that made a scratch path (`.../stemcell-<purpose>-<pid>-XXXXXX/...`) has ended. */
export function scratchOwnerEnded(scratchPath: string): boolean {
  const pid = Number(/stemcell-[a-z-]+-(\d+)-/.exec(scratchPath)?.[1]);
  return !pid || !alive(pid);
}

/**
 * Remove what dead processes left in `dir`: the entries whose name `pattern`
 * gives a pid (its first group) that no longer runs. Returns their names.
 */
function sweepDeadOwners(dir: string, pattern: RegExp, remove: (entry: string) => void): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const swept: string[] = [];
  for (const name of names) {
    const pid = Number(pattern.exec(name)?.[1]);
    if (!pid || pid === process.pid || alive(pid)) continue;
    try {
      remove(path.join(dir, name));
      swept.push(name);
    } catch {
      // Still in use somehow; leave it for a person to look at.
    }
  }
  return swept;
}

/** Remove scratch directories (mounts and loop devices included) of stemcell processes that no longer run. */
export function sweepStaleScratch(root = SCRATCH_ROOT): string[] {
  return sweepDeadOwners(root, SCRATCH_NAME, removeTree);
}

/** Remove partial outputs (`<name>.partial-<pid>`) of processes that no longer run. */
export function sweepStalePartials(dir: string): string[] {
  return sweepDeadOwners(dir, /\.partial-(\d+)$/, (file) => fs.rmSync(file, { force: true }));
}

export interface Scratch {
  readonly path: string;
  /** Remove the directory (and undo mounts and loop devices in it). Idempotent. */
  readonly release: Release;
}

/**
 * A new scratch directory `<root>/stemcell-<purpose>-<pid>-XXXXXX`, removed on
 * release or at exit, whichever comes first. Stale ones of dead processes are
 * swept first.
 */
export function scratchDirectory(purpose: string, root = SCRATCH_ROOT): Scratch {
  if (!/^[a-z-]+$/.test(purpose)) throw new Error(`scratch purpose '${purpose}' must be lower-case letters and dashes`);
  sweepStaleScratch(root);
  fs.mkdirSync(root, { recursive: true });
  const dir = fs.mkdtempSync(path.join(root, `stemcell-${purpose}-${process.pid}-`));
  return { path: dir, release: onExit(`scratch directory ${dir}`, () => removeTree(dir)) };
}

/** Run `use` with a scratch directory that is gone afterwards, however `use` ends. */
export async function withScratch<T>(purpose: string, use: (dir: string) => Promise<T>, root = SCRATCH_ROOT): Promise<T> {
  const scratch = scratchDirectory(purpose, root);
  let failed = false;
  try {
    return await use(scratch.path);
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    try {
      scratch.release();
    } catch (e) {
      // The work's own error says more than a failed clean-up after it.
      if (!failed) throw e;
    }
  }
}

/**
 * A partial output beside `final`, removed unless `commit` links it into
 * place. `commit` never replaces a file that appeared meanwhile.
 */
export function partialOutput(final: string): { path: string; commit: () => Promise<void>; release: Release } {
  const partial = `${final}.partial-${process.pid}`;
  // A file of this name was left by a killed process that had our pid.
  sweepStalePartials(path.dirname(final));
  fs.rmSync(partial, { force: true });
  const release = onExit(`partial output ${partial}`, () => fs.rmSync(partial, { force: true }));
  return {
    path: partial,
    release,
    commit: async () => {
      // link(2) fails if `final` exists, where rename(2) would replace it.
      await fs.promises.link(partial, final);
      release();
    },
  };
}

let deferred = 0;

/**
 * While the returned function has not been called, signals do not end the
 * process: the caller (a build forwarding them to its stage runner) handles
 * them and returns normally.
 */
export function deferSignals(): () => void {
  deferred++;
  let done = false;
  return () => {
    if (!done) deferred--;
    done = true;
  };
}

let installed = false;

export interface ExitHandlerOptions {
  /** Say one line to the user (escaped by the caller). */
  readonly report: (line: string) => void;
  /** The exit code after a signal. */
  readonly signalExitCode: (signal: 'SIGINT' | 'SIGTERM' | 'SIGHUP') => number;
  /** The exit code after an uncaught error. */
  readonly crashExitCode: number;
}

/**
 * Release everything on SIGINT, SIGTERM and SIGHUP, and on an uncaught error
 * (with one line instead of a stack trace), then exit with the caller's
 * codes; and release whatever is left on any other exit.
 */
export function installExitHandlers(options: ExitHandlerOptions): void {
  if (installed) return;
  installed = true;
  const { report } = options;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (deferred > 0) return;
      const held = actions.size;
      releaseAll(report);
      report(`interrupted (${signal})${held > 0 ? '; scratch space and partial outputs released' : ''}`);
      process.exit(options.signalExitCode(signal));
    });
  }
  const crash = (e: unknown): void => {
    releaseAll(report);
    report(`internal error: ${e instanceof Error ? e.message : String(e)} (this is a bug; please report it with the command you ran)`);
    process.exit(options.crashExitCode);
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
  process.on('exit', () => releaseAll(report));
}
