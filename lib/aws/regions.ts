/**
 * Which regions a call works in: the account's enabled regions in the
 * partition (opt-in regions only when opted in), narrowed by an include or an
 * exclude list. Copy-ami and cleanup choose their regions the same way.
 */
import { DescribeRegionsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { EventObject, InvalidInputError, regionList } from './input';
import { withRetries } from './retry';
import { RunOptions } from './runtime';

export interface RegionSelection {
  /** Only these regions. @default - every region the account has enabled */
  readonly includeRegions?: readonly string[];
  /** Not these regions. @default - none */
  readonly excludeRegions?: readonly string[];
}

export function parseRegionSelection(e: EventObject): RegionSelection {
  const includeRegions = regionList(e, 'includeRegions');
  const excludeRegions = regionList(e, 'excludeRegions');
  if (includeRegions && excludeRegions) throw new InvalidInputError("give 'includeRegions' or 'excludeRegions', not both");
  if (includeRegions?.length === 0) throw new InvalidInputError("'includeRegions' is empty; leave it out to copy to every enabled region");
  return { includeRegions, excludeRegions };
}

/**
 * The selected regions, sorted. Regions that do not exist in the partition,
 * or are included but not enabled, are refused.
 */
export async function selectedRegions(ec2: EC2Client, selection: RegionSelection, options: RunOptions): Promise<string[]> {
  const out = await withRetries(() => ec2.send(new DescribeRegionsCommand({ AllRegions: true })), options.clock);
  const all = new Map((out.Regions ?? []).map((r) => [r.RegionName!, r.OptInStatus ?? 'opt-in-not-required']));
  const enabled = [...all].filter(([, status]) => status !== 'not-opted-in').map(([name]) => name);
  const unknown = [...(selection.includeRegions ?? []), ...(selection.excludeRegions ?? [])].filter((r) => !all.has(r));
  if (unknown.length > 0) throw new InvalidInputError(`${unknown.join(', ')}: no such region in this partition; regions here are ${[...all.keys()].sort().join(', ')}`);
  const notEnabled = (selection.includeRegions ?? []).filter((r) => !enabled.includes(r));
  if (notEnabled.length > 0) throw new InvalidInputError(`${notEnabled.join(', ')}: not enabled in this account (opt-in region); enable it or leave it out`);
  const chosen = selection.includeRegions ?? enabled.filter((r) => !(selection.excludeRegions ?? []).includes(r));
  return [...new Set(chosen)].sort();
}
