/**
 * The exit codes of the `stemcell` command (README.md, "Exit codes"), and
 * which error means which. Nothing outside the CLI knows these numbers.
 */
import { CommanderError } from 'commander';
import { EnvironmentError, FailedError, InterruptedError, InvalidStemcellError, UsageError } from '../errors';

export const ExitCode = {
  OK: 0,
  /** The input was read but is not acceptable: unsafe or malformed tarball, sha1 mismatch, failed checks. */
  INVALID: 1,
  /** The command line is wrong: unknown option, malformed value, unsupported combination. */
  USAGE: 2,
  /** The machine got in the way: input missing, output exists or not writable, not root, a package or credentials missing. */
  ENVIRONMENT: 3,
  /** Work ran and did not finish: a build stage failed, AWS refused; the message says how to carry on. */
  FAILED: 4,
  /** A bug: the message says what happened. */
  INTERNAL: 70,
} as const;

const SIGNAL_CODES: Record<string, number> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

/** errno codes that mean the machine, not the input or the program, is at fault. */
const SYSTEM_ERRORS: Record<string, string> = {
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

/** The exit code for an error that ended a command. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
  if (error instanceof InvalidStemcellError) return ExitCode.INVALID;
  if (error instanceof UsageError) return ExitCode.USAGE;
  if (error instanceof EnvironmentError) return ExitCode.ENVIRONMENT;
  if (error instanceof FailedError) return ExitCode.FAILED;
  if (error instanceof InterruptedError) return SIGNAL_CODES[error.signal];
  if (systemError(error)) return ExitCode.ENVIRONMENT;
  return ExitCode.INTERNAL;
}

function systemError(error: unknown): NodeJS.ErrnoException | undefined {
  const e = error as NodeJS.ErrnoException;
  return e instanceof Error && typeof e.code === 'string' && e.code in SYSTEM_ERRORS ? e : undefined;
}

/** The one line a user reads about an error. */
export function messageFor(error: unknown): string {
  const system = systemError(error);
  if (system && !(error instanceof EnvironmentError)) {
    const where = system.path ?? (system as { dest?: string }).dest ?? '';
    return `${where ? `${where}: ` : ''}${SYSTEM_ERRORS[system.code!]}${system.syscall ? ` (${system.syscall})` : ''}`;
  }
  const message = error instanceof Error ? error.message : String(error);
  if (exitCodeFor(error) === ExitCode.INTERNAL) return `internal error: ${message} (this is a bug; please report it with the command you ran)`;
  return message;
}
