/**
 * The errors the project throws on purpose, one class for each kind of
 * trouble. Each says what is wrong and what to do; none knows how it is
 * reported (the CLI maps them to exit codes in lib/cli/exit-codes.ts, the
 * Lambdas return them by name).
 */

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
