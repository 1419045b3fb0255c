/**
 * The settings of an OS-image build: one typed object, validated before
 * anything runs, and rendered into the stages' settings.env
 * (stage-settings.ts).
 */
import * as path from 'node:path';
import { UsageError } from '../errors';
import { dataLines, hasControlCharacters } from '../text';
import { OPERATING_SYSTEMS, OperatingSystem, operatingSystemNames } from '../stemcell/matrix';
import { OsImageStageSettings } from './stage-settings';

export const DEFAULT_PACKAGE_CACHE = '/var/cache/stemcell-farm/apt';

/** Where each distribution's packages come from, live and frozen in time. */
const ARCHIVES = {
  debian: {
    mirror: 'http://deb.debian.org/debian',
    securityMirror: 'http://deb.debian.org/debian-security',
    components: ['main'],
    snapshot: (stamp: string) => ({
      mirror: `http://snapshot.debian.org/archive/debian/${stamp}`,
      securityMirror: `http://snapshot.debian.org/archive/debian-security/${stamp}`,
    }),
  },
  ubuntu: {
    mirror: 'http://archive.ubuntu.com/ubuntu',
    securityMirror: 'http://security.ubuntu.com/ubuntu',
    components: ['main', 'universe'],
    snapshot: (stamp: string) => ({
      mirror: `https://snapshot.ubuntu.com/ubuntu/${stamp}`,
      securityMirror: `https://snapshot.ubuntu.com/ubuntu/${stamp}`,
    }),
  },
} as const;

export type BootstrapTool = 'mmdebstrap' | 'debootstrap';

export interface OsImageBuildRequest {
  readonly os: string;
  /** Output tarball. */
  readonly out: string;
  /** @default - the distribution's main archive, or the snapshot's */
  readonly mirror?: string;
  /** @default - the distribution's security archive, or the snapshot's */
  readonly securityMirror?: string;
  /** Build from the distribution's snapshot service at this time, e.g. 20251101T000000Z. @default - live archives */
  readonly snapshot?: string;
  /** HTTP proxy for apt during the build only. @default - none */
  readonly proxy?: string;
  /** @default [] */
  readonly extraPackages?: readonly string[];
  /** Script run inside the chroot. @default - none */
  readonly customizeScript?: string;
  /** @default /var/cache/stemcell-farm/apt */
  readonly packageCacheRoot?: string;
  /** @default 'mmdebstrap' */
  readonly bootstrapTool?: BootstrapTool;
  /** Seconds since the epoch that the build stamps into the image. @default - the snapshot time, or the newest Date of the archive's Release files */
  readonly sourceDateEpoch?: number;
}

export interface OsImageSettings {
  readonly os: OperatingSystem;
  readonly out: string;
  readonly mirror: string;
  readonly securityMirror: string;
  readonly components: readonly string[];
  readonly snapshot?: string;
  readonly proxy?: string;
  readonly extraPackages: readonly string[];
  readonly customizeScript?: string;
  readonly packageCache: string;
  readonly bootstrapTool: BootstrapTool;
  /** Given, or the snapshot's time; otherwise the build takes it from the Release files (release-files.ts). */
  readonly sourceDateEpoch?: number;
}

/** An apt snapshot time: 20251101T000000Z. */
export const SNAPSHOT = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
/** A Debian package name. */
export const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]{1,99}$/;
// The first snapshot.debian.org has: nothing is older.
const FIRST_SNAPSHOT = Date.UTC(2005, 2, 12);

/** A URL of one of `schemes`, as given but without a trailing slash; white space and control characters are refused before the URL parser can drop them. */
export function checkUrl(what: string, value: string, schemes: readonly string[]): string {
  const example = 'e.g. http://deb.debian.org/debian';
  if (/\s/.test(value) || hasControlCharacters(value)) throw new UsageError(`${what} ${JSON.stringify(value)} holds white space or control characters; give one URL, ${example}`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${what} ${JSON.stringify(value)} is not a URL; ${example}`);
  }
  if (!schemes.includes(url.protocol)) throw new UsageError(`${what} ${JSON.stringify(value)} must use ${schemes.map((sc) => sc.replace(':', '')).join(' or ')}`);
  return value.replace(/\/+$/, '');
}

/** The epoch seconds of a snapshot stamp, refusing stamps that are not real times (20251399T999999Z) or lie in the future. */
export function snapshotTime(stamp: string, now = Date.now()): number {
  const m = SNAPSHOT.exec(stamp);
  const hint = 'it must look like 20251101T000000Z (UTC)';
  if (!m) throw new UsageError(`snapshot ${JSON.stringify(stamp)}: ${hint}`);
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number);
  const time = Date.UTC(year, month - 1, day, hour, minute, second);
  const date = new Date(time);
  const real =
    date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day && date.getUTCHours() === hour && date.getUTCMinutes() === minute && date.getUTCSeconds() === second;
  if (!real) throw new UsageError(`snapshot ${JSON.stringify(stamp)} is not a real date and time; ${hint}`);
  if (time < FIRST_SNAPSHOT || time > now) throw new UsageError(`snapshot ${stamp} is ${time > now ? 'in the future' : 'older than the snapshot archives'}; give a time between 20050312T000000Z and now`);
  return time / 1000;
}

export function resolveOsImageSettings(request: OsImageBuildRequest): OsImageSettings {
  if (!(operatingSystemNames() as string[]).includes(request.os)) {
    throw new UsageError(`unsupported operating system ${JSON.stringify(request.os)}; choose one of: ${operatingSystemNames().join(', ')}`);
  }
  const os = OPERATING_SYSTEMS[request.os as keyof typeof OPERATING_SYSTEMS];
  const archive = ARCHIVES[os.distro];

  let snapshotEpoch: number | undefined;
  let sources: { mirror: string; securityMirror: string } = archive;
  if (request.snapshot !== undefined) {
    snapshotEpoch = snapshotTime(request.snapshot);
    sources = archive.snapshot(request.snapshot);
  }
  const extraPackages = request.extraPackages ?? [];
  for (const pkg of extraPackages) {
    if (!PACKAGE_NAME.test(pkg)) throw new UsageError(`${JSON.stringify(pkg)} is not a Debian package name (lower case letters, digits, + - .)`);
  }
  const bootstrapTool = request.bootstrapTool ?? 'mmdebstrap';
  if (bootstrapTool !== 'mmdebstrap' && bootstrapTool !== 'debootstrap') throw new UsageError(`bootstrap tool must be mmdebstrap or debootstrap, not ${JSON.stringify(String(bootstrapTool))}`);

  return {
    os,
    out: path.resolve(request.out),
    mirror: checkUrl('mirror', request.mirror ?? sources.mirror, ['http:', 'https:', 'file:']),
    securityMirror: checkUrl('security mirror', request.securityMirror ?? sources.securityMirror, ['http:', 'https:', 'file:']),
    components: archive.components,
    snapshot: request.snapshot,
    proxy: request.proxy === undefined ? undefined : checkUrl('proxy', request.proxy, ['http:', 'https:']),
    extraPackages,
    customizeScript: request.customizeScript === undefined ? undefined : path.resolve(request.customizeScript),
    packageCache: path.join(path.resolve(request.packageCacheRoot ?? DEFAULT_PACKAGE_CACHE), os.name),
    bootstrapTool,
    sourceDateEpoch: request.sourceDateEpoch ?? snapshotEpoch,
  };
}

/** The settings every build's stages share: the OS, apt's proxy, snapshot and cache, the clock. */
export function aptStageSettings(s: OsImageSettings, sourceDateEpoch: number) {
  return {
    STEMCELL_OS: s.os.name,
    STEMCELL_OS_DISTRO: s.os.distro,
    STEMCELL_SNAPSHOT: s.snapshot ?? '',
    STEMCELL_PROXY: s.proxy ?? '',
    STEMCELL_PACKAGE_CACHE: s.packageCache,
    SOURCE_DATE_EPOCH: String(sourceDateEpoch),
  } as const;
}

/** settings.env of an OS image build. */
export function osImageStageSettings(s: OsImageSettings, sourceDateEpoch: number): OsImageStageSettings {
  return {
    ...aptStageSettings(s, sourceDateEpoch),
    STEMCELL_OS_CODENAME: s.os.codename,
    STEMCELL_MIRROR: s.mirror,
    STEMCELL_SECURITY_MIRROR: s.securityMirror,
    STEMCELL_COMPONENTS: s.components.join(' '),
    STEMCELL_EXTRA_PACKAGES: s.extraPackages.join(' '),
    STEMCELL_CUSTOMIZE_SCRIPT: s.customizeScript ?? '',
    STEMCELL_BOOTSTRAP_TOOL: s.bootstrapTool,
    STEMCELL_OS_IMAGE_OUT: s.out,
  };
}

/** The settings as recorded in the build record: credentials in a proxy URL are hidden. */
export function settingsForRecord(s: OsImageSettings): Record<string, unknown> {
  const proxy = s.proxy === undefined ? undefined : new URL(s.proxy);
  if (proxy && (proxy.username || proxy.password)) {
    proxy.username = proxy.username ? '***' : '';
    proxy.password = proxy.password ? '***' : '';
  }
  return { ...s, os: s.os.name, proxy: proxy?.toString() };
}

/** Stage names of a collection file: one a line, # comments and blank lines ignored. */
export function collectionStages(text: string): string[] {
  return dataLines(text);
}

/**
 * The stages of a build: the OS's collection, then, right before
 * file_permissions, `customize` when a script is given and the operator's own
 * stages (by folder name) in the order given.
 */
export function composeCollection(baseCollection: string, customize: boolean, ownStages: readonly string[] = []): string {
  const lines = collectionStages(baseCollection);
  const added = [...(customize ? ['customize'] : []), ...ownStages];
  if (added.length > 0) {
    const at = lines.indexOf('file_permissions');
    if (at < 0) throw new Error('the collection has no file_permissions stage to run added stages before');
    lines.splice(at, 0, ...added);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Check stage folders given with --add-stage: each holds an apply.sh, and its
 * name is new (an added stage never replaces one of ours or another added one).
 */
export function checkOwnStages(dirs: readonly string[], builtInStages: readonly string[]): { names: string[]; searchPath: string } {
  const names: string[] = [];
  for (const dir of dirs) {
    const name = path.basename(path.resolve(dir));
    if (!/^[a-z0-9][a-z0-9_-]*$/.test(name)) throw new UsageError(`stage folder name ${JSON.stringify(name)} must be lower case letters, digits, _ or -`);
    if (builtInStages.includes(name) || names.includes(name)) throw new UsageError(`a stage named '${name}' already exists; rename the folder ${dir}`);
    names.push(name);
  }
  return { names, searchPath: [...new Set(dirs.map((d) => path.dirname(path.resolve(d))))].join(':') };
}
