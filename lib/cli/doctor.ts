import { Command } from 'commander';
import { HOST_PACKAGES_FILE, hostPackageGroups, hostPackagesFor, installHostPackages, missingHostPackages, missingProofs } from '../builder/host';
import { EnvironmentError, UsageError } from '../errors';
import { CliIo, say } from './main';

export function doctorCommand(io: CliIo): Command {
  return new Command('doctor')
    .description('Say which host packages each command needs and which are missing; with --install, install them.')
    .argument('[command...]', 'the commands to look at (default: all): build-os-image, build, boot-test, check, test')
    .option('--install', 'apt-get install what is missing (as root)')
    .addHelpText('after', `\nThe list is ${HOST_PACKAGES_FILE}. Exits 3 when something is missing (and not installed).`)
    .action((commands: string[], options: { install?: boolean }) => {
      const groups = hostPackageGroups();
      const shown = [...groups.keys()].filter((g) => g !== 'runner');
      const asked = commands.length > 0 ? commands : shown;
      const unknown = asked.filter((c) => !shown.includes(c));
      if (unknown.length > 0) throw new UsageError(`no host packages are listed for ${unknown.join(', ')}; commands with host packages: ${shown.join(', ')} (the others need none)`);
      const width = Math.max(...asked.map((c) => c.length));
      const report = (): string[] => {
        const missing = new Set<string>();
        for (const command of asked) {
          const needed = hostPackagesFor([command], groups);
          const absent = missingHostPackages(needed);
          absent.forEach((p) => missing.add(p.name));
          const detail = absent.map((p) => `${p.name} (${missingProofs(p).join(', ')})`).join(', ');
          io.out(`${command.padEnd(width)}  ${absent.length === 0 ? 'ok' : `missing ${detail}`}\n${' '.repeat(width)}  needs ${needed.map((p) => p.name).join(' ')}\n`);
        }
        return [...missing];
      };
      let missing = report();
      if (missing.length > 0 && options.install) {
        installHostPackages(missing, say(io));
        missing = report();
      }
      if (missing.length > 0) {
        throw new EnvironmentError(`missing host packages: ${missing.join(' ')}. Install them with: stemcell doctor --install${commands.length > 0 ? ` ${commands.join(' ')}` : ''} (or apt-get install -y ${missing.join(' ')})`);
      }
    });
}
