/**
 * One EC2 client per region, all sharing one credentials provider. Sharing it
 * is what keeps session tokens and assumed roles working for every region (the
 * official light-stemcell builder rebuilt static credentials for its copies and
 * lost the session token). Each client makes a single attempt per call; the
 * cores retry with their own policy (retry.ts).
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';

export type Ec2ForRegion = (region: string) => EC2Client;

export interface ClientOptions {
  /** @default - the SDK's default chain (environment, profile, SSO, role, instance or Lambda role) */
  readonly credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
}

export function ec2ClientFactory(options: ClientOptions = {}): Ec2ForRegion {
  const clients = new Map<string, EC2Client>();
  return (region) => {
    let client = clients.get(region);
    if (!client) {
      client = new EC2Client({ region, credentials: options.credentials, maxAttempts: 1 });
      clients.set(region, client);
    }
    return client;
  };
}
