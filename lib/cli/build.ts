import { Command, Option } from 'commander';
import { DEFAULT_OUT_DIR } from '../builder/os-image';
import { DEFAULT_PACKAGE_CACHE } from '../builder/os-image-settings';
import { buildStemcell } from '../builder/stemcell';
import { infrastructureNames, operatingSystemNames } from '../stemcell/matrix';
import { CliIo, say } from './main';
import { pathOption, repeatablePathOption } from './options';

export function buildCommand(io: CliIo): Command {
  return new Command('build')
    .description('Build a stemcell (as root) from an OS image; without flags, a debian-bookworm AWS stemcell.')
    .addOption(new Option('--os <os>', 'operating system').choices(operatingSystemNames()).default('debian-bookworm'))
    .addOption(new Option('--infrastructure <name>', 'infrastructure').choices(infrastructureNames()).default('aws'))
    .option('--disk-format <format>', 'disk format (default: the infrastructure\'s first)')
    .addOption(new Option('--firmware <firmware>', 'boot firmware (default: the OS\'s)').choices(['bios', 'efi']))
    .option('--version <version>', 'stemcell version', '0.0.1')
    .option('--os-image <file>', 'OS image to start from (default: <out>/bosh-<os>-os-image.tgz, built first when missing)', pathOption)
    .option('--agent-binary <file>', 'bosh-agent executable (default: the pinned release, downloaded and verified)', pathOption)
    .option('--blobstore-cli <file>', 'a bosh-blobstore-<kind> executable to install next to the agent; repeatable', repeatablePathOption, [])
    .option('--out <dir>', 'directory for the stemcell tarball (and the OS image it builds), created when missing', pathOption, DEFAULT_OUT_DIR)
    .option('--work <dir>', 'work directory (default: /var/tmp/stemcell-farm/work/stemcell-<infrastructure>-<os>)', pathOption)
    .option('--resume-from <stage>', 'resume a failed build at this stage (same --work)')
    .option('--keep-work', 'keep the work directory after a successful build')
    .option('--mirror <url>', 'package mirror of the OS image it builds first (the kernel comes from the OS image\'s own apt sources)')
    .option('--proxy <url>', 'HTTP proxy for apt during the build (the kernel install, and the OS image it builds)')
    .option('--package-cache <dir>', 'downloaded packages, reused across builds', pathOption, DEFAULT_PACKAGE_CACHE)
    .option('--install-host-packages', 'apt-get install missing host packages first (those of the OS image build too)')
    .addHelpText('after', '\nWrites the stemcell and <name>.build.json (its OS image, agent and time, by sha256) and prints the stemcell\'s path. Exits 4 when a stage fails, naming the stage to --resume-from; 130/143 when interrupted.')
    .action(async (o: {
      os: string; infrastructure: string; diskFormat?: string; firmware?: string; version: string; osImage?: string; agentBinary?: string; blobstoreCli: string[];
      out: string; work?: string; resumeFrom?: string; keepWork?: boolean; mirror?: string; proxy?: string; packageCache: string; installHostPackages?: boolean;
    }) => {
      const built = await buildStemcell({
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
        say: say(io),
      });
      io.out(`${built.tarball}\n`);
    });
}
