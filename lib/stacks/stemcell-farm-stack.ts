import { CfnOutput, Duration, Stack, StackProps } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { BuilderAccess } from '../constructs/builder-access';
import { FarmBuckets } from '../constructs/farm-buckets';
import { FarmNetwork } from '../constructs/farm-network';

export interface StemcellFarmStackProps extends StackProps {
  /** @default 2 */
  readonly maxAzs?: number;
  /** @default false */
  readonly privateSubnets?: boolean;
  /** @default 1 (only with privateSubnets) */
  readonly natGateways?: number;
  /** @default - no SSH ingress */
  readonly sshIngressCidr?: string;
  /** @default logs.RetentionDays.THREE_MONTHS */
  readonly flowLogRetention?: logs.RetentionDays;
  /** @default Duration.days(30) */
  readonly noncurrentVersionExpiration?: Duration;
}

/** The build farm: network, builder access and buckets (pipelines and Lambdas join later). */
export class StemcellFarmStack extends Stack {
  readonly network: FarmNetwork;
  readonly access: BuilderAccess;
  readonly buckets: FarmBuckets;

  constructor(scope: Construct, id: string, props: StemcellFarmStackProps = {}) {
    super(scope, id, { description: 'Stemcell Farm: builds custom BOSH stemcells', ...props });
    this.network = new FarmNetwork(this, 'Network', {
      maxAzs: props.maxAzs,
      privateSubnets: props.privateSubnets,
      natGateways: props.natGateways,
      flowLogRetention: props.flowLogRetention,
    });
    this.access = new BuilderAccess(this, 'BuilderAccess', { vpc: this.network.vpc, sshIngressCidr: props.sshIngressCidr });
    this.buckets = new FarmBuckets(this, 'Buckets', { noncurrentVersionExpiration: props.noncurrentVersionExpiration });

    new CfnOutput(this, 'OsImageBucketName', { value: this.buckets.osImageBucket.bucketName });
    new CfnOutput(this, 'StemcellBucketName', { value: this.buckets.stemcellBucket.bucketName });
    new CfnOutput(this, 'BuilderSecurityGroupId', { value: this.access.securityGroup.securityGroupId });
    new CfnOutput(this, 'BuilderKeyPairPrivateKeyParameter', {
      value: this.access.keyPair.privateKey.parameterName,
      description: 'aws ssm get-parameter --with-decryption --name <this> gives the builders SSH private key',
    });
  }
}
