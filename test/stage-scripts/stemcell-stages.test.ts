/**
 * Stemcell stages whose logic can be checked without root or a network: the
 * agent settings per infrastructure, the kernel each build installs, the
 * verification of a downloaded agent, the system parameters.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pinnedAgent } from '../../lib/builder/stemcell';
import { tempDir } from '../helpers/stemcells';
import { dryRun } from '../helpers/stages';

const stemcellVars = (infrastructure: string, os = 'debian-bookworm'): [string, string][] => [
  ['STEMCELL_INFRASTRUCTURE', infrastructure],
  ['STEMCELL_VERSION', '1.10'],
  ['STEMCELL_AGENT_BINARY', ''],
  ['STEMCELL_OS_IMAGE', '/nonexistent'],
  ['STEMCELL_OUTPUT_DIR', `/tmp/unused-${os}`],
];

describe('agent settings', () => {
  it('AWS: instance metadata with IMDSv2 tokens, virtio device paths, partitions on ephemeral-less VMs', () => {
    const settings = JSON.parse(dryRun('agent_settings', 'debian-bookworm', {}, stemcellVars('aws')).read('var/vcap/bosh/agent.json'));
    expect(settings.Platform.Linux).toEqual({ CreatePartitionIfNoEphemeralDisk: true, DevicePathResolutionType: 'virtio' });
    expect(settings.Infrastructure.Settings).toEqual({
      Sources: [
        {
          Type: 'HTTP',
          URI: 'http://169.254.169.254',
          UserDataPath: '/latest/user-data',
          InstanceIDPath: '/latest/meta-data/instance-id',
          SSHKeysPath: '/latest/meta-data/public-keys/0/openssh-key',
          TokenPath: '/latest/api/token',
        },
      ],
      UseRegistry: true,
    });
  });

  it('OpenStack: config drive first, then the metadata service', () => {
    const settings = JSON.parse(dryRun('agent_settings', 'ubuntu-jammy', {}, stemcellVars('openstack', 'ubuntu-jammy')).read('var/vcap/bosh/agent.json'));
    expect(settings.Infrastructure.Settings.Sources.map((s: { Type: string }) => s.Type)).toEqual(['ConfigDrive', 'HTTP']);
    expect(settings.Infrastructure.Settings.Sources[0].DiskPaths).toContain('/dev/disk/by-label/config-2');
  });

  it.each(['vsphere', 'vcloud'])('%s: the CD-ROM, SCSI device paths', (infrastructure) => {
    const settings = JSON.parse(dryRun('agent_settings', 'ubuntu-noble', {}, stemcellVars(infrastructure, 'ubuntu-noble')).read('var/vcap/bosh/agent.json'));
    expect(settings.Infrastructure.Settings.Sources).toEqual([{ Type: 'CDROM', FileName: 'env' }]);
    expect(settings.Platform.Linux.DevicePathResolutionType).toBe('scsi');
  });
});

describe('kernel stage', () => {
  it.each([
    ['ubuntu-jammy', 'aws', 'linux-generic'],
    ['ubuntu-noble', 'vsphere', 'linux-generic'],
    ['debian-bookworm', 'openstack', 'linux-image-cloud-amd64'],
  ])('%s on %s installs %s with its initramfs', (os, infrastructure, kernel) => {
    const { commands, read } = dryRun('kernel', os, { proxy: 'http://proxy.internal:3128' }, stemcellVars(infrastructure, os));
    expect(commands.at(-1)).toMatch(new RegExp(`install ${kernel} initramfs-tools zstd$`));
    // zstd is what initramfs.conf asks for; without the command mkinitramfs falls back to gzip.
    expect(read('etc/initramfs-tools/conf.d/compress')).toMatch(/^COMPRESS=zstd\nCOMPRESSLEVEL=3\n/m);
    expect(read('etc/apt/apt.conf.d/90stemcell-build')).toContain('Acquire::http::Proxy "http://proxy.internal:3128";');
  });
});

describe('the pinned agent', () => {
  it('is upstream 2.695.0 with its size and sha256 (stage-scripts/data/bosh-agent.env)', () => {
    expect(pinnedAgent()).toEqual({
      version: '2.695.0',
      url: 'https://s3.amazonaws.com/bosh-agent-binaries/bosh-agent-2.695.0-linux-amd64',
      size: 22000460,
      sha256: '643de21ae5caced425c128ab2397ef8e0d3ffb588c2c891bc5342682690a40c7',
    });
  });

  // A file already in the work directory stands for a finished download.
  function withDownload(content: Buffer) {
    return dryRun('bosh_agent', 'debian-bookworm', {}, stemcellVars('aws'), { dry: false, before: (work) => fs.writeFileSync(path.join(work, 'bosh-agent-2.695.0'), content) });
  }

  it('refuses a download of the wrong size and removes it', () => {
    const r = withDownload(Buffer.from('not the agent'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/bosh-agent download is 13 bytes, expected 22000460; removed it/);
    expect(fs.existsSync(path.join(r.work, 'bosh-agent-2.695.0'))).toBe(false);
  });

  it('refuses a download of the right size with the wrong sha256', () => {
    const r = withDownload(Buffer.alloc(22000460, 1));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/bosh-agent sha256 is [0-9a-f]{64}, expected 643de21a/);
  });
});

describe('blobstore CLIs', () => {
  it('installs each one under its own name, executable and owned by root, and nothing when none is given', () => {
    const none = dryRun('blobstore_clis', 'debian-bookworm', {}, stemcellVars('aws'));
    expect(none.commands).toEqual([]);
    const bin = path.join(none.chroot, 'var/vcap/bosh/bin');
    expect(fs.existsSync(bin) ? fs.readdirSync(bin) : []).toEqual([]);
    const dir = fs.mkdtempSync(path.join(none.work, 'clis-'));
    const clis = ['bosh-blobstore-dav', 'bosh-blobstore-s3'].map((name) => {
      fs.writeFileSync(path.join(dir, name), `#!/bin/sh\necho ${name}\n`, { mode: 0o755 });
      return path.join(dir, name);
    });
    const r = dryRun('blobstore_clis', 'debian-bookworm', {}, [...stemcellVars('aws'), ['STEMCELL_BLOBSTORE_CLIS', clis.join(' ')]]);
    expect(r.commands).toEqual(clis.map((cli) => `host: install -m 0755 -o 0 -g 0 ${cli} ${r.chroot}/var/vcap/bosh/bin/${path.basename(cli)}`));
    const bad = dryRun('blobstore_clis', 'debian-bookworm', {}, [...stemcellVars('aws'), ['STEMCELL_BLOBSTORE_CLIS', path.join(dir, 'davcli')]], { dry: false });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/must be named bosh-blobstore-<kind>/);
  });

  // install -o 0 needs root; npm test runs as root, npm run test:unit reports this skipped.
  (process.getuid?.() === 0 ? it : it.skip)('really installs them: the same bytes, mode 0755, owner root', () => {
    const dir = fs.mkdtempSync(path.join(tempDir('clis-'), 'src-'));
    const cli = path.join(dir, 'bosh-blobstore-gcs');
    fs.writeFileSync(cli, '#!/bin/sh\necho gcs\n', { mode: 0o700 });
    const r = dryRun('blobstore_clis', 'debian-bookworm', {}, [...stemcellVars('aws'), ['STEMCELL_BLOBSTORE_CLIS', cli]], { dry: false });
    expect(r.status).toBe(0);
    const installed = path.join(r.chroot, 'var/vcap/bosh/bin/bosh-blobstore-gcs');
    expect(fs.readFileSync(installed, 'utf8')).toBe('#!/bin/sh\necho gcs\n');
    const stat = fs.statSync(installed);
    expect([stat.mode & 0o7777, stat.uid, stat.gid]).toEqual([0o755, 0, 0]);
  });
});

describe('system parameters', () => {
  it('tells the agent the infrastructure, OS and version', () => {
    const { read } = dryRun('system_parameters', 'ubuntu-jammy', {}, stemcellVars('aws', 'ubuntu-jammy'));
    expect(read('var/vcap/bosh/etc/infrastructure')).toBe('aws\n');
    expect(read('var/vcap/bosh/etc/operating_system')).toBe('ubuntu-jammy\n');
    expect(read('var/vcap/bosh/etc/stemcell_version')).toBe('1.10\n');
  });
});
