/**
 * Real stemcell tarballs for tests, made with the same writer the product uses.
 * The `image` of an AWS stemcell is a gzip tar holding a small root.img, like
 * upstream's but megabytes instead of gigabytes.
 */
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

/** A gzip tar holding `root.img` of `size` bytes with a recognisable pattern. */
export async function makeImage(dir: string, size = 1024 * 1024, content?: Buffer): Promise<string> {
  const rootImg = path.join(dir, 'root.img');
  const block = content ?? Buffer.alloc(size);
  if (!content) for (let i = 0; i < size; i += 4096) block.write(`block ${i / 4096}`, i);
  fs.writeFileSync(rootImg, block);
  const image = path.join(dir, 'image');
  await writeTarballToStream([{ name: 'root.img', path: rootImg }], fs.createWriteStream(image));
  fs.rmSync(rootImg);
  return image;
}

export interface HeavyOptions {
  infrastructure?: string;
  os?: string;
  version?: string;
  /** The disk image (AWS: root.img). @default - 1 MiB with a pattern in every 4 KiB */
  rootImg?: Buffer;
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
  const image = await makeImage(work, undefined, options.rootImg);
  const imageSha1 = createHash('sha1').update(fs.readFileSync(image)).digest('hex');
  const manifest = heavyManifest(def, { version, imageSha1 });
  const text = options.tamper ? renderManifest(options.tamper(manifest) as unknown as StemcellManifest) : renderManifest(manifest);
  const files: TarballFile[] = [
    { name: 'stemcell.MF', data: text },
    { name: 'image', path: image },
    { name: 'packages.txt', data: PACKAGES_TXT },
    { name: 'dev_tools_file_list.txt', data: DEV_TOOLS },
  ];
  const out = path.join(dir, heavyTarballName(def, version));
  await writeTarball(out, files);
  fs.rmSync(work, { recursive: true });
  return out;
}
