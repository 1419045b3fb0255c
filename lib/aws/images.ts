import { Image } from '@aws-sdk/client-ec2';

/** The EBS snapshots an AMI is made of. */
export function snapshotIds(image: Image): string[] {
  return (image.BlockDeviceMappings ?? []).map((m) => m.Ebs?.SnapshotId).filter((s): s is string => typeof s === 'string');
}
