/** Lambda entry of register-ami; the work is in lib/publish/register-ami.ts. A farm runbook step when the event carries `state`. */
import { ec2ClientFactory } from '../../lib/aws/clients';
import { LambdaContext, lambdaRunOptions } from '../../lib/aws/runtime';
import { isFarmEvent, parseFarmEvent, FarmState } from '../../lib/farm/state';
import { afterRegister, registerInput } from '../../lib/farm/steps';
import { parseRegisterAmiEvent, registerAmi, RegisterAmiResult } from '../../lib/publish/register-ami';

const clients = ec2ClientFactory();

export async function handler(event: unknown, context: LambdaContext): Promise<RegisterAmiResult | FarmState> {
  const options = lambdaRunOptions(context.getRemainingTimeInMillis());
  if (isFarmEvent(event)) {
    const state = parseFarmEvent(event, 'register-ami');
    const input = registerInput(state);
    return afterRegister(state, await registerAmi(clients(input.region), input, options));
  }
  const input = parseRegisterAmiEvent(event);
  return registerAmi(clients(input.region), input, options);
}
