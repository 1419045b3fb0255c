/**
 * The errors the project throws on purpose, one class for each kind of
 * trouble. Each says what is wrong and what to do; none knows how it is
 * reported (the CLI maps them to exit codes in lib/cli/exit-codes.ts, the
 * Lambdas return them by name).
 */
import { types } from 'node:util';

/** A stemcell, OS image, manifest or tarball that must be refused. */
export class InvalidStemcellError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidStemcellError';
  }
}

/** A request that cannot be carried out as asked; the message says what to change. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A precondition of the machine that does not hold: input missing, output exists, not root, a tool missing. */
export class EnvironmentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnvironmentError';
  }
}

/** Work that started and did not finish (a build stage, an AWS call); the message says how to carry on. */
export class FailedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FailedError';
  }
}

export type StopSignal = 'SIGINT' | 'SIGTERM' | 'SIGHUP';

/** Work stopped by a signal, after releasing what it held. */
export class InterruptedError extends Error {
  constructor(readonly signal: StopSignal, message = `interrupted (${signal})`) {
    super(message);
    this.name = 'InterruptedError';
  }
}

/** errno codes that mean the machine, not the input or the program, is at fault, in words. */
const SYSTEM_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EISDIR: 'is a directory',
  ENOTDIR: 'not a directory',
  EEXIST: 'already exists',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  EIO: 'input/output error',
  ENAMETOOLONG: 'file name too long',
  ELOOP: 'too many levels of symbolic links',
  ENXIO: 'no such device',
  ENODEV: 'no such device',
  EBUSY: 'device or resource busy',
  ETXTBSY: 'text file busy',
  EFBIG: 'file too large',
  EINVAL: 'invalid argument (the file system refuses the operation)',
};

/** An error of a system call, with its errno code. */
export function isSystemError(error: unknown): error is NodeJS.ErrnoException {
  const e = error as NodeJS.ErrnoException;
  // isNativeError: also an error made in another realm (a vm context, as under jest).
  return (e instanceof Error || types.isNativeError(e)) && typeof e.code === 'string' && e.code in SYSTEM_ERRORS;
}

/** What a system call's error means, in words (`no space left on the device`). */
export function systemErrorReason(error: NodeJS.ErrnoException): string {
  return SYSTEM_ERRORS[error.code ?? ''] ?? error.message;
}
