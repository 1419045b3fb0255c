/** Lambda entry of register-ami; the work is in core.ts. */
import { ec2ClientFactory } from '../../lib/aws/clients';
import { LambdaContext, lambdaRunOptions } from '../../lib/aws/runtime';
import { parseRegisterAmiEvent, registerAmi, RegisterAmiResult } from '../../lib/publish/register-ami';

const clients = ec2ClientFactory();

export async function handler(event: unknown, context: LambdaContext): Promise<RegisterAmiResult> {
  const input = parseRegisterAmiEvent(event);
  return registerAmi(clients(input.region), input, lambdaRunOptions(context.getRemainingTimeInMillis()));
}
