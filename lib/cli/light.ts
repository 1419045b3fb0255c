import * as path from 'node:path';
import { Command } from 'commander';
import { prepareOutputDirectory } from '../output';
import { UsageError } from '../errors';
import { parseAmiPairs } from '../stemcell/aws';
import { lightStemcellFrom } from '../stemcell/light';
import { readStemcellTarball, refuseExisting, writeTarball } from '../stemcell/tarball';
import type { CliIo } from './main';
import { inputTarball, listOption, pathOption } from './options';

export function lightCommand(io: CliIo): Command {
  return new Command('light')
    .description('Make the light stemcell of a heavy AWS stemcell: an empty image plus the AMI of each region.')
    .argument('<heavy>', 'a heavy AWS stemcell .tgz (stemcell_formats: [aws-raw])')
    .option('--ami <REGION=AMI>', 'the AMI in one region; repeat the option or separate pairs with commas', listOption, [])
    .option('--out <dir>', 'directory for the light stemcell, created when missing (default: the heavy stemcell\'s)', pathOption)
    .addHelpText(
      'after',
      '\nExample:\n  stemcell light bosh-stemcell-1.260-aws-xen-hvm-ubuntu-jammy-go_agent.tgz \\\n' +
        '    --ami us-east-1=ami-0123456789abcdef0 --ami eu-west-1=ami-0fedcba9876543210 --out out/\n' +
        '\nPrints the path of the light stemcell. Never replaces an existing file.',
    )
    .action(async (heavy: string, options: { ami: string[]; out?: string }) => {
      if (options.ami.length === 0) throw new UsageError('no AMIs given: pass --ami REGION=AMI at least once');
      const amis = parseAmiPairs(options.ami);
      inputTarball(heavy);
      const outDir = prepareOutputDirectory(options.out ?? path.dirname(heavy));
      const light = lightStemcellFrom(await readStemcellTarball(heavy), amis);
      const outFile = path.join(outDir, light.fileName);
      refuseExisting(outFile);
      await writeTarball(outFile, light.files);
      io.out(`${outFile}\n`);
    });
}
