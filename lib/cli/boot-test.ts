import { Command } from 'commander';
import { bootTest } from '../boot/boot-test';
import { InvalidStemcellError } from '../errors';
import { CliIo, say } from './main';
import { inputTarball, integerOption } from './options';
import { jsonText, printableLines } from './text';

export function bootTestCommand(io: CliIo): Command {
  return new Command('boot-test')
    .description('Boot a stemcell (aws-raw, openstack-qcow2 or -raw; BIOS or EFI) under QEMU and wait for a login prompt and the agent start.')
    .argument('<stemcell>', 'a heavy stemcell .tgz')
    .option('--timeout <seconds>', 'give up after this long (1 to 86400)', integerOption(1, 86_400), 300)
    .option('--json', 'print the result as JSON')
    .option('--install-host-packages', 'apt-get install missing host packages (QEMU, OVMF) first')
    .addHelpText('after', '\nUses software emulation (no KVM). Exits 1 when the boot fails, after printing the last console lines.')
    .action(async (stemcell: string, o: { timeout: number; json?: boolean; installHostPackages?: boolean }) => {
      const result = await bootTest({ tarball: inputTarball(stemcell), timeoutSeconds: o.timeout, installHostPackages: o.installHostPackages, say: say(io) });
      if (o.json) io.out(jsonText(result));
      else if (result.ok) io.out(`boot test passed in ${result.seconds.toFixed(0)} s (${result.format}, ${result.firmware}): login prompt reached, agent started by runit${result.standInAgentStarted ? ' (the stand-in agent, not the real one)' : ''}\n`);
      if (!result.ok) {
        io.err(`--- last console lines ---\n${printableLines(result.lastLines.join('\n'))}\n---\n`);
        throw new InvalidStemcellError(`boot test failed after ${result.seconds.toFixed(0)} s: ${result.reason}`);
      }
    });
}
