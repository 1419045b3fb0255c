/**
 * What changed between two stemcells or OS images, for whoever reads a weekly
 * rebuild: manifest fields, packages, files that no package change explains,
 * and the stemcell's other top-level files. Pure: snapshots in, a Diff out
 * (lib/diff/snapshot.ts reads the tarballs, lib/cli/diff.ts prints).
 */
import type { FsEntry } from '../check/fs-view';
import type { PackageVersion } from '../stemcell/packages-txt';
import { compareDebianVersions } from './debian-version';

export type SnapshotKind = 'stemcell' | 'os-image';

/** A file system entry with the sha256 of a regular file's content. */
export interface FileRecord extends FsEntry {
  readonly sha256?: string;
}

/** What was read of one stemcell or OS image. */
export interface Snapshot {
  /** The tarball as given on the command line. */
  readonly source: string;
  readonly kind: SnapshotKind;
  /** `bosh-aws-xen-hvm-ubuntu-jammy-go_agent 1.260`, `OS image of debian-bookworm`. */
  readonly label: string;
  /** A stemcell's stemcell.MF. */
  readonly manifest?: Readonly<Record<string, unknown>>;
  readonly infrastructure?: string;
  /** Installed packages: packages.txt of a stemcell, var/lib/dpkg/status of an OS image. */
  readonly packages: readonly PackageVersion[];
  /** Every entry of the root file system by absolute path; undefined when the files were not read. */
  readonly files?: ReadonlyMap<string, FileRecord>;
  /** The names of the packages that own each path (var/lib/dpkg/info/*.list). */
  readonly owners?: ReadonlyMap<string, ReadonlySet<string>>;
  /** A stemcell's top-level files but stemcell.MF and image, with their contents. */
  readonly topLevelFiles?: ReadonlyMap<string, Buffer>;
  /** Why something could not be read (a light stemcell has no disk, say). */
  readonly notes: readonly string[];
}

export interface ManifestChange {
  /** Dotted path into stemcell.MF: `version`, `cloud_properties.ami.us-east-1`. */
  readonly field: string;
  /** Undefined where the field is absent. */
  readonly from?: unknown;
  readonly to?: unknown;
}

export interface PackageChange {
  readonly name: string;
  /** `amd64`, or `amd64 -> all` when it changed too. */
  readonly architecture: string;
  readonly from: string;
  readonly to: string;
}

export interface PackageDiff {
  readonly added: readonly PackageVersion[];
  readonly removed: readonly PackageVersion[];
  readonly upgraded: readonly PackageChange[];
  readonly downgraded: readonly PackageChange[];
}

/** A file's state as the diff shows it. */
export interface FileState {
  readonly type: FsEntry['type'];
  /** Octal, `0644`. */
  readonly mode: string;
  /** `uid:gid`. */
  readonly owner: string;
  readonly sha256?: string;
  readonly linkTarget?: string;
}

export interface FileAddedOrRemoved extends FileState {
  readonly path: string;
  /** Packages that own the path (whose versions did not change). */
  readonly packages: readonly string[];
}

export type FileAspect = 'type' | 'content' | 'mode' | 'owner' | 'link target';

export interface FileChange {
  readonly path: string;
  readonly changed: readonly FileAspect[];
  readonly from: FileState;
  readonly to: FileState;
  readonly packages: readonly string[];
}

export interface FileDiff {
  readonly added: readonly FileAddedOrRemoved[];
  readonly removed: readonly FileAddedOrRemoved[];
  readonly changed: readonly FileChange[];
}

export interface TopLevelFileChange {
  readonly name: string;
  readonly change: 'added' | 'removed' | 'changed';
  /** For line lists (dev_tools_file_list.txt): lines only in the new file, and only in the old. */
  readonly linesAdded?: number;
  readonly linesRemoved?: number;
}

export interface SnapshotSummary {
  readonly source: string;
  readonly kind: SnapshotKind;
  readonly label: string;
}

export interface Diff {
  readonly a: SnapshotSummary;
  readonly b: SnapshotSummary;
  /** One line each: what could not be compared, and why. */
  readonly notes: readonly string[];
  /** Undefined unless both are stemcells. */
  readonly manifest?: readonly ManifestChange[];
  readonly packages: PackageDiff;
  /** Undefined when the files of one side were not read. */
  readonly files?: FileDiff;
  /** Undefined unless both are stemcells. */
  readonly topLevelFiles?: readonly TopLevelFileChange[];
}

/** dpkg's own database: the package list says what changed there. */
const DPKG_DATABASE = '/var/lib/dpkg';
/** Top-level files compared elsewhere: the manifest (and through it the image's sha1) and the package list. */
const COMPARED_ELSEWHERE = ['stemcell.MF', 'image', 'packages.txt'];
/** Top-level files that are lists of lines, compared line by line. */
const LINE_LISTS = ['dev_tools_file_list.txt'];

const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

// ---- manifest -------------------------------------------------------------

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A key in a dotted path: plain keys as they are, any other quoted (`["a.b"]`), so that two paths never read alike. */
function pathSegment(prefix: string, key: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(key)) return `${prefix}[${JSON.stringify(key)}]`;
  return prefix === '' ? key : `${prefix}.${key}`;
}

/** Leaves of a parsed manifest by dotted path; lists are leaves, compared whole; an empty mapping holds nothing. */
function flatten(value: unknown, prefix: string, out: Map<string, unknown>): Map<string, unknown> {
  if (isMapping(value)) {
    for (const [key, child] of Object.entries(value)) flatten(child, pathSegment(prefix, key), out);
  } else {
    out.set(prefix, value);
  }
  return out;
}

export function diffManifests(a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>): ManifestChange[] {
  const from = flatten(a, '', new Map());
  const to = flatten(b, '', new Map());
  const fields = [...new Set([...from.keys(), ...to.keys()])];
  return fields
    .filter((field) => JSON.stringify(from.get(field)) !== JSON.stringify(to.get(field)))
    .map((field) => ({ field, from: from.get(field), to: to.get(field) }));
}

// ---- packages -------------------------------------------------------------

/**
 * Pair the installed packages of one name: same architecture first, then one
 * left on each side (a package that became `all`, say). What is left over was
 * added or removed.
 */
function pairByArchitecture(from: PackageVersion[], to: PackageVersion[]): { pairs: [PackageVersion, PackageVersion][]; removed: PackageVersion[]; added: PackageVersion[] } {
  // By architecture, so that a hostile list of one name in many architectures costs no more than its length.
  const toByArchitecture = new Map(to.map((q) => [q.architecture, q]));
  const fromArchitectures = new Set(from.map((p) => p.architecture));
  const pairs: [PackageVersion, PackageVersion][] = [];
  let removed = from.filter((p) => {
    const match = toByArchitecture.get(p.architecture);
    if (match) pairs.push([p, match]);
    return !match;
  });
  let added = to.filter((q) => !fromArchitectures.has(q.architecture));
  if (removed.length === 1 && added.length === 1) {
    pairs.push([removed[0], added[0]]);
    removed = [];
    added = [];
  }
  return { pairs, removed, added };
}

function groupByName(packages: readonly PackageVersion[]): Map<string, PackageVersion[]> {
  const groups = new Map<string, PackageVersion[]>();
  for (const p of packages) {
    const group = groups.get(p.name);
    if (group) group.push(p);
    else groups.set(p.name, [p]);
  }
  return groups;
}

export function diffPackages(a: readonly PackageVersion[], b: readonly PackageVersion[]): PackageDiff {
  const from = groupByName(a);
  const to = groupByName(b);
  const added: PackageVersion[] = [];
  const removed: PackageVersion[] = [];
  const upgraded: PackageChange[] = [];
  const downgraded: PackageChange[] = [];
  for (const name of [...new Set([...from.keys(), ...to.keys()])].sort(byText)) {
    const paired = pairByArchitecture(from.get(name) ?? [], to.get(name) ?? []);
    // Name, version and architecture only, whatever else the source knew of the package.
    added.push(...paired.added.map(({ name, version, architecture }) => ({ name, version, architecture })));
    removed.push(...paired.removed.map(({ name, version, architecture }) => ({ name, version, architecture })));
    for (const [old, now] of paired.pairs) {
      const order = compareDebianVersions(old.version, now.version);
      if (order === 0) continue;
      const architecture = old.architecture === now.architecture ? old.architecture : `${old.architecture} -> ${now.architecture}`;
      (order < 0 ? upgraded : downgraded).push({ name, architecture, from: old.version, to: now.version });
    }
  }
  return { added, removed, upgraded, downgraded };
}

/** Names of the packages the package diff accounts for: their files may change. */
function changedPackageNames(packages: PackageDiff): Set<string> {
  return new Set([...packages.added, ...packages.removed, ...packages.upgraded, ...packages.downgraded].map((p) => p.name));
}

// ---- files ----------------------------------------------------------------

function stateOf(record: FileRecord): FileState {
  return {
    type: record.type,
    mode: record.mode.toString(8).padStart(4, '0'),
    owner: `${record.uid}:${record.gid}`,
    ...(record.sha256 !== undefined ? { sha256: record.sha256 } : {}),
    ...(record.linkTarget !== undefined ? { linkTarget: record.linkTarget } : {}),
  };
}

function aspectsChanged(a: FileRecord, b: FileRecord): FileAspect[] {
  if (a.type !== b.type) return ['type'];
  const changed: FileAspect[] = [];
  if (a.sha256 !== b.sha256) changed.push('content');
  if (a.linkTarget !== b.linkTarget) changed.push('link target');
  if (a.mode !== b.mode) changed.push('mode');
  if (a.uid !== b.uid || a.gid !== b.gid) changed.push('owner');
  return changed;
}

const inDpkgDatabase = (p: string): boolean => p === DPKG_DATABASE || p.startsWith(`${DPKG_DATABASE}/`);
/** Configuration: a package upgrade never explains a change here (a hardening edit to a conffile must show). */
const CONFIGURATION = '/etc/';

/**
 * Files added, removed or changed that no package change explains: a path is
 * explained when a package that owns it, before or after, was added, removed,
 * upgraded or downgraded, unless it is configuration (under /etc), which is
 * always shown. What is left is owned by nobody, by packages whose version
 * stayed (a hardening stage editing a conffile), or is configuration.
 */
export function diffFiles(a: Snapshot, b: Snapshot, packages: PackageDiff): FileDiff | undefined {
  if (!a.files || !b.files) return undefined;
  const changedPackages = changedPackageNames(packages);
  const ownersOf = (p: string): string[] => [...new Set([...(a.owners?.get(p) ?? []), ...(b.owners?.get(p) ?? [])])].sort(byText);
  const added: FileAddedOrRemoved[] = [];
  const removed: FileAddedOrRemoved[] = [];
  const changed: FileChange[] = [];
  const paths = [...new Set([...a.files.keys(), ...b.files.keys()])].filter((p) => !inDpkgDatabase(p)).sort(byText);
  for (const key of paths) {
    const old = a.files.get(key);
    const now = b.files.get(key);
    // Keys of names that are not UTF-8 carry their bytes; the path is the name shown.
    const p = (old ?? now)!.path;
    const owners = ownersOf(p);
    if (!p.startsWith(CONFIGURATION) && owners.some((o) => changedPackages.has(o))) continue;
    if (!old) added.push({ path: p, ...stateOf(now!), packages: owners });
    else if (!now) removed.push({ path: p, ...stateOf(old), packages: owners });
    else {
      const aspects = aspectsChanged(old, now);
      if (aspects.length > 0) changed.push({ path: p, changed: aspects, from: stateOf(old), to: stateOf(now), packages: owners });
    }
  }
  return { added, removed, changed };
}

// ---- top-level files ------------------------------------------------------

function lineCounts(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) if (line !== '') counts.set(line, (counts.get(line) ?? 0) + 1);
  return counts;
}

/** Lines of `a` that `b` lacks, counting repeats. */
function linesOnlyIn(a: Map<string, number>, b: Map<string, number>): number {
  let n = 0;
  for (const [line, count] of a) n += Math.max(0, count - (b.get(line) ?? 0));
  return n;
}

export function diffTopLevelFiles(a: ReadonlyMap<string, Buffer>, b: ReadonlyMap<string, Buffer>): TopLevelFileChange[] {
  const names = [...new Set([...a.keys(), ...b.keys()])].filter((n) => !COMPARED_ELSEWHERE.includes(n)).sort(byText);
  const changes: TopLevelFileChange[] = [];
  for (const name of names) {
    const old = a.get(name);
    const now = b.get(name);
    if (!old) changes.push({ name, change: 'added' });
    else if (!now) changes.push({ name, change: 'removed' });
    else if (!old.equals(now)) {
      if (!LINE_LISTS.includes(name)) changes.push({ name, change: 'changed' });
      else {
        const [x, y] = [lineCounts(old.toString('utf8')), lineCounts(now.toString('utf8'))];
        changes.push({ name, change: 'changed', linesAdded: linesOnlyIn(y, x), linesRemoved: linesOnlyIn(x, y) });
      }
    }
  }
  return changes;
}

// ---- the whole ------------------------------------------------------------

const KIND_NAMES: Record<SnapshotKind, string> = { stemcell: 'a stemcell', 'os-image': 'an OS image' };

/** One line for each thing that could not be compared as it would between two alike. */
function notesOn(a: Snapshot, b: Snapshot, files: FileDiff | undefined): string[] {
  const notes: string[] = [];
  if (a.kind !== b.kind) notes.push(`comparing ${KIND_NAMES[a.kind]} with ${KIND_NAMES[b.kind]}: packages${files ? ' and files' : ''} only`);
  else if (a.infrastructure !== b.infrastructure) {
    notes.push(`the stemcells are for different infrastructures (${a.infrastructure ?? 'unknown'} and ${b.infrastructure ?? 'unknown'}): their manifests, disks and agent settings differ by design`);
  }
  // A note both sides share (files not read, say) is said once.
  notes.push(...a.notes.filter((n) => b.notes.includes(n)));
  notes.push(...a.notes.filter((n) => !b.notes.includes(n)).map((n) => `old: ${n}`));
  notes.push(...b.notes.filter((n) => !a.notes.includes(n)).map((n) => `new: ${n}`));
  return notes;
}

export function diffSnapshots(a: Snapshot, b: Snapshot): Diff {
  const packages = diffPackages(a.packages, b.packages);
  const files = diffFiles(a, b, packages);
  const bothStemcells = a.kind === 'stemcell' && b.kind === 'stemcell';
  const summary = (s: Snapshot): SnapshotSummary => ({ source: s.source, kind: s.kind, label: s.label });
  return {
    a: summary(a),
    b: summary(b),
    notes: notesOn(a, b, files),
    ...(bothStemcells && a.manifest && b.manifest ? { manifest: diffManifests(a.manifest, b.manifest) } : {}),
    packages,
    ...(files ? { files } : {}),
    ...(bothStemcells ? { topLevelFiles: diffTopLevelFiles(a.topLevelFiles ?? new Map(), b.topLevelFiles ?? new Map()) } : {}),
  };
}
