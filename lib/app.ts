/** The CDK app as `cdk synth` runs it; tests build it the same way. */
import { App, AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { farmPropsFromContext } from './config';
import { DEFAULT_FARM_STACK } from './farm/farm-outputs';
import { StemcellFarmStack } from './stacks/stemcell-farm-stack';

export const FARM_STACK_ID = DEFAULT_FARM_STACK;

export function createFarmApp(props: AppProps = {}): { app: App; stack: StemcellFarmStack } {
  const app = new App(props);
  // Region-agnostic on purpose: synth needs no credentials and no lookups,
  // and `cdk deploy` targets the account and region of the caller.
  const stack = new StemcellFarmStack(app, FARM_STACK_ID, farmPropsFromContext(app.node));
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}
