/**
 * AWS clients for commands run with the caller's credentials: one credentials
 * provider (the SDK's default chain: environment, profile with role_arn or SSO,
 * instance role), resolved once and shared by the clients of every region, so
 * session tokens and assumed roles reach the copies in other regions too.
 */
import { EBSClient } from '@aws-sdk/client-ebs';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import type { AwsCredentialIdentityProvider } from '@aws-sdk/types';
import { ec2ClientFactory, perRegion } from '../aws/clients';
import type { AwsClients } from './publish-light';

export function callerClients(credentials: AwsCredentialIdentityProvider = fromNodeProviderChain()): AwsClients {
  return {
    ec2: ec2ClientFactory({ credentials }),
    ebs: perRegion((region) => new EBSClient({ region, credentials, maxAttempts: 1 })),
  };
}
