import { Command, Option } from 'commander';
import { systemClock } from '../../lambda/shared/runtime';
import { callerClients } from '../publish/aws-clients';
import { PublicSharingBlockedError } from '../../lambda/copy-ami/core';
import { InvalidInputError } from '../../lambda/shared/input';
import { errorMessage } from '../../lambda/shared/retry';
import { publishLight, PublishFailedError } from '../publish/publish-light';
import { EnvironmentError, UsageError } from '../stemcell/errors';
import type { CliIo } from './main';

const list = (value: string, previous: string[]): string[] => [...previous, ...value.split(',').map((v) => v.trim()).filter((v) => v !== '')];

interface PublishLightFlags {
  region: string;
  regions: string[];
  excludeRegions: string[];
  visibility: string;
  shareWith: string[];
  encrypt?: boolean;
  kmsKey: string[];
  imdsV2?: boolean;
  buildId?: string;
  allowPartial?: boolean;
  retryFailed?: boolean;
  concurrency: string;
  out?: string;
}

/** --share-with takes account ids, organization ARNs and OU ARNs alike. */
function shareWith(values: string[]): Record<string, string[]> {
  return {
    accounts: values.filter((v) => !v.startsWith('arn:')),
    organizationArns: values.filter((v) => /:organization\//.test(v)),
    organizationalUnitArns: values.filter((v) => /:ou\//.test(v)),
  };
}

function kmsKeys(pairs: string[]): Record<string, string> {
  const keys: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--kms-key '${pair}' is not REGION=KEY, e.g. eu-west-1=alias/stemcells`);
    keys[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return keys;
}

/** AWS's errors as the CLI's: missing credentials are the environment's fault, refusals a failed publication. */
function awsFailure(e: unknown): unknown {
  const error = e as Error & { exitCode?: number; $metadata?: unknown };
  if (typeof error.exitCode === 'number' || (error as NodeJS.ErrnoException).code === 'ENOENT') return e;
  if (error.name === 'CredentialsProviderError') {
    return new EnvironmentError(`no AWS credentials: ${error.message}. Set AWS_PROFILE (SSO or role_arn work) or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN`);
  }
  if (error.$metadata !== undefined || e instanceof InvalidInputError || e instanceof PublicSharingBlockedError) {
    return new PublishFailedError(`${errorMessage(e)}. Nothing finished is lost: run the same command again to carry on.`);
  }
  return e;
}

export function publishLightCommand(io: CliIo): Command {
  return new Command('publish-light')
    .description("Publish a heavy AWS stemcell from disk as AMIs in every region and write its light stemcell, with your AWS credentials.")
    .argument('<heavy>', 'a heavy AWS stemcell .tgz (stemcell_formats: [aws-raw])')
    .requiredOption('--region <region>', 'region to upload root.img to and register the AMI in')
    .option('--regions <list>', 'copy only to these regions (comma-separated or repeated)', list, [])
    .option('--exclude-regions <list>', 'copy to every enabled region but these', list, [])
    .addOption(new Option('--visibility <who>', 'who may launch the AMIs').choices(['private', 'shared', 'public']).default('private'))
    .option('--share-with <list>', 'account ids, organization ARNs or OU ARNs, for --visibility shared', list, [])
    .option('--encrypt', 'encrypt the copies (the account default EBS key unless --kms-key)')
    .option('--kms-key <REGION=KEY>', 'KMS key of the copies in a region (repeatable); implies --encrypt', list, [])
    .option('--imds-v2', 'require IMDSv2 on instances launched from the AMIs (ImdsSupport v2.0)')
    .option('--build-id <id>', 'tags and names the AMIs; default from the image sha1, so a re-run carries on')
    .option('--allow-partial', 'write the light stemcell even if some regions failed')
    .option('--retry-failed', 'replace copies that failed in an earlier run')
    .option('--concurrency <n>', 'copies in flight at once', '8')
    .option('--out <dir>', 'directory for the light stemcell (default: beside the heavy one)')
    .addHelpText(
      'after',
      '\nCredentials: the AWS SDK default chain (AWS_PROFILE with SSO or role_arn, environment keys with a\n' +
        'session token, instance role), resolved once and used for every region.\n' +
        '\nExample:\n  stemcell publish-light out/bosh-stemcell-1.5-aws-xen-hvm-debian-bookworm-go_agent.tgz --region eu-west-1 \\\n' +
        '    --regions eu-west-1,eu-central-1,us-east-1 --visibility shared --share-with 111122223333\n' +
        '\nPrints progress on stderr and the path of the light stemcell on stdout. Run it again to carry on after an\n' +
        'interruption; AMIs stay tagged published=false until the light stemcell is written.',
    )
    .action(async (heavy: string, flags: PublishLightFlags) => {
      const concurrency = Number(flags.concurrency);
      const copy: Record<string, unknown> = {
        visibility: flags.visibility,
        concurrency: Number.isInteger(concurrency) ? concurrency : flags.concurrency,
        retryFailed: flags.retryFailed === true,
        ...(flags.regions.length > 0 ? { includeRegions: flags.regions } : {}),
        ...(flags.excludeRegions.length > 0 ? { excludeRegions: flags.excludeRegions } : {}),
        ...(flags.shareWith.length > 0 ? { shareWith: shareWith(flags.shareWith) } : {}),
        ...(flags.encrypt || flags.kmsKey.length > 0 ? { encrypted: true, kmsKeyIds: kmsKeys(flags.kmsKey) } : {}),
      };
      try {
        const result = await publishLight(
          callerClients(),
          { heavyPath: heavy, region: flags.region, copy, imdsSupport: flags.imdsV2 ? 'v2.0' : undefined, buildId: flags.buildId, allowPartial: flags.allowPartial, outDir: flags.out },
          { clock: systemClock },
          (line) => io.err(`${line}\n`),
        );
        io.out(`${result.lightPath}\n`);
      } catch (e) {
        throw awsFailure(e);
      }
    });
}
