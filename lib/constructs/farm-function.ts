import { Duration, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import * as path from 'node:path';

const LAMBDA_DIR = path.join(__dirname, '..', '..', 'lambda');

export interface FarmFunctionProps {
  /** The handler's folder below lambda/. */
  readonly folder: string;
  /** @default 'handler' */
  readonly handler?: string;
  readonly description: string;
  readonly timeout: Duration;
  /** @default 256 */
  readonly memorySize?: number;
  /** @default - none */
  readonly environment?: Record<string, string>;
  /** What the function's core calls, and nothing more. */
  readonly statements: readonly iam.PolicyStatement[];
  readonly logRetention: logs.RetentionDays;
}

/**
 * A farm Lambda: its own role with only the given statements and its own log
 * group, bundled with esbuild from lambda/<folder>/handler.ts for Node.js 22 on
 * arm64. The runtime provides the AWS SDK v3.
 */
export class FarmFunction extends NodejsFunction {
  /** The handler's source file and export: what the function runs. */
  readonly entry: string;
  readonly handlerName: string;

  constructor(scope: Construct, id: string, props: FarmFunctionProps) {
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, { retention: props.logRetention });
    const role = new iam.Role(scope, `${id}Role`, { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'), description: `${id}: ${props.description}` });
    logGroup.grantWrite(role);
    for (const statement of props.statements) role.addToPrincipalPolicy(statement);
    super(scope, id, {
      entry: path.join(LAMBDA_DIR, props.folder, 'handler.ts'),
      handler: props.handler ?? 'handler',
      description: props.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      timeout: props.timeout,
      memorySize: props.memorySize ?? 256,
      role,
      logGroup,
      environment: props.environment,
      bundling: {
        // The local esbuild devDependency; there is no Docker here or in CI.
        forceDockerBundling: false,
        target: 'node22',
        minify: true,
        sourceMap: true,
        externalModules: ['@aws-sdk/*'],
      },
    });
    this.entry = path.join(LAMBDA_DIR, props.folder, 'handler.ts');
    this.handlerName = props.handler ?? 'handler';
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-L1',
      reason: 'Node.js 22 is the runtime the farm targets and tests (the bundles are built for and tested on it); it is supported by Lambda until 2027. Moving to 24 is a deliberate upgrade, not a default.',
    });
  }
}
