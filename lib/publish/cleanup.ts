/**
 * cleanup: deregisters the farm's AMIs that were never published
 * (`published=false`) and are older than a number of days, with their
 * snapshots, in every enabled region. A dry run (the default) lists what would
 * go and changes nothing.
 */
import { DeleteSnapshotCommand, DeregisterImageCommand, DescribeImagesCommand, EC2Client, Image } from '@aws-sdk/client-ec2';
import { AMI_TAG, MANAGED_BY } from '../stemcell/ami';
import { Ec2ForRegion } from '../aws/clients';
import { snapshotIds } from '../aws/images';
import { eventObject, optionalBoolean, optionalInteger } from '../aws/input';
import { mapWithConcurrency } from '../aws/pool';
import { parseRegionSelection, RegionSelection, selectedRegions } from '../aws/regions';
import { errorMessage, withRetries } from '../aws/retry';
import { RunOptions } from '../aws/runtime';

export interface CleanupInput extends RegionSelection {
  /** Only AMIs created more than this many days ago. @default 7 */
  readonly olderThanDays: number;
  /** List, change nothing. @default true */
  readonly dryRun: boolean;
}

export interface CleanedImage {
  readonly region: string;
  readonly imageId: string;
  readonly name: string;
  readonly created: string;
  readonly snapshotIds: string[];
  readonly action: 'would-deregister' | 'deregistered' | 'failed';
  readonly reason?: string;
}

export interface CleanupResult {
  readonly dryRun: boolean;
  readonly olderThanDays: number;
  readonly images: CleanedImage[];
  /** Region -> reason, for regions that could not be listed. */
  readonly failedRegions: Record<string, string>;
}

const DAY_MS = 24 * 60 * 60 * 1000;

export function parseCleanupEvent(event: unknown): CleanupInput {
  const e = eventObject(event ?? {}, 'cleanup');
  return { ...parseRegionSelection(e), olderThanDays: optionalInteger(e, 'olderThanDays', 7, 0, 3650), dryRun: optionalBoolean(e, 'dryRun', true) };
}

async function unpublished(ec2: EC2Client, options: RunOptions): Promise<Image[]> {
  const images: Image[] = [];
  let token: string | undefined;
  do {
    const out = await withRetries(
      () =>
        ec2.send(
          new DescribeImagesCommand({
            Owners: ['self'],
            Filters: [
              { Name: `tag:${AMI_TAG.managedBy}`, Values: [MANAGED_BY] },
              { Name: `tag:${AMI_TAG.published}`, Values: ['false'] },
            ],
            NextToken: token,
          }),
        ),
      options.clock,
    );
    images.push(...(out.Images ?? []));
    token = out.NextToken;
  } while (token);
  return images;
}

async function cleanRegion(ec2: EC2Client, regionName: string, input: CleanupInput, options: RunOptions): Promise<CleanedImage[]> {
  const cutoff = options.clock.now() - input.olderThanDays * DAY_MS;
  const old = (await unpublished(ec2, options)).filter((i) => Date.parse(i.CreationDate ?? '') < cutoff).sort((a, b) => a.ImageId!.localeCompare(b.ImageId!));
  const results: CleanedImage[] = [];
  for (const image of old) {
    const entry = { region: regionName, imageId: image.ImageId!, name: image.Name ?? '', created: image.CreationDate ?? '', snapshotIds: snapshotIds(image) };
    if (input.dryRun) {
      results.push({ ...entry, action: 'would-deregister' });
      continue;
    }
    try {
      // The snapshots can only go once no AMI uses them.
      await withRetries(() => ec2.send(new DeregisterImageCommand({ ImageId: image.ImageId })), options.clock);
      for (const snapshotId of entry.snapshotIds) {
        await withRetries(() => ec2.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId })), options.clock);
      }
      results.push({ ...entry, action: 'deregistered' });
    } catch (e) {
      results.push({ ...entry, action: 'failed', reason: errorMessage(e) });
    }
  }
  return results;
}

export async function cleanup(clients: Ec2ForRegion, homeRegion: string, input: CleanupInput, options: RunOptions): Promise<CleanupResult> {
  const selected = await selectedRegions(clients(homeRegion), input, options);
  const failedRegions: Record<string, string> = {};
  const perRegion = await mapWithConcurrency(selected, 4, async (r) => {
    try {
      return await cleanRegion(clients(r), r, input, options);
    } catch (e) {
      failedRegions[r] = errorMessage(e);
      return [];
    }
  });
  return { dryRun: input.dryRun, olderThanDays: input.olderThanDays, images: perRegion.flat(), failedRegions };
}
