/**
 * Errors the domain code throws on purpose. Each carries the exit code the
 * `stemcell` CLI maps it to, so scripts can tell a bad stemcell from a typo.
 */

/** Exit codes of the `stemcell` CLI (documented in README.md). */
export const ExitCode = {
  OK: 0,
  /** The input was read but is not acceptable: unsafe or malformed tarball, sha1 mismatch, failed checks. */
  INVALID_STEMCELL: 1,
  /** The command line is wrong: unknown option, malformed region or AMI id, unsupported combination. */
  USAGE: 2,
  /** The environment got in the way: missing file, no permission, output already exists. */
  ENVIRONMENT: 3,
  /** A build ran and a stage failed; the output names the stage to resume from. */
  BUILD_FAILED: 4,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** A stemcell, manifest or tarball that must be refused. */
export class InvalidStemcellError extends Error {
  readonly exitCode = ExitCode.INVALID_STEMCELL;
  constructor(message: string) {
    super(message);
    this.name = 'InvalidStemcellError';
  }
}

/** A request that cannot be carried out as asked; the message says what to change. */
export class UsageError extends Error {
  readonly exitCode = ExitCode.USAGE;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A file system precondition that does not hold (output exists, input missing). */
export class EnvironmentError extends Error {
  readonly exitCode = ExitCode.ENVIRONMENT;
  constructor(message: string) {
    super(message);
    this.name = 'EnvironmentError';
  }
}
