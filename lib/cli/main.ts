/**
 * The `stemcell` command line. Every command has --help; exit codes are
 * ExitCode (0 ok, 1 invalid stemcell, 2 usage, 3 environment, 4 build or
 * publication failed).
 */
import { Command, CommanderError } from 'commander';
import { ExitCode } from '../stemcell/errors';
import { bootTestCommand } from './boot-test';
import { buildCommand } from './build';
import { buildOsImageCommand } from './build-os-image';
import { checkCommand } from './check';
import { inspectCommand } from './inspect';
import { lightCommand } from './light';
import { publishLightCommand } from './publish-light';

export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

const processIo: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

export function buildProgram(io: CliIo): Command {
  const program = new Command('stemcell')
    .description('Inspect, build and publish BOSH stemcells.')
    .addHelpText(
      'after',
      '\nExit codes: 0 ok, 1 invalid (stemcell, image or checks), 2 usage error, 3 environment (missing file, output exists, not root, no AWS credentials), 4 build or publication failed.',
    )
    .showHelpAfterError('(run with --help for usage)');
  program.addCommand(inspectCommand(io));
  program.addCommand(lightCommand(io));
  program.addCommand(buildOsImageCommand(io));
  program.addCommand(buildCommand(io));
  program.addCommand(bootTestCommand(io));
  program.addCommand(checkCommand(io));
  program.addCommand(publishLightCommand(io));
  // Let main() decide exit codes instead of commander calling process.exit.
  const configure = (cmd: Command): void => {
    cmd.exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
    cmd.commands.forEach(configure);
  };
  configure(program);
  return program;
}

/** Run the CLI with `args` (without node and script) and return the exit code. */
export async function main(args: readonly string[], io: CliIo = processIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...args], { from: 'user' });
    return ExitCode.OK;
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' ? ExitCode.OK : ExitCode.USAGE;
    }
    const error = e as Error & { exitCode?: number; code?: string };
    if (typeof error.exitCode === 'number') {
      io.err(`stemcell: ${error.message}\n`);
      return error.exitCode;
    }
    if (error.code === 'ENOENT' || error.code === 'EACCES' || error.code === 'EISDIR' || error.code === 'ENOTDIR') {
      io.err(`stemcell: ${error.message}\n`);
      return ExitCode.ENVIRONMENT;
    }
    throw e;
  }
}
