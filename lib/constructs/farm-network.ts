import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface FarmNetworkProps {
  /**
   * Availability zones to spread subnets over. The farm stack is
   * region-agnostic, and CDK can only name two zones without a lookup.
   * @default 2
   */
  readonly maxAzs?: number;
  /**
   * Put builders in private subnets that reach out through NAT gateways.
   * Public subnets with no NAT cost nothing per hour; builders there still get
   * no inbound traffic unless the security group allows it.
   * @default false
   */
  readonly privateSubnets?: boolean;
  /**
   * NAT gateways when `privateSubnets` is true (one per zone is highly available, one is cheaper).
   * @default 1
   */
  readonly natGateways?: number;
  /**
   * How long VPC flow logs are kept.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly flowLogRetention?: logs.RetentionDays;
}

/** The farm VPC: subnets for builder instances, flow logs, and an S3 gateway endpoint. */
export class FarmNetwork extends Construct {
  readonly vpc: ec2.Vpc;
  /** Where builder instances are launched. */
  readonly builderSubnets: ec2.SubnetSelection;
  readonly flowLogGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: FarmNetworkProps = {}) {
    super(scope, id);
    const maxAzs = props.maxAzs ?? 2;
    if (!Number.isInteger(maxAzs) || maxAzs < 1 || maxAzs > 2) {
      throw new Error(`FarmNetwork: maxAzs must be 1 or 2, got ${maxAzs}; the region-agnostic farm stack can place subnets in two zones at most`);
    }
    const privateSubnets = props.privateSubnets ?? false;
    if (!privateSubnets && props.natGateways !== undefined) {
      throw new Error('FarmNetwork: natGateways only applies with privateSubnets: true; remove it or set privateSubnets');
    }
    const natGateways = privateSubnets ? props.natGateways ?? 1 : 0;
    if (!Number.isInteger(natGateways) || natGateways < 0 || natGateways > maxAzs) {
      throw new Error(`FarmNetwork: natGateways must be between 1 and maxAzs (${maxAzs}), got ${natGateways}`);
    }

    const subnetConfiguration: ec2.SubnetConfiguration[] = [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24, mapPublicIpOnLaunch: !privateSubnets }];
    if (privateSubnets) subnetConfiguration.push({ name: 'builders', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 });
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr('10.42.0.0/16'),
      maxAzs,
      natGateways,
      subnetConfiguration,
    });
    this.builderSubnets = { subnetType: privateSubnets ? ec2.SubnetType.PRIVATE_WITH_EGRESS : ec2.SubnetType.PUBLIC };

    this.flowLogGroup = new logs.LogGroup(this, 'FlowLogs', { retention: props.flowLogRetention ?? logs.RetentionDays.THREE_MONTHS });
    this.vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(this.flowLogGroup),
      trafficType: ec2.FlowLogTrafficType.ALL,
    });
    // OS images and stemcells are gigabytes; keep that traffic off NAT gateways and the internet.
    this.vpc.addGatewayEndpoint('S3', { service: ec2.GatewayVpcEndpointAwsService.S3 });
  }
}
