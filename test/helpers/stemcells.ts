/**
 * Real stemcell tarballs for tests, made with the same writer the product uses.
 * The `image` of an AWS stemcell is a gzip tar holding a small root.img, like
 * upstream's but megabytes instead of gigabytes.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  defineStemcell,
  heavyManifest,
  heavyTarballName,
  renderManifest,
  StemcellManifest,
  TarballFile,
  writeTarball,
  writeTarballToStream,
} from '../../lib/stemcell';

export function tempDir(prefix = 'stemcell-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * A gzip tar holding `root.img` of `size` bytes with a recognisable pattern.
 * With `sparse`, root.img is a sparse file packed by GNU tar --sparse, as the
 * package_image stage packs real disks.
 */
export async function makeImage(dir: string, size = 1024 * 1024, content?: Buffer, sparse = false): Promise<string> {
  const rootImg = path.join(dir, 'root.img');
  const block = content ?? Buffer.alloc(size);
  if (!content) for (let i = 0; i < size; i += 4096) block.write(`block ${i / 4096}`, i);
  const image = path.join(dir, 'image');
  if (sparse) {
    // Write only the non-zero 4 KiB blocks, so the file has holes where the disk has zeros.
    fs.writeFileSync(rootImg, '');
    fs.truncateSync(rootImg, block.length);
    const fd = fs.openSync(rootImg, 'r+');
    for (let at = 0; at < block.length; at += 4096) {
      const piece = block.subarray(at, at + 4096);
      if (piece.some((b) => b !== 0)) fs.writeSync(fd, piece, 0, piece.length, at);
    }
    fs.closeSync(fd);
    execFileSync('sh', ['-c', 'tar --create --sparse --numeric-owner --owner=0 --group=0 --directory="$1" root.img | gzip -n > "$2"', '_', dir, image]);
  } else {
    fs.writeFileSync(rootImg, block);
    await writeTarballToStream([{ name: 'root.img', path: rootImg }], fs.createWriteStream(image));
  }
  fs.rmSync(rootImg);
  return image;
}

export interface HeavyOptions {
  infrastructure?: string;
  os?: string;
  version?: string;
  /** The disk image (AWS: root.img). @default - 1 MiB with a pattern in every 4 KiB */
  rootImg?: Buffer;
  /** Pack root.img sparse with GNU tar, as real builds do. @default false */
  sparse?: boolean;
  /** The `image` file itself, instead of one made from rootImg (to make hostile stemcells). */
  image?: Buffer;
  /** packages.txt. @default PACKAGES_TXT */
  packagesTxt?: Buffer | string;
  /** Put `image` first in the tarball, before stemcell.MF. @default false */
  imageFirst?: boolean;
  /** Override manifest fields after it is built (to make broken stemcells). */
  tamper?: (m: StemcellManifest) => Record<string, unknown>;
}

export const PACKAGES_TXT = 'ii  openssh-server 1:9.2p1-2+deb12u3 amd64 secure shell (SSH) server\n';
export const DEV_TOOLS = '/usr/bin/gcc-12\n/usr/bin/make\n';

/** Write a heavy stemcell into `dir` and return its path. */
export async function makeHeavyStemcell(dir: string, options: HeavyOptions = {}): Promise<string> {
  const def = defineStemcell({ infrastructure: options.infrastructure ?? 'aws', os: options.os ?? 'ubuntu-jammy' });
  const version = options.version ?? '1.260';
  const work = fs.mkdtempSync(path.join(dir, 'work-'));
  const image = options.image === undefined ? await makeImage(work, undefined, options.rootImg, options.sparse) : path.join(work, 'image');
  if (options.image !== undefined) fs.writeFileSync(image, options.image);
  const imageSha1 = createHash('sha1').update(fs.readFileSync(image)).digest('hex');
  const manifest = heavyManifest(def, { version, imageSha1 });
  const text = options.tamper ? renderManifest(options.tamper(manifest) as unknown as StemcellManifest) : renderManifest(manifest);
  const files: TarballFile[] = [
    { name: 'stemcell.MF', data: text },
    { name: 'image', path: image },
    { name: 'packages.txt', data: options.packagesTxt ?? PACKAGES_TXT },
    { name: 'dev_tools_file_list.txt', data: DEV_TOOLS },
  ];
  const out = path.join(dir, heavyTarballName(def, version));
  await writeTarball(out, files, options.imageFirst ? { first: 'image' } : {});
  fs.rmSync(work, { recursive: true });
  return out;
}
