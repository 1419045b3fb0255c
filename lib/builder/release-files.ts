/**
 * The build's clock comes from its inputs, not from the host: the newest
 * `Date` of the archive's Release files (or the --snapshot time). Two builds
 * from the same mirror state then stamp the same times into the image and its
 * tarball, and give the same bytes; the build record names the Release files
 * so the state can be told apart from a later one.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { EnvironmentError } from '../errors';
import { OsImageSettings } from './os-image-settings';

export interface ReleaseFile {
  /** Its URL; for the files apt used, the name apt gave it (host, path and suite). */
  readonly source: string;
  /** The `Date` field, as an ISO time. */
  readonly date: string;
  readonly sha256: string;
}

/** InRelease is a few hundred KiB; anything far larger is not one. */
const MAX_RELEASE_BYTES = 16 * 2 ** 20;

/** The InRelease files of the suites a build installs from (bootstrap's three sources). */
export function releaseUrls(s: Pick<OsImageSettings, 'os' | 'mirror' | 'securityMirror'>): string[] {
  const codename = s.os.codename;
  return [`${s.mirror}/dists/${codename}/InRelease`, `${s.mirror}/dists/${codename}-updates/InRelease`, `${s.securityMirror}/dists/${codename}-security/InRelease`];
}

/** The Date field as apt writes it (RFC 2822, in UTC or with an offset): nothing the host's time zone could read otherwise. */
const RELEASE_DATE = /^Date: *((?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} (?:UTC|GMT|[+-]\d{4})) *$/m;
/** Before the first snapshot of the archives, or later than tomorrow: not a Release file's date. */
const EARLIEST = Date.UTC(2005, 0, 1);
const DAY_MS = 86_400_000;

/** Seconds since the epoch of a Release file's `Date: Sat, 22 Nov 2026 08:26:53 UTC`. */
export function releaseDate(text: string, url: string, now = Date.now()): number {
  const field = RELEASE_DATE.exec(text)?.[1];
  const time = field === undefined ? NaN : Date.parse(field);
  if (!/^Origin: |^Suite: |^Codename: /m.test(text) || !Number.isFinite(time)) {
    throw new EnvironmentError(`${url} is not a Release file with a Date field; check --mirror and --security-mirror`);
  }
  if (time < EARLIEST || time > now + DAY_MS) {
    throw new EnvironmentError(`${url} is dated ${field}, which no archive's Release file is; check --mirror and --security-mirror, and the host's clock`);
  }
  return Math.floor(time / 1000);
}

export function releaseFile(text: Buffer, url: string): ReleaseFile {
  return { source: url, date: new Date(releaseDate(text.toString('utf8'), url) * 1000).toISOString(), sha256: createHash('sha256').update(text).digest('hex') };
}

/** The newest Date among the Release files: what the build's SOURCE_DATE_EPOCH is. */
export function newestRelease(files: readonly ReleaseFile[]): number {
  if (files.length === 0) throw new Error('no Release files to take the build time from');
  return Math.max(...files.map((f) => Date.parse(f.date) / 1000));
}

export type Download = (url: string, proxy: string | undefined) => Buffer;

/** curl, through the build's proxy: the same way apt reaches the mirror. */
export const curlDownload: Download = (url, proxy) => {
  const args = ['--fail', '--silent', '--show-error', '--location', '--max-time', '60', '--retry', '2', '--max-filesize', String(MAX_RELEASE_BYTES)];
  if (proxy !== undefined) args.push('--proxy', proxy);
  const result = spawnSync('curl', [...args, '--', url], { maxBuffer: MAX_RELEASE_BYTES + 1024 });
  if (result.error || result.status !== 0) {
    const why = result.error?.message ?? result.stderr.toString('utf8').trim().split('\n').pop() ?? `exit ${result.status}`;
    throw new EnvironmentError(`cannot download ${url} (${why}); check the network, --mirror or --proxy`);
  }
  return result.stdout;
};

/** Download the build's Release files, before anything is written. */
export function fetchReleaseFiles(s: Pick<OsImageSettings, 'os' | 'mirror' | 'securityMirror' | 'proxy'>, download: Download = curlDownload): ReleaseFile[] {
  return releaseUrls(s).map((url) => releaseFile(download(url, s.proxy), url));
}
