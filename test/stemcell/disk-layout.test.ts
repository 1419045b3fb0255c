import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { lockedGrubPassword } from '../../lib/builder/stemcell';
import { diskIdentity, diskLayout } from '../../lib/stemcell/disk-layout';
import { tempDir } from '../helpers/stemcells';

const SEED = 'bosh-aws-xen-hvm-debian-bookworm-go_agent\n1.260\n1795227046';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('the disk identity: what the tools would draw at random, drawn from the stemcell', () => {
  it('is the same for the same stemcell, and shaped as the tools shape it', () => {
    const bios = diskIdentity('bios', SEED);
    expect(diskIdentity('bios', SEED)).toEqual(bios);
    expect(bios.diskId).toMatch(/^0x[89a-f][0-9a-f]{7}$/);
    for (const id of [bios.rootPartitionUuid, bios.espPartitionUuid, bios.rootFsUuid, bios.rootHashSeed]) expect(id).toMatch(UUID);
    expect(bios.espVolumeId).toMatch(/^[0-9a-f]{8}$/);
    expect(diskIdentity('efi', SEED).diskId).toMatch(UUID);
    expect(new Set([bios.rootPartitionUuid, bios.espPartitionUuid, bios.rootFsUuid, bios.rootHashSeed]).size).toBe(4);
  });

  it('differs for another version or build time', () => {
    const ids = [SEED, SEED.replace('1.260', '1.261'), SEED.replace('1795227046', '1795227047')].map((seed) => diskIdentity('bios', seed));
    expect(new Set(ids.map((i) => i.rootFsUuid)).size).toBe(3);
    expect(new Set(ids.map((i) => i.diskId)).size).toBe(3);
  });

  it.each(['bios', 'efi'] as const)('goes into the %s partition table as sfdisk writes it', (firmware) => {
    const identity = diskIdentity(firmware, SEED);
    const disk = path.join(tempDir('disk-'), 'root.img');
    fs.writeFileSync(disk, '');
    fs.truncateSync(disk, 256 * 2 ** 20);
    const written = spawnSync('sfdisk', ['--quiet', disk], { input: diskLayout(firmware, identity).sfdiskScript, encoding: 'utf8' });
    expect(written.stderr).toBe('');
    const table = JSON.parse(spawnSync('sfdisk', ['--json', disk], { encoding: 'utf8' }).stdout).partitiontable;
    expect(table.id.toLowerCase()).toBe(identity.diskId.toLowerCase());
    if (firmware === 'efi') expect(table.partitions.map((p: { uuid: string }) => p.uuid.toLowerCase())).toEqual([identity.espPartitionUuid, identity.rootPartitionUuid]);
  });

  it('leaves the table to sfdisk when no identity is given', () => {
    expect(diskLayout('efi').sfdiskScript).not.toMatch(/label-id|uuid=/);
  });
});

describe("GRUB's locked password", () => {
  it("is in grub-mkpasswd-pbkdf2's format, the same for the same stemcell, another for another", () => {
    const hash = lockedGrubPassword(SEED);
    expect(hash).toMatch(/^grub\.pbkdf2\.sha512\.10000\.[0-9A-F]{128}\.[0-9A-F]{128}$/);
    expect(lockedGrubPassword(SEED)).toBe(hash);
    expect(lockedGrubPassword(`${SEED}1`)).not.toBe(hash);
  });
});
