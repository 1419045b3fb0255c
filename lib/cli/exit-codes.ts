/**
 * The exit codes of the `stemcell` command (README.md, "Exit codes"), and
 * which error means which. Nothing outside the CLI knows these numbers.
 */
import { CommanderError } from 'commander';
import { EnvironmentError, FailedError, InterruptedError, InvalidStemcellError, isSystemError, StopSignal, systemErrorReason, UsageError } from '../errors';

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

const SIGNAL_CODES: Readonly<Record<StopSignal, number>> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

/** The exit code after a signal stopped a command: 128 + its number, as shells report it. */
export function exitCodeForSignal(signal: StopSignal): number {
  return SIGNAL_CODES[signal];
}

/** The exit code for an error that ended a command. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
  if (error instanceof InvalidStemcellError) return ExitCode.INVALID;
  if (error instanceof UsageError) return ExitCode.USAGE;
  if (error instanceof EnvironmentError) return ExitCode.ENVIRONMENT;
  if (error instanceof FailedError) return ExitCode.FAILED;
  if (error instanceof InterruptedError) return exitCodeForSignal(error.signal);
  if (isSystemError(error)) return ExitCode.ENVIRONMENT;
  return ExitCode.INTERNAL;
}

/** The one line a user reads about an error. */
export function messageFor(error: unknown): string {
  if (isSystemError(error)) {
    const where = error.path ?? (error as { dest?: string }).dest ?? '';
    return `${where ? `${where}: ` : ''}${systemErrorReason(error)}${error.syscall ? ` (${error.syscall})` : ''}`;
  }
  const message = error instanceof Error ? error.message : String(error);
  if (exitCodeFor(error) === ExitCode.INTERNAL) return `internal error: ${message} (this is a bug; please report it with the command you ran)`;
  return message;
}
