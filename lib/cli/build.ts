import { Command, Option } from 'commander';
import { buildStemcell } from '../build/stemcell';
import { infrastructureNames, operatingSystemNames } from '../stemcell/matrix';
import { BuildFailed } from './build-os-image';
import type { CliIo } from './main';

export function buildCommand(io: CliIo): Command {
  return new Command('build')
    .description('Build a stemcell (as root) from an OS image; without flags, a debian-bookworm AWS stemcell.')
    .addOption(new Option('--os <os>', 'operating system').choices(operatingSystemNames()).default('debian-bookworm'))
    .addOption(new Option('--infrastructure <name>', 'infrastructure').choices(infrastructureNames()).default('aws'))
    .option('--disk-format <format>', 'disk format (default: the infrastructure\'s first)')
    .addOption(new Option('--firmware <firmware>', 'boot firmware (default: the OS\'s)').choices(['bios', 'efi']))
    .option('--version <version>', 'stemcell version', '0.0.1')
    .option('--os-image <file>', 'OS image to start from (default: out/bosh-<os>-os-image.tgz, built first when missing)')
    .option('--agent-binary <file>', 'bosh-agent executable (default: the pinned release, downloaded and verified)')
    .option('--blobstore-cli <file>', 'a bosh-blobstore-<kind> executable to install next to the agent; repeatable', (v: string, p: string[]) => [...p, v], [])
    .option('--out <dir>', 'directory for the stemcell tarball', 'out')
    .option('--work <dir>', 'work directory (default: /var/tmp/stemcell-farm/work/stemcell-<infrastructure>-<os>)')
    .option('--resume-from <stage>', 'resume a failed build at this stage (same --work)')
    .option('--keep-work', 'keep the work directory after a successful build')
    .option('--mirror <url>', 'package mirror for the kernel (and the OS image, when built)')
    .option('--proxy <url>', 'HTTP proxy for apt during the build')
    .option('--package-cache <dir>', 'downloaded packages, reused across builds', '/var/cache/stemcell-farm/apt')
    .option('--install-host-packages', 'apt-get install missing host packages first')
    .addHelpText('after', '\nExits 4 when a stage fails, naming the stage to --resume-from; 130/143 when interrupted.')
    .action(async (o: {
      os: string; infrastructure: string; diskFormat?: string; firmware?: string; version: string; osImage?: string; agentBinary?: string; blobstoreCli: string[];
      out: string; work?: string; resumeFrom?: string; keepWork?: boolean; mirror?: string; proxy?: string; packageCache: string; installHostPackages?: boolean;
    }) => {
      const outcome = await buildStemcell({
        os: o.os,
        infrastructure: o.infrastructure,
        diskFormat: o.diskFormat,
        firmware: o.firmware,
        version: o.version,
        osImage: o.osImage,
        agentBinary: o.agentBinary,
        blobstoreClis: o.blobstoreCli,
        outDir: o.out,
        work: o.work,
        resumeFrom: o.resumeFrom,
        keepWork: o.keepWork,
        mirror: o.mirror,
        proxy: o.proxy,
        packageCacheRoot: o.packageCache,
        installHostPackages: o.installHostPackages,
        say: (line) => io.err(`stemcell: ${line}\n`),
      });
      if (outcome.exitCode !== 0) throw new BuildFailed(outcome.exitCode);
      io.out(`${outcome.tarball}\n`);
    });
}
