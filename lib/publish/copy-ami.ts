/**
 * copy-ami: the registered AMI in every region the account has enabled (or a
 * chosen few), with a bounded number of copies in flight, retries with backoff
 * and jitter, and the same tags; then launch and snapshot permissions for the
 * chosen visibility. Each call carries on from what earlier calls did (copies
 * are found by their `source-image-id` tag, and CopyImage carries a client
 * token), so an Automation loop calls it until `done`, past the 15 minutes one
 * Lambda call may take. `checkCopies` reports progress and changes nothing.
 */
import {
  CopyImageCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  EC2Client,
  GetImageBlockPublicAccessStateCommand,
  Image,
  LaunchPermission,
  ModifyImageAttributeCommand,
  ModifySnapshotAttributeCommand,
  Tag,
} from '@aws-sdk/client-ec2';
import { AMI_TAG, idempotencyToken, MANAGED_BY } from '../stemcell/ami';
import { EXAMPLES, isAccountId, isAmiId, isKmsKeyReference, isOrganizationalUnitArn, isOrganizationArn, isRegionName, ShareWith } from '../aws/identifiers';
import { Ec2ForRegion } from '../aws/clients';
import { snapshotIds } from '../aws/images';
import {
  eventObject,
  InvalidInputError,
  optionalBoolean,
  optionalInteger,
  optionalString,
  optionalStringList,
  region,
  requiredString,
} from '../aws/input';
import { mapWithConcurrency } from '../aws/pool';
import { parseRegionSelection, RegionSelection, selectedRegions } from '../aws/regions';
import { errorCode, errorMessage, isRetryable, withRetries } from '../aws/retry';
import { hasTimeFor, RunOptions } from '../aws/runtime';

export type Visibility = 'private' | 'shared' | 'public';
export const VISIBILITIES: readonly Visibility[] = ['private', 'shared', 'public'];

export interface CopyAmiInput extends RegionSelection {
  readonly sourceRegion: string;
  readonly sourceImageId: string;
  /** @default 'private' */
  readonly visibility: Visibility;
  /** Who a `shared` AMI is shared with. */
  readonly shareWith: ShareWith;
  /** Encrypt the copies' snapshots. @default false, or true when kmsKeyIds are given */
  readonly encrypted: boolean;
  /** Per destination region, the KMS key (id, alias or ARN) for the copies. @default - the account's default EBS key */
  readonly kmsKeyIds: Readonly<Record<string, string>>;
  /** Copies in flight at once. @default 8 */
  readonly concurrency: number;
  /** Replace copies that failed in an earlier call. @default false */
  readonly retryFailed: boolean;
}

export type RegionState = 'available' | 'pending' | 'not-started' | 'failed';

export interface RegionReport {
  readonly region: string;
  readonly state: RegionState;
  readonly imageId?: string;
  /** Why a region failed, or why it has not started yet. */
  readonly reason?: string;
}

export interface CopyAmiResult {
  readonly sourceRegion: string;
  readonly sourceImageId: string;
  /** True when no region is pending or not started: every region is available or failed. */
  readonly done: boolean;
  /** Region -> AMI for every region whose AMI is available with its permissions, the source region included. */
  readonly amis: Record<string, string>;
  readonly pending: string[];
  /** Region -> reason, for regions that failed for good. */
  readonly failed: Record<string, string>;
  readonly regions: RegionReport[];
}

/** Making an AMI public is switched off for the account in some regions. */
export class PublicSharingBlockedError extends Error {
  constructor(regions: readonly string[]) {
    super(
      `block public access for AMIs is on in ${regions.join(', ')}, so the AMIs cannot be made public there. ` +
        `Turn it off in each (aws ec2 disable-image-block-public-access --region REGION; it takes up to 10 minutes), ` +
        `leave those regions out (excludeRegions), or publish with visibility 'private' or 'shared'.`,
    );
    this.name = 'PublicSharingBlocked';
  }
}

const DEFAULT_CONCURRENCY = 8;
const FAILED_STATES = ['failed', 'invalid', 'error', 'deregistered'];

/** Check an input event; throws InvalidInputError, before any AWS call. */
export function parseCopyAmiEvent(event: unknown): CopyAmiInput {
  const e = eventObject(event, 'copy-ami');
  const visibility = (optionalString(e, 'visibility') ?? 'private') as Visibility;
  if (!VISIBILITIES.includes(visibility)) throw new InvalidInputError(`'visibility' is '${visibility}'; use one of ${VISIBILITIES.join(', ')}`);
  const share = e.shareWith === undefined ? {} : eventObject(e.shareWith, "copy-ami 'shareWith'");
  const shareWith: ShareWith = {
    accounts: optionalStringList(share, 'accounts', isAccountId, `["${EXAMPLES.account}"]`) ?? [],
    organizationArns: optionalStringList(share, 'organizationArns', isOrganizationArn, `["${EXAMPLES.organizationArn}"]`) ?? [],
    organizationalUnitArns: optionalStringList(share, 'organizationalUnitArns', isOrganizationalUnitArn, `["${EXAMPLES.organizationalUnitArn}"]`) ?? [],
  };
  const sharesWithSomeone = shareWith.accounts.length + shareWith.organizationArns.length + shareWith.organizationalUnitArns.length > 0;
  if (visibility === 'shared' && !sharesWithSomeone) throw new InvalidInputError("visibility 'shared' needs 'shareWith' with at least one account, organization or organizational unit");
  if (visibility !== 'shared' && sharesWithSomeone) throw new InvalidInputError(`'shareWith' is only for visibility 'shared' (visibility is '${visibility}')`);
  const kmsEvent = e.kmsKeyIds === undefined ? {} : eventObject(e.kmsKeyIds, "copy-ami 'kmsKeyIds'");
  const kmsKeyIds: Record<string, string> = {};
  for (const keyRegion of Object.keys(kmsEvent)) {
    if (!isRegionName(keyRegion)) throw new InvalidInputError(`'kmsKeyIds' names '${keyRegion}', which is not a region name like us-east-1`);
    kmsKeyIds[keyRegion] = requiredString(kmsEvent, keyRegion, isKmsKeyReference, EXAMPLES.kmsKey);
  }
  const encrypted = optionalBoolean(e, 'encrypted', Object.keys(kmsKeyIds).length > 0);
  if (!encrypted && Object.keys(kmsKeyIds).length > 0) throw new InvalidInputError("'kmsKeyIds' are given but 'encrypted' is false; drop one");
  if (encrypted && visibility === 'public') throw new InvalidInputError('encrypted AMIs cannot be made public; choose visibility private or shared');
  return {
    sourceRegion: region(e, 'sourceRegion'),
    sourceImageId: requiredString(e, 'sourceImageId', isAmiId, EXAMPLES.ami),
    ...parseRegionSelection(e),
    visibility,
    shareWith,
    encrypted,
    kmsKeyIds,
    concurrency: optionalInteger(e, 'concurrency', DEFAULT_CONCURRENCY, 1, 50),
    retryFailed: optionalBoolean(e, 'retryFailed', false),
  };
}

async function describeSource(ec2: EC2Client, input: CopyAmiInput, options: RunOptions): Promise<Image> {
  let image: Image | undefined;
  try {
    image = (await withRetries(() => ec2.send(new DescribeImagesCommand({ ImageIds: [input.sourceImageId] })), options.clock)).Images?.[0];
  } catch (e) {
    if (errorCode(e) !== 'InvalidAMIID.NotFound' && errorCode(e) !== 'InvalidAMIID.Malformed') throw e;
  }
  if (!image) throw new InvalidInputError(`AMI ${input.sourceImageId} does not exist in ${input.sourceRegion}`);
  if (image.State !== 'available') throw new InvalidInputError(`AMI ${input.sourceImageId} is ${image.State}, not available; wait for register-ami to report it available`);
  return image;
}

/** Tags of a copy: the source's own (stemcell name, version, OS, build id, published=false) and where it came from. */
export function copyTags(source: Image, input: CopyAmiInput): Tag[] {
  const own = (source.Tags ?? []).filter((t) => !t.Key!.startsWith('aws:') && t.Key !== AMI_TAG.sourceImage && t.Key !== AMI_TAG.sourceRegion && t.Key !== AMI_TAG.published && t.Key !== AMI_TAG.managedBy);
  return [
    { Key: AMI_TAG.managedBy, Value: MANAGED_BY },
    ...own,
    { Key: AMI_TAG.published, Value: 'false' },
    { Key: AMI_TAG.sourceImage, Value: input.sourceImageId },
    { Key: AMI_TAG.sourceRegion, Value: input.sourceRegion },
  ];
}

/** The copy of the source AMI in `ec2`'s region, if any: a usable one before a failed one. */
async function findCopy(ec2: EC2Client, sourceImageId: string, options: RunOptions): Promise<Image | undefined> {
  const out = await withRetries(
    () => ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: `tag:${AMI_TAG.sourceImage}`, Values: [sourceImageId] }] })),
    options.clock,
  );
  const images = out.Images ?? [];
  return images.find((i) => !FAILED_STATES.includes(i.State ?? '')) ?? images[0];
}

async function imageById(ec2: EC2Client, imageId: string, options: RunOptions): Promise<Image | undefined> {
  try {
    return (await withRetries(() => ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] })), options.clock)).Images?.[0];
  } catch (e) {
    // A copy just started may not be visible yet.
    if (errorCode(e) === 'InvalidAMIID.NotFound') return undefined;
    throw e;
  }
}

function launchPermissions(input: CopyAmiInput): LaunchPermission[] {
  if (input.visibility === 'public') return [{ Group: 'all' }];
  if (input.visibility === 'private') return [];
  return [
    ...input.shareWith.accounts.map((UserId) => ({ UserId })),
    ...input.shareWith.organizationArns.map((OrganizationArn) => ({ OrganizationArn })),
    ...input.shareWith.organizationalUnitArns.map((OrganizationalUnitArn) => ({ OrganizationalUnitArn })),
  ];
}

/**
 * Launch permissions for the visibility, and snapshot permissions to match:
 * accounts an AMI is shared with may read its snapshots (which copying the AMI
 * needs). Public AMIs launch without public snapshots, so those stay private;
 * organizations cannot be granted snapshot permissions at all.
 */
export async function applyVisibility(ec2: EC2Client, regionName: string, image: Image, input: CopyAmiInput, options: RunOptions): Promise<void> {
  const add = launchPermissions(input);
  if (add.length === 0) return;
  try {
    await withRetries(() => ec2.send(new ModifyImageAttributeCommand({ ImageId: image.ImageId, LaunchPermission: { Add: add } })), options.clock);
  } catch (e) {
    if (input.visibility === 'public' && /block public access/i.test(errorMessage(e))) throw new PublicSharingBlockedError([regionName]);
    throw e;
  }
  if (input.shareWith.accounts.length === 0) return;
  for (const snapshotId of snapshotIds(image)) {
    await withRetries(
      () => ec2.send(new ModifySnapshotAttributeCommand({ SnapshotId: snapshotId, Attribute: 'createVolumePermission', OperationType: 'add', UserIds: [...input.shareWith.accounts] })),
      options.clock,
    );
  }
}

/** Refuse a public publication up front where the account blocks public AMIs, before anything is copied. */
async function checkPublicSharing(clients: Ec2ForRegion, regions: readonly string[], options: RunOptions): Promise<void> {
  const states = await mapWithConcurrency(regions, 8, async (r) => {
    const out = await withRetries(() => clients(r).send(new GetImageBlockPublicAccessStateCommand({})), options.clock);
    return out.ImageBlockPublicAccessState;
  });
  const blocked = regions.filter((_, i) => states[i] === 'block-new-sharing');
  if (blocked.length > 0) throw new PublicSharingBlockedError(blocked);
}

interface CopyContext {
  readonly clients: Ec2ForRegion;
  readonly input: CopyAmiInput;
  readonly source: Image;
  readonly options: RunOptions;
  /**
   * Copies in flight, this call's and earlier calls'. A worker that runs out
   * of time leaves its copy in flight, so the pool's size alone does not bound
   * them.
   */
  inFlight: number;
}

async function startCopy(ctx: CopyContext, regionName: string, replacing?: string): Promise<string> {
  const { input, source, options } = ctx;
  const kmsKeyId = input.kmsKeyIds[regionName];
  const tags = copyTags(source, input);
  const request = new CopyImageCommand({
    SourceRegion: input.sourceRegion,
    SourceImageId: input.sourceImageId,
    Name: source.Name,
    Description: source.Description,
    ...(input.encrypted ? { Encrypted: true } : {}),
    ...(kmsKeyId ? { KmsKeyId: kmsKeyId } : {}),
    ClientToken: idempotencyToken('copy-ami', input.sourceImageId, regionName, replacing ?? ''),
    TagSpecifications: [
      { ResourceType: 'image', Tags: tags },
      { ResourceType: 'snapshot', Tags: tags },
    ],
  });
  // The per-region limit of copies in flight clears as other copies finish:
  // keep backing off until the deadline.
  const out = await withRetries(() => ctx.clients(regionName).send(request), options.clock, { maxAttempts: 30, baseDelayMs: 2000, maxDelayMs: 60_000, deadline: options.deadline });
  return out.ImageId!;
}

function failedReport(regionName: string, copy: Image): RegionReport {
  return { region: regionName, state: 'failed', imageId: copy.ImageId, reason: `copy ${copy.ImageId} is ${copy.State}: ${copy.StateReason?.Message ?? 'no reason given'}` };
}

async function copyToRegion(ctx: CopyContext, regionName: string): Promise<RegionReport> {
  const { clients, input, options } = ctx;
  const ec2 = clients(regionName);
  try {
    let copy = await findCopy(ec2, input.sourceImageId, options);
    let imageId = copy?.ImageId;
    const failedCopy = copy && FAILED_STATES.includes(copy.State ?? '');
    if (failedCopy && !input.retryFailed) return failedReport(regionName, copy!);
    if (!copy || failedCopy) {
      if (!hasTimeFor(options, 0)) return { region: regionName, state: 'not-started', reason: 'out of time in this call' };
      if (ctx.inFlight >= input.concurrency) return { region: regionName, state: 'not-started', reason: `waiting for one of the ${ctx.inFlight} copies in flight to finish` };
      if (failedCopy) await withRetries(() => ec2.send(new DeregisterImageCommand({ ImageId: imageId })), options.clock);
      ctx.inFlight++;
      try {
        imageId = await startCopy(ctx, regionName, failedCopy ? imageId : undefined);
      } catch (e) {
        ctx.inFlight--;
        if (isRetryable(e)) return { region: regionName, state: 'not-started', reason: `still refused when this call ran out of retries or time (${errorMessage(e)})` };
        throw e;
      }
    } else {
      // An earlier call's copy: in flight until the loop below sees it finish.
      ctx.inFlight++;
    }
    for (;;) {
      copy = await imageById(ec2, imageId!, options);
      if (copy?.State === 'available') {
        ctx.inFlight--;
        await applyVisibility(ec2, regionName, copy, input, options);
        return { region: regionName, state: 'available', imageId };
      }
      if (copy && FAILED_STATES.includes(copy.State ?? '')) {
        ctx.inFlight--;
        return failedReport(regionName, copy);
      }
      if (!hasTimeFor(options, options.pollMs)) return { region: regionName, state: 'pending', imageId };
      await options.clock.sleep(options.pollMs);
    }
  } catch (e) {
    if (e instanceof PublicSharingBlockedError) throw e;
    return { region: regionName, state: 'failed', reason: errorMessage(e) };
  }
}

function summarize(input: Pick<CopyAmiInput, 'sourceRegion' | 'sourceImageId'>, reports: RegionReport[]): CopyAmiResult {
  const sorted = [...reports].sort((a, b) => a.region.localeCompare(b.region));
  const amis: Record<string, string> = {};
  const failed: Record<string, string> = {};
  for (const r of sorted) {
    if (r.state === 'available') amis[r.region] = r.imageId!;
    if (r.state === 'failed') failed[r.region] = r.reason ?? 'failed';
  }
  const pending = sorted.filter((r) => r.state === 'pending' || r.state === 'not-started').map((r) => r.region);
  return { sourceRegion: input.sourceRegion, sourceImageId: input.sourceImageId, done: pending.length === 0, amis, pending, failed, regions: sorted };
}

/** Copy the AMI to every target region, or carry on copying; see the module comment. */
export async function copyAmi(clients: Ec2ForRegion, input: CopyAmiInput, options: RunOptions): Promise<CopyAmiResult> {
  const sourceEc2 = clients(input.sourceRegion);
  const source = await describeSource(sourceEc2, input, options);
  const regions = (await selectedRegions(sourceEc2, input, options)).filter((r) => r !== input.sourceRegion);
  if (input.visibility === 'public') await checkPublicSharing(clients, [input.sourceRegion, ...regions], options);
  await applyVisibility(sourceEc2, input.sourceRegion, source, input, options);
  const ctx: CopyContext = { clients, input, source, options, inFlight: 0 };
  const reports = await mapWithConcurrency(regions, input.concurrency, (r) => copyToRegion(ctx, r));
  return summarize(input, [{ region: input.sourceRegion, state: 'available', imageId: input.sourceImageId }, ...reports]);
}

export type CheckCopiesInput = Pick<CopyAmiInput, 'sourceRegion' | 'sourceImageId' | 'includeRegions' | 'excludeRegions'> & { readonly concurrency?: number };

/** Where the copies stand, without starting, changing or sharing anything. */
export async function checkCopies(clients: Ec2ForRegion, input: CheckCopiesInput, options: RunOptions): Promise<CopyAmiResult> {
  const sourceEc2 = clients(input.sourceRegion);
  const regions = (await selectedRegions(sourceEc2, input, options)).filter((r) => r !== input.sourceRegion);
  const reports = await mapWithConcurrency(regions, input.concurrency ?? DEFAULT_CONCURRENCY, async (r): Promise<RegionReport> => {
    const copy = await findCopy(clients(r), input.sourceImageId, options);
    if (!copy) return { region: r, state: 'not-started' };
    if (copy.State === 'available') return { region: r, state: 'available', imageId: copy.ImageId };
    if (FAILED_STATES.includes(copy.State ?? '')) return failedReport(r, copy);
    return { region: r, state: 'pending', imageId: copy.ImageId };
  });
  return summarize(input, [{ region: input.sourceRegion, state: 'available', imageId: input.sourceImageId }, ...reports]);
}

/** Check a check event: the source and the region selection of the copy event. */
export function parseCheckEvent(event: unknown): CheckCopiesInput {
  const e = eventObject(event, 'copy-ami check');
  return { sourceRegion: region(e, 'sourceRegion'), sourceImageId: requiredString(e, 'sourceImageId', isAmiId, EXAMPLES.ami), ...parseRegionSelection(e) };
}
