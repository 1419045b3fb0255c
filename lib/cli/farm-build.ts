import { EBSClient } from '@aws-sdk/client-ebs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { S3Client } from '@aws-sdk/client-s3';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { Command } from 'commander';
import { isRegionName } from '../aws/identifiers';
import { systemClock } from '../aws/runtime';
import { parseS3Uri } from '../aws/s3';
import { DEFAULT_PACKAGE_CACHE } from '../builder/os-image-settings';
import { EnvironmentError, FailedError, UsageError } from '../errors';
import { REQUEST_URI } from '../farm/keys';
import { farmBuild, FarmBuildClients } from '../farm/build';
import { awsFailure } from './aws';
import { CliIo, say } from './main';
import { pathOption } from './options';
import { jsonText } from './text';

/** A farm build that could not finish: what it stored is kept, and running the request again carries on. */
class FarmBuildFailedError extends FailedError {}
const farmBuildFailed = (message: string): FarmBuildFailedError => new FarmBuildFailedError(`${message}. What was stored is kept: run the same request again to carry on.`);

/**
 * A connection must open within 10 s and a request see data at least every
 * 2 minutes: a silent endpoint fails the call (and the retries) instead of
 * holding the build until Run Command's limit, hours later.
 */
const TIMEOUTS = { connectionTimeout: 10_000, requestTimeout: 120_000 };

/** Clients of the builder's region, with one credentials provider (the instance role on a builder). */
export function builderClients(region: string): FarmBuildClients {
  const credentials = fromNodeProviderChain();
  return {
    // Content-MD5 makes S3 check every upload; the SDK's streamed checksums are not needed.
    s3: new S3Client({ region, credentials, maxAttempts: 1, requestHandler: TIMEOUTS, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' }),
    ebs: new EBSClient({ region, credentials, maxAttempts: 1, requestHandler: TIMEOUTS }),
    ec2: new EC2Client({ region, credentials, maxAttempts: 1, requestHandler: TIMEOUTS }),
  };
}

export function farmBuildCommand(io: CliIo, clients: (region: string) => FarmBuildClients = builderClients): Command {
  return new Command('farm-build')
    .description("On a farm builder, as root: run the build whose request the runbook's Prepare step wrote to S3, and write its result.json.")
    .requiredOption('--request <s3-uri>', 's3://<stemcell bucket>/builds/<build id>/request.json')
    .option('--agent-binary <file>', 'bosh-agent executable (default: the pinned release, downloaded and verified)', pathOption)
    .option('--package-cache <dir>', 'downloaded packages, reused across builds', pathOption, DEFAULT_PACKAGE_CACHE)
    .option('--json', 'print result.json instead of the stemcell keys')
    .addHelpText('after', '\nNeeds AWS_REGION (the region of the farm) and credentials (the instance role on a builder). Running the same request again\nreuses the OS image, stemcells and snapshot already stored; nothing in S3 is ever overwritten. Exits 4 when the build fails.')
    .action(async (o: { request: string; agentBinary?: string; packageCache: string; json?: boolean }) => {
      // An empty AWS_REGION is as good as none.
      const region = process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION;
      if (!region || !isRegionName(region)) throw new EnvironmentError(`AWS_REGION is ${region ? `'${region}', not a region name` : 'not set'}; set it to the farm's region (the builder script reads it from the instance metadata)`);
      if (!new RegExp(REQUEST_URI).test(o.request)) throw new UsageError(`--request ${JSON.stringify(o.request.slice(0, 200))} is not a build request: s3://<stemcell bucket>/builds/<build id>/request.json, as the runbook's Prepare step writes it`);
      parseS3Uri(o.request, '--request');
      let result;
      try {
        result = await farmBuild(clients(region), { requestUri: o.request, agentBinary: o.agentBinary, packageCacheRoot: o.packageCache, region, say: say(io), clock: systemClock });
      } catch (e) {
        throw awsFailure(e, farmBuildFailed);
      }
      io.out(o.json ? `${jsonText(result)}\n` : result.stemcells.map((s) => `${s.key}\n`).join(''));
    });
}
