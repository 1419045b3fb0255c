import { CfnOutput, Duration, Stack, StackProps } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { AmiPublishing } from '../constructs/ami-publishing';
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
  /**
   * ARNs of the KMS keys copy-ami may encrypt AMI copies with, one per region
   * you encrypt in (they come from configuration, so as ARNs).
   * @default - none
   */
  readonly amiCopyKmsKeyArns?: string[];
}

/** The build farm: network, builder access, buckets and the AMI Lambdas (the build runbook joins later). */
export class StemcellFarmStack extends Stack {
  readonly network: FarmNetwork;
  readonly access: BuilderAccess;
  readonly buckets: FarmBuckets;
  readonly amiPublishing: AmiPublishing;

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

    this.amiPublishing = new AmiPublishing(this, 'AmiPublishing', {
      stemcellBucket: this.buckets.stemcellBucket,
      copyEncryptionKeys: (props.amiCopyKmsKeyArns ?? []).map((arn, i) => kms.Key.fromKeyArn(this, `AmiCopyKey${i}`, arn)),
    });

    new CfnOutput(this, 'OsImageBucketName', { value: this.buckets.osImageBucket.bucketName });
    new CfnOutput(this, 'StemcellBucketName', { value: this.buckets.stemcellBucket.bucketName });
    new CfnOutput(this, 'BuilderSecurityGroupId', { value: this.access.securityGroup.securityGroupId });
    new CfnOutput(this, 'BuilderKeyPairPrivateKeyParameter', {
      value: this.access.keyPair.privateKey.parameterName,
      description: 'aws ssm get-parameter --with-decryption --name <this> gives the builders SSH private key',
    });
    const functions = this.amiPublishing;
    for (const [name, fn] of Object.entries({ RegisterAmiFunction: functions.registerAmi, CopyAmiFunction: functions.copyAmi, CheckAmiCopiesFunction: functions.checkAmiCopies, LightStemcellFunction: functions.lightStemcell, CleanupAmisFunction: functions.cleanup })) {
      new CfnOutput(this, `${name}Name`, { value: fn.functionName });
    }
  }
}
