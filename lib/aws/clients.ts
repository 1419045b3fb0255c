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

/** One value per region, made on first use: the clients of a region are reused. */
export function perRegion<T>(make: (region: string) => T): (region: string) => T {
  const made = new Map<string, T>();
  return (region) => {
    if (!made.has(region)) made.set(region, make(region));
    return made.get(region)!;
  };
}

export function ec2ClientFactory(options: ClientOptions = {}): Ec2ForRegion {
  return perRegion((region) => new EC2Client({ region, credentials: options.credentials, maxAttempts: 1 }));
}
