/**
 * Tarballs built byte by byte, the way an attacker would: any name (raw
 * bytes, control characters, `..`), any type flag, links anywhere, wrong
 * checksums, PAX records and GNU long names, truncation at any point. And
 * archives made by the real GNU tar, for what hostile tests must not refuse.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';

export interface RawHeader {
  /** Bytes of the name field (at most 100), or a string written as UTF-8. */
  name: string | Buffer;
  /** The type flag character: '0' file, '1' hard link, '2' symlink, '3' char device, '4' block device, '5' directory, '6' FIFO, 'x' PAX, 'L' GNU long name, ... */
  type?: string;
  size?: number;
  mode?: number;
  mtime?: number;
  linkname?: string | Buffer;
  /** `ustar` (POSIX, the default), `gnu`, or `none` (a pre-POSIX header). */
  magic?: 'ustar' | 'gnu' | 'none';
  /** Break the checksum. */
  badChecksum?: boolean;
  /** Raw size field (e.g. not octal). */
  sizeField?: Buffer;
}

const octal = (value: number, length: number): Buffer => Buffer.from(`${value.toString(8).padStart(length - 1, '0')}\0`, 'latin1');

/** One 512-byte header. */
export function header(h: RawHeader): Buffer {
  const block = Buffer.alloc(512);
  const name = Buffer.isBuffer(h.name) ? h.name : Buffer.from(h.name);
  if (name.length > 100) throw new Error('a raw name field holds at most 100 bytes; use a PAX path or a GNU long name');
  name.copy(block, 0);
  octal(h.mode ?? 0o644, 8).copy(block, 100);
  octal(0, 8).copy(block, 108);
  octal(0, 8).copy(block, 116);
  (h.sizeField ?? octal(h.size ?? 0, 12)).copy(block, 124);
  octal(h.mtime ?? 0, 12).copy(block, 136);
  block.write(h.type ?? '0', 156, 'latin1');
  if (h.linkname !== undefined) (Buffer.isBuffer(h.linkname) ? h.linkname : Buffer.from(h.linkname)).copy(block, 157);
  if (h.magic === 'gnu') block.write('ustar  \0', 257, 'latin1');
  else if (h.magic !== 'none') block.write('ustar\x0000', 257, 'latin1');
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  octal(h.badChecksum ? sum + 1 : sum, 7).copy(block, 148);
  block[155] = 0x20;
  return block;
}

const pad = (data: Buffer): Buffer => Buffer.concat([data, Buffer.alloc((512 - (data.length % 512)) % 512)]);

/** A header and its data, padded to whole blocks. */
export function entry(h: RawHeader, data: Buffer | string = Buffer.alloc(0)): Buffer {
  const bytes = Buffer.from(data);
  return Buffer.concat([header({ size: bytes.length, ...h }), pad(bytes)]);
}

/** A PAX extended header ('x') with these records, for the entry after it. */
export function pax(records: Record<string, string>, type = 'x'): Buffer {
  const body = Object.entries(records)
    .map(([k, v]) => {
      const text = ` ${k}=${v}\n`;
      const bytes = Buffer.byteLength(text);
      // The length counts its own digits.
      let total = bytes + String(bytes).length;
      if (String(total).length !== String(bytes).length) total = bytes + String(total).length;
      return `${total}${text}`;
    })
    .join('');
  return entry({ name: 'PaxHeader', type }, body);
}

/** Entries followed by the end-of-archive blocks. */
export function archive(...parts: Buffer[]): Buffer {
  return Buffer.concat([...parts, Buffer.alloc(1024)]);
}

export const tgz = (tar: Buffer): Buffer => gzipSync(tar);

/** An async iterable over `bytes` in `size`-byte chunks, as a stream would deliver them. */
export async function* chunks(bytes: Buffer, size = 1000): AsyncGenerator<Buffer> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

/** Run GNU tar in `dir` and return what it wrote to stdout. */
export function gnuTar(dir: string, ...args: string[]): Buffer {
  return execFileSync('tar', ['--create', '--numeric-owner', '--owner=0', '--group=0', '--mtime=@0', ...args], { cwd: dir, maxBuffer: 512 * 1024 * 1024 });
}

/** A sparse file: `size` bytes with `islands` of recognisable data at `offsets`, holes elsewhere. */
export function sparseFile(file: string, size: number, offsets: readonly number[]): Buffer {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, '');
  fs.truncateSync(file, size);
  const fd = fs.openSync(file, 'r+');
  try {
    for (const [i, offset] of offsets.entries()) fs.writeSync(fd, Buffer.from(`island ${i} at ${offset};`.repeat(8)), 0, undefined, offset);
  } finally {
    fs.closeSync(fd);
  }
  return fs.readFileSync(file);
}
