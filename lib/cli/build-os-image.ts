import { Command, Option } from 'commander';
import { buildOsImage, defaultOsImageOut } from '../build/os-image';
import { BootstrapTool } from '../build/os-image-settings';
import { operatingSystemNames } from '../stemcell/matrix';
import type { CliIo } from './main';

const list = (value: string, previous: string[]): string[] => [...previous, ...value.split(',').map((v) => v.trim()).filter((v) => v !== '')];

export class BuildFailed extends Error {
  constructor(readonly exitCode: number) {
    super('the build failed; see the stage report above');
  }
}

export function buildOsImageCommand(io: CliIo): Command {
  return new Command('build-os-image')
    .description('Build a hardened OS image tarball (as root): bootstrap, packages, hardening, clean-up.')
    .addOption(new Option('--os <os>', 'operating system').choices(operatingSystemNames()).default('debian-bookworm'))
    .option('--out <file>', 'OS image tarball to write (default: out/bosh-<os>-os-image.tgz)')
    .option('--work <dir>', 'work directory (default: /var/tmp/stemcell-farm/work/os-image-<os>)')
    .option('--mirror <url>', 'package mirror (default: the distribution archive)')
    .option('--security-mirror <url>', 'security mirror (default: the distribution security archive)')
    .option('--snapshot <stamp>', 'build from the snapshot archive at this UTC time, e.g. 20251101T000000Z')
    .option('--proxy <url>', 'HTTP proxy for apt during the build (not kept in the image)')
    .option('--extra-packages <a,b>', 'more packages to install; repeatable', list, [])
    .option('--customize <script>', 'script to run inside the chroot after the base stages, before hardening and clean-up')
    .option('--add-stage <dir>', 'a folder with your own apply.sh, run as a stage before hardening and clean-up; repeatable', (v: string, p: string[]) => [...p, v], [])
    .option('--resume-from <stage>', 'resume a failed build at this stage (same --work)')
    .option('--keep-work', 'keep the work directory after a successful build')
    .option('--package-cache <dir>', 'downloaded packages, reused across builds', '/var/cache/stemcell-farm/apt')
    .addOption(new Option('--bootstrap <tool>', 'bootstrap tool').choices(['mmdebstrap', 'debootstrap']).default('mmdebstrap'))
    .option('--install-host-packages', 'apt-get install missing host packages first')
    .addHelpText(
      'after',
      '\nChecks its preconditions first (root, host tools, keyring, free disk) and says what is missing.\n' +
        'Writes the tarball and <name>.build.json (settings, packages, stage durations).\n' +
        'Exits 4 when a stage fails, naming the stage to --resume-from; 130/143 when interrupted.',
    )
    .action(async (o: {
      os: string; out?: string; work?: string; mirror?: string; securityMirror?: string; snapshot?: string; proxy?: string;
      extraPackages: string[]; customize?: string; addStage: string[]; resumeFrom?: string; keepWork?: boolean; packageCache: string;
      bootstrap: BootstrapTool; installHostPackages?: boolean;
    }) => {
      const outcome = await buildOsImage({
        os: o.os,
        out: o.out ?? defaultOsImageOut(o.os),
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
        say: (line) => io.err(`stemcell: ${line}\n`),
      });
      if (outcome.exitCode !== 0) throw new BuildFailed(outcome.exitCode);
      io.out(`${outcome.settings.out}\n`);
    });
}
