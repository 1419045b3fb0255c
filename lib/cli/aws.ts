/** AWS's errors as the CLI's, for the commands that call AWS with the caller's credentials. */
import { InvalidInputError } from '../aws/input';
import { errorCode, errorMessage } from '../aws/retry';

const UNREACHABLE = ['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'TimeoutError'];
import { EnvironmentError, FailedError, InvalidStemcellError } from '../errors';
import { PublicSharingBlockedError } from '../publish/copy-ami';

/**
 * Missing credentials are the environment's fault; what AWS refused (or found
 * wrong with the account's state) is a failure that `again` says how to carry
 * on from. Our own errors pass through.
 */
export function awsFailure(e: unknown, failed: (message: string) => FailedError): unknown {
  const error = e as Error & { $metadata?: unknown };
  if (error.name === 'CredentialsProviderError') {
    return new EnvironmentError(`no AWS credentials: ${error.message}. Set AWS_PROFILE (SSO or role_arn work) or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN`);
  }
  if (e instanceof FailedError || e instanceof InvalidStemcellError || e instanceof EnvironmentError) return e;
  // No answer at all: the network or the endpoint, not AWS refusing.
  if (UNREACHABLE.includes(errorCode(e)) || UNREACHABLE.includes((e as { code?: string }).code ?? '')) {
    return new EnvironmentError(`cannot reach AWS (${errorMessage(e)}); check the network, the proxy (HTTPS_PROXY) and the endpoint`);
  }
  // What AWS refused, or found wrong with the account's state (a region not enabled, public sharing blocked).
  if (error.$metadata !== undefined || e instanceof InvalidInputError || e instanceof PublicSharingBlockedError) return failed(errorMessage(e));
  return e;
}
