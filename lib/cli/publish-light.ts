import * as path from 'node:path';
import { Command, Option } from 'commander';
import { systemClock } from '../aws/runtime';
import { prepareOutputDirectory } from '../output';
import { UsageError } from '../errors';
import { callerClients } from '../publish/aws-clients';
import { publishLight, PublishFailedError } from '../publish/publish-light';
import { parseKmsKeyPairs, parseShareWith, validateRegion } from '../aws/identifiers';
import { awsFailure } from './aws';
import { CliIo, say } from './main';
import { inputTarball, integerOption, listOption, pathOption } from './options';

interface PublishLightFlags {
  region: string;
  regions: string[];
  excludeRegions: string[];
  requireRegions: string[];
  visibility: string;
  shareWith: string[];
  encrypt?: boolean;
  kmsKey: string[];
  imdsV2?: boolean;
  buildId?: string;
  allowPartial?: boolean;
  retryFailed?: boolean;
  concurrency: number;
  out?: string;
}

/** A refusal by AWS: what was made is kept, and a re-run carries on. */
const publishFailed = (message: string): PublishFailedError => new PublishFailedError(`${message}. Nothing finished is lost: run the same command again to carry on.`);

/** Every flag checked, in the words the other commands use, before the stemcell is read or AWS is called. */
function copyOptions(flags: PublishLightFlags): Record<string, unknown> {
  flags.regions.forEach(validateRegion);
  flags.excludeRegions.forEach(validateRegion);
  flags.requireRegions.forEach(validateRegion);
  if (flags.regions.length > 0 && flags.excludeRegions.length > 0) throw new UsageError('give --regions or --exclude-regions, not both');
  // A required region outside the copy could only fail after every copy was made.
  const never = flags.requireRegions.filter((r) => r !== flags.region && (flags.excludeRegions.includes(r) || (flags.regions.length > 0 && !flags.regions.includes(r))));
  if (never.length > 0) throw new UsageError(`--require-regions ${never.join(',')}: not among the regions copied to (--regions/--exclude-regions), so the light stemcell could never be written`);
  const shareWith = parseShareWith(flags.shareWith);
  const kmsKeyIds = parseKmsKeyPairs(flags.kmsKey);
  return {
    visibility: flags.visibility,
    concurrency: flags.concurrency,
    retryFailed: flags.retryFailed === true,
    ...(flags.regions.length > 0 ? { includeRegions: flags.regions } : {}),
    ...(flags.excludeRegions.length > 0 ? { excludeRegions: flags.excludeRegions } : {}),
    ...(flags.shareWith.length > 0 ? { shareWith } : {}),
    ...(flags.encrypt || flags.kmsKey.length > 0 ? { encrypted: true, kmsKeyIds } : {}),
  };
}

export function publishLightCommand(io: CliIo): Command {
  return new Command('publish-light')
    .description('Publish a heavy AWS stemcell from disk as AMIs in every region and write its light stemcell, with your AWS credentials.')
    .argument('<heavy>', 'a heavy AWS stemcell .tgz (stemcell_formats: [aws-raw])')
    .requiredOption('--region <region>', 'region to upload root.img to and register the AMI in')
    .option('--regions <list>', 'copy only to these regions (comma-separated or repeated)', listOption, [])
    .option('--exclude-regions <list>', 'copy to every enabled region but these', listOption, [])
    .option('--require-regions <list>', 'regions that must have an AMI, even with --allow-partial', listOption, [])
    .addOption(new Option('--visibility <who>', 'who may launch the AMIs').choices(['private', 'shared', 'public']).default('private'))
    .option('--share-with <list>', 'account ids, organization ARNs or OU ARNs, for --visibility shared', listOption, [])
    .option('--encrypt', 'encrypt the copies (the account default EBS key unless --kms-key)')
    .option('--kms-key <REGION=KEY>', 'KMS key of the copies in a region (repeatable); implies --encrypt', listOption, [])
    .option('--imds-v2', 'require IMDSv2 on instances launched from the AMIs (ImdsSupport v2.0)')
    .option('--build-id <id>', 'tags and names the AMIs; default from the image sha1, so a re-run carries on')
    .option('--allow-partial', 'write the light stemcell even if some regions failed')
    .option('--retry-failed', 'replace copies that failed in an earlier run')
    .option('--concurrency <n>', 'copies in flight at once (1 to 50)', integerOption(1, 50), 8)
    .option('--out <dir>', 'directory for the light stemcell, created when missing (default: the heavy stemcell\'s)', pathOption)
    .addHelpText(
      'after',
      '\nCredentials: the AWS SDK default chain (AWS_PROFILE with SSO or role_arn, environment keys with a\n' +
        'session token, instance role), resolved once and used for every region.\n' +
        '\nExample:\n  stemcell publish-light out/bosh-stemcell-1.5-aws-xen-hvm-debian-bookworm-go_agent.tgz --region eu-west-1 \\\n' +
        '    --regions eu-west-1,eu-central-1,us-east-1 --visibility shared --share-with 111122223333\n' +
        '\nPrints progress on stderr and the path of the light stemcell on stdout. Run it again to carry on after an\n' +
        'interruption; AMIs stay tagged published=false until the light stemcell is written. Exits 4 when AWS refused something.',
    )
    .action(async (heavy: string, flags: PublishLightFlags) => {
      const region = validateRegion(flags.region);
      const copy = copyOptions(flags);
      inputTarball(heavy);
      const outDir = prepareOutputDirectory(flags.out ?? path.dirname(heavy));
      try {
        const result = await publishLight(
          callerClients(),
          {
            heavyPath: heavy,
            region,
            copy,
            imdsSupport: flags.imdsV2 ? 'v2.0' : undefined,
            buildId: flags.buildId,
            allowPartial: flags.allowPartial,
            requiredRegions: flags.requireRegions,
            outDir,
          },
          { clock: systemClock },
          say(io),
        );
        io.out(`${result.lightPath}\n`);
      } catch (e) {
        throw awsFailure(e, publishFailed);
      }
    });
}
