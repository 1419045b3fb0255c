/**
 * The disk inside a stemcell: unpacked from `image` into a scratch
 * directory, with its format and boot firmware worked out.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EnvironmentError, InvalidStemcellError, UsageError } from '../stemcell/errors';
import { readStemcellTarball, StemcellTarballContents } from '../stemcell/tarball';

export interface StemcellDisk {
  readonly contents: StemcellTarballContents;
  readonly file: string;
  readonly format: 'raw' | 'qcow2';
  readonly firmware: 'bios' | 'efi';
}

const FORMATS: Record<string, 'raw' | 'qcow2'> = { 'aws-raw': 'raw', 'openstack-raw': 'raw', 'openstack-qcow2': 'qcow2' };
const ESP_GUID = Buffer.from('28732ac11ff8d211ba4b00a0c93ec93b', 'hex'); // C12A7328-F81F-11D2-BA4B-00A0C93EC93B, on disk

function run(command: string, args: string[]): string {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  if (r.error) throw new EnvironmentError(`${command} is not installed (${r.error.message})`);
  if (r.status !== 0) throw new InvalidStemcellError(`${command} ${args.join(' ')} failed: ${r.stderr.trim()}`);
  return r.stdout;
}

/** EFI when the disk has a GPT with an EFI system partition, BIOS otherwise. */
export function detectFirmware(file: string, format: 'raw' | 'qcow2'): 'bios' | 'efi' {
  const head = path.join(path.dirname(file), 'head.bin');
  run('qemu-img', ['dd', '-f', format, '-O', 'raw', 'bs=512', 'count=34', `if=${file}`, `of=${head}`]);
  const bytes = fs.readFileSync(head);
  fs.rmSync(head);
  if (bytes.subarray(512, 520).toString('latin1') !== 'EFI PART') return 'bios';
  for (let entry = 1024; entry + 16 <= bytes.length; entry += 128) {
    if (bytes.subarray(entry, entry + 16).equals(ESP_GUID)) return 'efi';
  }
  return 'bios';
}

/** Unpack the stemcell's disk into `scratch`, created if missing and otherwise empty. */
export async function unpackDisk(tarball: string, scratch: string, create = false): Promise<StemcellDisk> {
  if (create) fs.mkdirSync(scratch, { recursive: true });
  const contents = await readStemcellTarball(tarball, { extractTo: scratch });
  if (!contents.sha1Matches) throw new InvalidStemcellError(`${tarball}: image does not match the manifest's sha1`);
  const formats = contents.manifest.stemcell_formats ?? [];
  const known = formats.find((f) => f in FORMATS);
  if (!known) throw new UsageError(`booting ${formats.join(', ') || 'unknown'} stemcells is not supported; ${Object.keys(FORMATS).join(', ')} are`);
  const format = FORMATS[known];
  // The image tarball holds exactly root.img; extract only that name.
  run('tar', ['--extract', '--gzip', '--sparse', `--file=${path.join(scratch, 'image')}`, `--directory=${scratch}`, 'root.img']);
  fs.rmSync(path.join(scratch, 'image'));
  const file = path.join(scratch, 'root.img');
  const firmware = contents.manifest.cloud_properties?.boot_mode === 'uefi-preferred' ? 'efi' : detectFirmware(file, format);
  return { contents, file, format, firmware };
}
