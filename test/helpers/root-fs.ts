/**
 * Small root file systems for tests, as a directory with a dpkg database
 * (status and per-package file lists) on a merged /usr, packed the ways the
 * build packs them: an OS image (GNU tar, names sorted, owners kept) and a
 * stemcell whose image holds a real ext4 disk (made with mke2fs -d; no build).
 * Any user can make them; only root can set owners other than its own.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { findCommand } from '../../lib/builder/host';
import { diskLayout } from '../../lib/stemcell/disk-layout';
import { HeavyOptions, makeHeavyStemcell } from './stemcells';

export const IS_ROOT = process.getuid?.() === 0;

/** A host tool by name, also in the sbin directories a user's PATH lacks. */
function tool(name: string): string {
  const found = findCommand(name);
  if (!found) throw new Error(`${name} is missing; npx stemcell doctor --install test installs it`);
  return found;
}

export interface PackageSpec {
  readonly name: string;
  readonly version: string;
  /** @default amd64 */
  readonly architecture?: string;
  /** Its list file is `<name>:<arch>.list`, as for a package installed for several architectures. */
  readonly multiArch?: boolean;
  /** Files it ships, by the path its list names (`/lib/...` lands in /usr/lib), and their contents. */
  readonly files?: Readonly<Record<string, string>>;
}

export interface FileSpec {
  readonly content?: string;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly symlink?: string;
}

export interface RootSpec {
  readonly packages: readonly PackageSpec[];
  /** Files no package ships (or changes to files one does), written after the packages'. */
  readonly files?: Readonly<Record<string, string | FileSpec>>;
}

function statusOf(packages: readonly PackageSpec[]): string {
  return packages
    .map((p) => `Package: ${p.name}\nStatus: install ok installed\nPriority: optional\nArchitecture: ${p.architecture ?? 'amd64'}\nVersion: ${p.version}\nDescription: ${p.name} for tests\n`)
    .join('\n');
}

/** A package's list: `/.`, every directory above its files, then the files, as dpkg writes it. */
function listOf(p: PackageSpec): string {
  const paths = new Set<string>(['/.']);
  for (const file of Object.keys(p.files ?? {})) {
    for (let dir = path.posix.dirname(file); dir !== '/'; dir = path.posix.dirname(dir)) paths.add(dir);
    paths.add(file);
  }
  return `${[...paths].sort().join('\n')}\n`;
}

/** `dpkg -l` of the packages, as the package_list stage writes packages.txt. */
export function packagesTxtOf(packages: readonly PackageSpec[]): string {
  const header = 'Desired=Unknown/Install/Remove/Purge/Hold\n| Status=Not/Inst/Conf-files/Unpacked/halF-conf/Half-inst/trig-aWait/Trig-pend\n|/ Err?=(none)/Reinst-required (Status,Err: uppercase=bad)\n||/ Name Version Architecture Description\n+++-====-=======-============-===========\n';
  return header + packages.map((p) => `ii  ${p.name}${p.multiArch ? `:${p.architecture ?? 'amd64'}` : ''} ${p.version} ${p.architecture ?? 'amd64'} ${p.name} for tests\n`).join('');
}

function write(root: string, file: string, spec: string | FileSpec): void {
  const s: FileSpec = typeof spec === 'string' ? { content: spec } : spec;
  const target = path.join(root, file);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.rmSync(target, { force: true });
  if (s.symlink !== undefined) fs.symlinkSync(s.symlink, target);
  else fs.writeFileSync(target, s.content ?? '', { mode: s.mode ?? 0o644 });
  if (s.symlink === undefined && s.mode !== undefined) fs.chmodSync(target, s.mode);
  // Only root can give a file away; as another user, files keep their owner (tests expect no owner change then).
  if ((s.uid !== undefined || s.gid !== undefined) && IS_ROOT) fs.lchownSync(target, s.uid ?? 0, s.gid ?? 0);
}

/** Write the root file system `spec` describes into the empty directory `root`. */
export function writeRoot(root: string, spec: RootSpec): string {
  fs.chmodSync(root, 0o755);
  for (const dir of ['usr/bin', 'usr/lib/x86_64-linux-gnu', 'etc', 'var/lib/dpkg/info']) fs.mkdirSync(path.join(root, dir), { recursive: true });
  // A merged /usr, as on bookworm and jammy: packages list /lib/..., the files live in /usr/lib/...
  fs.symlinkSync('usr/lib', path.join(root, 'lib'));
  fs.symlinkSync('usr/bin', path.join(root, 'bin'));
  fs.writeFileSync(path.join(root, 'var/lib/dpkg/status'), statusOf(spec.packages));
  for (const p of spec.packages) {
    fs.writeFileSync(path.join(root, 'var/lib/dpkg/info', `${p.name}${p.multiArch ? `:${p.architecture ?? 'amd64'}` : ''}.list`), listOf(p));
    for (const [file, content] of Object.entries(p.files ?? {})) write(root, file, content);
  }
  for (const [file, s] of Object.entries(spec.files ?? {})) write(root, file, s);
  return root;
}

/** The OS image of a root directory: GNU tar, names sorted, owners and modes kept, gzip. */
export function osImageOf(root: string, file: string): string {
  fs.writeFileSync(file, gzipSync(execFileSync('tar', ['--create', '--numeric-owner', '--sort=name', '--mtime=@0', '--directory', root, '.'], { maxBuffer: 256 * 1024 * 1024 })));
  return file;
}

/**
 * A heavy AWS stemcell in `dir` whose root.img is a real disk: an MBR with one
 * Linux partition at 1 MiB (the BIOS layout the build makes) holding an ext4
 * file system made from `root` (mke2fs -d keeps owners and modes). Mounting
 * it takes root; making it does not.
 */
export async function stemcellWithDisk(dir: string, root: string, packages: readonly PackageSpec[], options: HeavyOptions = {}): Promise<string> {
  const work = fs.mkdtempSync(path.join(dir, 'disk-'));
  const disk = path.join(work, 'root.img');
  fs.writeFileSync(disk, '');
  fs.truncateSync(disk, 24 * 1024 * 1024);
  execFileSync(tool('sfdisk'), ['--quiet', disk], { input: diskLayout('bios').sfdiskScript });
  execFileSync(tool('mke2fs'), ['-q', '-t', 'ext4', '-d', root, '-E', `offset=${1024 * 1024}`, disk, '23M']);
  const rootImg = fs.readFileSync(disk);
  fs.rmSync(work, { recursive: true });
  return makeHeavyStemcell(dir, { rootImg, sparse: true, packagesTxt: packagesTxtOf(packages), ...options });
}
