/**
 * The `stemcell` command line. Every command has --help; errors end in one
 * line on stderr and an exit code from exit-codes.ts, never a stack trace.
 */
import { Command, CommanderError } from 'commander';
import { bootTestCommand } from './boot-test';
import { buildCommand } from './build';
import { buildOsImageCommand } from './build-os-image';
import { checkCommand } from './check';
import { diffCommand } from './diff';
import { doctorCommand } from './doctor';
import { farmCommand, FarmDeps } from './farm';
import { farmBuildCommand } from './farm-build';
import { exitCodeFor, ExitCode, messageFor } from './exit-codes';
import { inspectCommand } from './inspect';
import { lightCommand } from './light';
import { publishLightCommand } from './publish-light';
import { printable, printableLines } from './text';
import { version as PACKAGE_VERSION } from '../../package.json';

export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

export const processIo: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** A progress or error line from the CLI, on stderr, made safe for a terminal. */
export function say(io: CliIo): (line: string) => void {
  return (line) => io.err(`stemcell: ${printable(line)}\n`);
}

export function buildProgram(io: CliIo, farmDeps?: FarmDeps): Command {
  const program = new Command('stemcell')
    .description('Inspect, build, check, boot and publish BOSH stemcells.')
    .addHelpText(
      'after',
      '\nExit codes: 0 ok, 1 invalid (stemcell, image or checks), 2 usage error, 3 environment (missing file, output exists or not\n' +
        'writable, not root, host packages or AWS credentials missing), 4 build or publication failed, 130/143 interrupted.',
    )
    .version(PACKAGE_VERSION, '--version', 'print the version of stemcell')
    // `stemcell --version` is ours; `stemcell build --version 1.10` is the stemcell's.
    .enablePositionalOptions();
  program.addCommand(inspectCommand(io));
  program.addCommand(lightCommand(io));
  program.addCommand(buildOsImageCommand(io));
  program.addCommand(buildCommand(io));
  program.addCommand(bootTestCommand(io));
  program.addCommand(checkCommand(io));
  program.addCommand(diffCommand(io));
  program.addCommand(publishLightCommand(io));
  program.addCommand(doctorCommand(io));
  program.addCommand(farmBuildCommand(io));
  program.addCommand(farmCommand(io, farmDeps));
  // Let main() decide exit codes instead of commander calling process.exit.
  const configure = (cmd: Command): void => {
    cmd.exitOverride().configureOutput({
      writeOut: io.out,
      // Help shown for a mistake keeps its lines; an error is one line, with the hint.
      writeErr: (text) => io.err(printableLines(text)),
      outputError: (text, write) => write(`${text.trim().split('\n').join(' ')} (run with --help for usage)\n`),
    });
    cmd.commands.forEach(configure);
  };
  configure(program);
  return program;
}

/** Run the CLI with `args` (without node and script) and return the exit code. */
export async function main(args: readonly string[], io: CliIo = processIo, farmDeps?: FarmDeps): Promise<number> {
  const program = buildProgram(io, farmDeps);
  try {
    await program.parseAsync([...args], { from: 'user' });
    return ExitCode.OK;
  } catch (e) {
    // commander has printed its own message (or the help) already.
    if (!(e instanceof CommanderError)) say(io)(messageFor(e));
    return exitCodeFor(e);
  }
}
