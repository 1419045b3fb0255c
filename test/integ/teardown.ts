/**
 * Test harness of the integ-runner tests only: a function that removes the
 * AMIs and snapshots a test made, in the regions it is given, by their
 * build-id tag (invoked with { buildId, regions }).
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AMI_TAG } from '../../lib/stemcell/ami';

export function teardownFunction(stack: Stack): lambda.Function {
  const teardown = new lambda.Function(stack, 'Teardown', {
    runtime: lambda.Runtime.NODEJS_22_X,
    handler: 'index.handler',
    timeout: Duration.minutes(5),
    code: lambda.Code.fromInline(`
const { EC2Client, DescribeImagesCommand, DeregisterImageCommand, DeleteSnapshotCommand, DescribeSnapshotsCommand } = require('@aws-sdk/client-ec2');
exports.handler = async (event) => {
  const removed = [];
  for (const region of event.regions) {
    const ec2 = new EC2Client({ region });
    const filter = [{ Name: 'tag:${AMI_TAG.buildId}', Values: [event.buildId] }];
    for (const image of (await ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: filter }))).Images ?? []) {
      await ec2.send(new DeregisterImageCommand({ ImageId: image.ImageId }));
      removed.push(image.ImageId);
    }
    for (const snapshot of (await ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: filter }))).Snapshots ?? []) {
      await ec2.send(new DeleteSnapshotCommand({ SnapshotId: snapshot.SnapshotId }));
      removed.push(snapshot.SnapshotId);
    }
  }
  return { removed: removed.length };
};`),
  });
  teardown.addToRolePolicy(new iam.PolicyStatement({ actions: ['ec2:DescribeImages', 'ec2:DescribeSnapshots'], resources: ['*'] }));
  // Only what carries a build id: the farm's AMIs and snapshots.
  teardown.addToRolePolicy(new iam.PolicyStatement({ actions: ['ec2:DeregisterImage', 'ec2:DeleteSnapshot'], resources: ['*'], conditions: { StringLike: { [`aws:ResourceTag/${AMI_TAG.buildId}`]: '*' } } }));
  return teardown;
}
