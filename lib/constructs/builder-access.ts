import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';

export interface BuilderAccessProps {
  readonly vpc: ec2.IVpc;
  /**
   * Allow SSH (22/tcp) from this IPv4 CIDR. Operators normally reach builders
   * through SSM Session Manager, which needs no ingress at all.
   * @default - no ingress
   */
  readonly sshIngressCidr?: string;
}

const IPV4_CIDR = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}\/([0-9]|[12]\d|3[0-2])$/;

/** How builder instances may be reached: their security group and an SSH key pair. */
export class BuilderAccess extends Construct {
  readonly securityGroup: ec2.SecurityGroup;
  /** Its private key is the SSM parameter `/ec2/keypair/<keyPairId>`. */
  readonly keyPair: ec2.KeyPair;

  constructor(scope: Construct, id: string, props: BuilderAccessProps) {
    super(scope, id);
    const cidr = props.sshIngressCidr;
    if (cidr !== undefined) {
      if (!IPV4_CIDR.test(cidr)) {
        throw new Error(`BuilderAccess: sshIngressCidr '${cidr}' is not an IPv4 CIDR such as 203.0.113.0/24`);
      }
      if (cidr.endsWith('/0')) {
        throw new Error(`BuilderAccess: sshIngressCidr '${cidr}' opens SSH to the whole internet; give your own network's CIDR, or none and use Session Manager`);
      }
    }
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'Stemcell Farm builder instances',
      // Builders fetch packages from OS mirrors and talk to S3 and SSM.
      allowAllOutbound: true,
    });
    if (cidr !== undefined) this.securityGroup.addIngressRule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(22), 'SSH from the operators network');
    this.keyPair = new ec2.KeyPair(this, 'KeyPair', { type: ec2.KeyPairType.ED25519, format: ec2.KeyPairFormat.PEM });
  }
}
