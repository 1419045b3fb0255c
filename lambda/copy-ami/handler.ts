/** Lambda entries of copy-ami (`copy`) and its progress report (`check`); the work is in lib/publish/copy-ami.ts. `copy` is a farm runbook step when the event carries `state`. */
import { ec2ClientFactory } from '../../lib/aws/clients';
import { LambdaContext, lambdaRunOptions } from '../../lib/aws/runtime';
import { FarmState, isFarmEvent, parseFarmEvent } from '../../lib/farm/state';
import { afterCopy, copyInput } from '../../lib/farm/steps';
import { checkCopies, copyAmi, CopyAmiResult, parseCheckEvent, parseCopyAmiEvent } from '../../lib/publish/copy-ami';

const clients = ec2ClientFactory();

export async function copy(event: unknown, context: LambdaContext): Promise<CopyAmiResult | FarmState> {
  const options = lambdaRunOptions(context.getRemainingTimeInMillis());
  if (isFarmEvent(event)) {
    const state = parseFarmEvent(event, 'copy-ami');
    return afterCopy(state, await copyAmi(clients, copyInput(state), options));
  }
  return copyAmi(clients, parseCopyAmiEvent(event), options);
}

export async function check(event: unknown, context: LambdaContext): Promise<CopyAmiResult> {
  return checkCopies(clients, parseCheckEvent(event), lambdaRunOptions(context.getRemainingTimeInMillis()));
}
