/** Lambda entries of copy-ami (`copy`) and its progress report (`check`); the work is in core.ts. */
import { ec2ClientFactory } from '../../lib/aws/clients';
import { LambdaContext, lambdaRunOptions } from '../../lib/aws/runtime';
import { checkCopies, copyAmi, CopyAmiResult, parseCheckEvent, parseCopyAmiEvent } from '../../lib/publish/copy-ami';

const clients = ec2ClientFactory();

export async function copy(event: unknown, context: LambdaContext): Promise<CopyAmiResult> {
  return copyAmi(clients, parseCopyAmiEvent(event), lambdaRunOptions(context.getRemainingTimeInMillis()));
}

export async function check(event: unknown, context: LambdaContext): Promise<CopyAmiResult> {
  return checkCopies(clients, parseCheckEvent(event), lambdaRunOptions(context.getRemainingTimeInMillis()));
}
