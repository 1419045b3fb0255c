/**
 * register-ami: an AMI from the EBS snapshot of a stemcell's root disk,
 * registered the way the AWS CPI and the official light-stemcell builder do it,
 * named and tagged after the stemcell. Idempotent: the AMI name is unique per
 * build and EC2 refuses a second AMI of the same name in a region, so a re-run
 * (or a call racing this one) finds the AMI the first one made.
 */
import {
  CreateTagsCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  EC2Client,
  Image,
  RegisterImageCommand,
  RegisterImageCommandInput,
} from '@aws-sdk/client-ec2';
import {
  AmiStemcell,
  amiDescription,
  amiName,
  BOOT_MODES,
  BootMode,
  stemcellTags,
  validateAmiStemcell,
  validateBuildId,
} from '../stemcell/ami';
import { FailedError, UsageError } from '../errors';
import { eventObject, InvalidInputError, optionalString, region, requiredString } from '../aws/input';
import { EXAMPLES, isSnapshotId } from '../aws/identifiers';
import { errorCode, withRetries } from '../aws/retry';
import { hasTimeFor, RunOptions } from '../aws/runtime';

export const ROOT_DEVICE = '/dev/xvda';

export interface RegisterAmiInput {
  /** The region of the snapshot, where the AMI is registered. */
  readonly region: string;
  readonly snapshotId: string;
  readonly stemcell: AmiStemcell;
  readonly buildId: string;
  /** `v2.0`: instances launched from the AMI require IMDSv2. @default - not set, as upstream */
  readonly imdsSupport?: 'v2.0';
}

export type RegisterState = 'available' | 'pending' | 'snapshot-pending';

export interface RegisterAmiResult {
  readonly region: string;
  readonly name: string;
  /** Undefined while the snapshot is still being completed. */
  readonly imageId?: string;
  /** `available` when done; otherwise call again with the same input. */
  readonly state: RegisterState;
  readonly snapshotId: string;
  /** Whether this call found the AMI an earlier call registered. */
  readonly reused: boolean;
}

/** Check an input event; throws InvalidInputError, before any AWS call. */
export function parseRegisterAmiEvent(event: unknown): RegisterAmiInput {
  const e = eventObject(event, 'register-ami');
  const where = region(e, 'region');
  const snapshotId = requiredString(e, 'snapshotId', isSnapshotId, EXAMPLES.snapshot);
  if (e.stemcell === undefined) throw new InvalidInputError("'stemcell' is required: { name, version, operatingSystem, bootMode? } from the heavy stemcell's stemcell.MF");
  const stemcellEvent = eventObject(e.stemcell, "register-ami 'stemcell'");
  const bootMode = optionalString(stemcellEvent, 'bootMode');
  if (bootMode !== undefined && !BOOT_MODES.includes(bootMode as BootMode)) {
    throw new InvalidInputError(`'stemcell.bootMode' is '${bootMode}'; use one of ${BOOT_MODES.join(', ')}`);
  }
  const imdsSupport = optionalString(e, 'imdsSupport');
  if (imdsSupport !== undefined && imdsSupport !== 'v2.0') throw new InvalidInputError(`'imdsSupport' can only be 'v2.0' (or left out), got '${imdsSupport}'`);
  try {
    return {
      region: where,
      snapshotId,
      stemcell: validateAmiStemcell({
        name: requiredString(stemcellEvent, 'name', undefined, 'bosh-aws-xen-hvm-ubuntu-jammy-go_agent'),
        version: requiredString(stemcellEvent, 'version', undefined, "'1.260'"),
        operatingSystem: requiredString(stemcellEvent, 'operatingSystem', undefined, 'ubuntu-jammy'),
        bootMode: bootMode as BootMode | undefined,
      }),
      buildId: validateBuildId(requiredString(e, 'buildId', undefined, '20261122T0500')),
      imdsSupport: imdsSupport as 'v2.0' | undefined,
    };
  } catch (err) {
    if (err instanceof UsageError) throw new InvalidInputError(err.message);
    throw err;
  }
}

/** The RegisterImage request for an input: every parameter in one place. */
export function registerImageRequest(input: RegisterAmiInput): RegisterImageCommandInput {
  const name = amiName(input.stemcell, input.buildId);
  return {
    Name: name,
    Description: amiDescription(input.stemcell),
    Architecture: 'x86_64',
    VirtualizationType: 'hvm',
    RootDeviceName: ROOT_DEVICE,
    BlockDeviceMappings: [{ DeviceName: ROOT_DEVICE, Ebs: { SnapshotId: input.snapshotId, DeleteOnTermination: true } }],
    EnaSupport: true,
    SriovNetSupport: 'simple',
    BootMode: input.stemcell.bootMode ?? 'legacy-bios',
    ...(input.imdsSupport ? { ImdsSupport: input.imdsSupport } : {}),
    TagSpecifications: [{ ResourceType: 'image', Tags: stemcellTags(input.stemcell, input.buildId) }],
  };
}

function rootSnapshot(image: Image): string | undefined {
  return image.BlockDeviceMappings?.find((m) => m.DeviceName === image.RootDeviceName)?.Ebs?.SnapshotId;
}

async function findByName(ec2: EC2Client, name: string, options: RunOptions): Promise<Image | undefined> {
  const out = await withRetries(() => ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'name', Values: [name] }] })), options.clock);
  return out.Images?.[0];
}

/** The image's state; a just-registered image may not be visible yet (eventual consistency). */
async function imageState(ec2: EC2Client, imageId: string, options: RunOptions): Promise<Image | undefined> {
  try {
    const out = await withRetries(() => ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] })), options.clock);
    return out.Images?.[0];
  } catch (e) {
    if (errorCode(e) === 'InvalidAMIID.NotFound') return undefined;
    throw e;
  }
}

/** Wait for the snapshot to complete; false if the deadline comes first. */
async function snapshotReady(ec2: EC2Client, snapshotId: string, options: RunOptions): Promise<boolean> {
  for (;;) {
    let snapshot;
    try {
      snapshot = (await withRetries(() => ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] })), options.clock)).Snapshots?.[0];
    } catch (e) {
      if (errorCode(e) === 'InvalidSnapshot.NotFound') throw new InvalidInputError(`snapshot ${snapshotId} does not exist in this region (or this account cannot see it)`);
      throw e;
    }
    if (!snapshot) throw new InvalidInputError(`snapshot ${snapshotId} does not exist in this region`);
    if (snapshot.State === 'completed') return true;
    if (snapshot.State === 'error') throw new FailedError(`snapshot ${snapshotId} is in state error (${snapshot.StateMessage ?? 'no reason given'}); make a new one`);
    if (!hasTimeFor(options, options.pollMs)) return false;
    await options.clock.sleep(options.pollMs);
  }
}

async function waitAvailable(ec2: EC2Client, imageId: string, options: RunOptions): Promise<'available' | 'pending'> {
  for (;;) {
    const image = await imageState(ec2, imageId, options);
    if (image?.State === 'available') return 'available';
    if (image && ['failed', 'invalid', 'error', 'deregistered'].includes(image.State ?? '')) {
      throw new FailedError(`AMI ${imageId} is ${image.State}: ${image.StateReason?.Message ?? 'no reason given'}`);
    }
    if (!hasTimeFor(options, options.pollMs)) return 'pending';
    await options.clock.sleep(options.pollMs);
  }
}

export async function registerAmi(ec2: EC2Client, input: RegisterAmiInput, options: RunOptions): Promise<RegisterAmiResult> {
  const request = registerImageRequest(input);
  const name = request.Name!;
  const base = { region: input.region, name, snapshotId: input.snapshotId };

  let imageId: string | undefined;
  let reused = false;
  const existing = await findByName(ec2, name, options);
  if (existing) {
    const snapshot = rootSnapshot(existing);
    if (snapshot !== input.snapshotId) {
      throw new InvalidInputError(`AMI '${name}' (${existing.ImageId}) already exists, made from snapshot ${snapshot}, not ${input.snapshotId}; give this build its own build id`);
    }
    imageId = existing.ImageId!;
    reused = true;
  } else {
    if (!(await snapshotReady(ec2, input.snapshotId, options))) return { ...base, state: 'snapshot-pending', reused };
    try {
      imageId = (await withRetries(() => ec2.send(new RegisterImageCommand(request)), options.clock)).ImageId!;
    } catch (e) {
      // Another call registered it between our look and our request.
      if (errorCode(e) !== 'InvalidAMIName.Duplicate') throw e;
      const raced = await findByName(ec2, name, options);
      if (!raced) throw e;
      imageId = raced.ImageId!;
      reused = true;
    }
  }
  // The snapshot carries the same tags, so the cleanup finds it with its AMI.
  await withRetries(() => ec2.send(new CreateTagsCommand({ Resources: [input.snapshotId], Tags: request.TagSpecifications![0].Tags })), options.clock);
  const state = await waitAvailable(ec2, imageId, options);
  return { ...base, imageId, state, reused };
}
