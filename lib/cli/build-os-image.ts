import { Command, Option } from 'commander';
import { buildOsImage, DEFAULT_OUT_DIR } from '../builder/os-image';
import { BootstrapTool, DEFAULT_PACKAGE_CACHE } from '../builder/os-image-settings';
import { operatingSystemNames } from '../stemcell/matrix';
import { CliIo, say } from './main';
import { listOption, pathOption, repeatablePathOption } from './options';

export function buildOsImageCommand(io: CliIo): Command {
  return new Command('build-os-image')
    .description('Build a hardened OS image tarball (as root): bootstrap, packages, hardening, clean-up.')
    .addOption(new Option('--os <os>', 'operating system').choices(operatingSystemNames()).default('debian-bookworm'))
    .option('--out <dir>', 'directory for bosh-<os>-os-image.tgz, created when missing', pathOption, DEFAULT_OUT_DIR)
    .option('--work <dir>', 'work directory (default: /var/tmp/stemcell-farm/work/os-image-<os>)', pathOption)
    .option('--mirror <url>', 'package mirror (default: the distribution archive)')
    .option('--security-mirror <url>', 'security mirror (default: the distribution security archive)')
    .option('--snapshot <stamp>', 'build from the snapshot archive at this UTC time, e.g. 20251101T000000Z')
    .option('--proxy <url>', 'HTTP proxy for apt during the build (not kept in the image)')
    .option('--extra-packages <a,b>', 'more packages to install; repeatable', listOption, [])
    .option('--customize <script>', 'script to run inside the chroot after the base stages, before hardening and clean-up', pathOption)
    .option('--add-stage <dir>', 'a folder with your own apply.sh, run as a stage before hardening and clean-up; repeatable', repeatablePathOption, [])
    .option('--resume-from <stage>', 'resume a failed build at this stage (same --work)')
    .option('--keep-work', 'keep the work directory after a successful build')
    .option('--package-cache <dir>', 'downloaded packages, reused across builds', pathOption, DEFAULT_PACKAGE_CACHE)
    .addOption(new Option('--bootstrap <tool>', 'bootstrap tool').choices(['mmdebstrap', 'debootstrap']).default('mmdebstrap'))
    .option('--install-host-packages', 'apt-get install missing host packages first')
    .addHelpText(
      'after',
      '\nChecks every input and precondition first (root, host packages, keyring, free disk, a writable --out) and says what is wrong.\n' +
        'Writes the tarball and <name>.build.json (settings, packages, stage durations) and prints the tarball\'s path.\n' +
        'Exits 4 when a stage fails, naming the stage to --resume-from; 130/143 when interrupted.',
    )
    .action(async (o: {
      os: string; out: string; work?: string; mirror?: string; securityMirror?: string; snapshot?: string; proxy?: string;
      extraPackages: string[]; customize?: string; addStage: string[]; resumeFrom?: string; keepWork?: boolean; packageCache: string;
      bootstrap: BootstrapTool; installHostPackages?: boolean;
    }) => {
      const built = await buildOsImage({
        os: o.os,
        outDir: o.out,
        work: o.work,
        mirror: o.mirror,
        securityMirror: o.securityMirror,
        snapshot: o.snapshot,
        proxy: o.proxy,
        extraPackages: o.extraPackages,
        customizeScript: o.customize,
        addStages: o.addStage,
        resumeFrom: o.resumeFrom,
        keepWork: o.keepWork,
        packageCacheRoot: o.packageCache,
        bootstrapTool: o.bootstrap,
        installHostPackages: o.installHostPackages,
        say: say(io),
      });
      io.out(`${built.tarball}\n`);
    });
}
