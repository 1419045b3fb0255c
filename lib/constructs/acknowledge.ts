import { Stack, Validations } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { IConstruct } from 'constructs';

/**
 * Acknowledge cdk-nag's AwsSolutions-IAM5 finding for a policy that grants on
 * `<bucket ARN>/<objects>` (a key pattern, not every object), with the reason.
 * The finding names the bucket by its logical id, so it is found here once.
 */
export function acknowledgeBucketObjects(scope: IConstruct, bucket: s3.IBucket, objects: string, reason: string): void {
  const logicalId = Stack.of(scope).resolve((bucket.node.defaultChild as s3.CfnBucket).logicalId);
  Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[Resource::<${logicalId}.Arn>/${objects}]`, reason });
}
