import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { BUILDS_TABLE } from '../farm/records';
import { VERSIONS_KEY } from '../farm/versions';

export interface BuildHistoryProps {
  /**
   * What becomes of the tables when the stack is deleted. Keep them: a new
   * farm that starts its counters again would hand out versions already built.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * What the farm remembers of its builds, in DynamoDB: the version counter of
 * each stemcell line, and a record of every build (queryable by line and by
 * time). On demand, encrypted, with point-in-time recovery and deletion
 * protection; the layouts are lib/farm's (versions.ts, records.ts).
 */
export class BuildHistory extends Construct {
  readonly versionsTable: dynamodb.Table;
  readonly buildsTable: dynamodb.Table;

  constructor(scope: Construct, id: string, props: BuildHistoryProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const common = {
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: removalPolicy === RemovalPolicy.RETAIN,
      removalPolicy,
    };
    const S = dynamodb.AttributeType.STRING;
    this.versionsTable = new dynamodb.Table(this, 'Versions', {
      ...common,
      partitionKey: { name: VERSIONS_KEY.partition, type: S },
      sortKey: { name: VERSIONS_KEY.sort, type: S },
    });
    this.buildsTable = new dynamodb.Table(this, 'Builds', { ...common, partitionKey: { name: BUILDS_TABLE.partitionKey, type: S } });
    for (const index of Object.values(BUILDS_TABLE.indexes)) {
      this.buildsTable.addGlobalSecondaryIndex({ indexName: index.name, partitionKey: { name: index.partitionKey, type: S }, sortKey: { name: index.sortKey, type: S } });
    }
  }
}
