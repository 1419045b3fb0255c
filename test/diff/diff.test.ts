/** The pure core of stemcell diff: snapshots in, what changed out. */
import { diffManifests, diffPackages, diffSnapshots, diffTopLevelFiles, FileRecord, Snapshot } from '../../lib/diff/diff';

const pkg = (name: string, version: string, architecture = 'amd64') => ({ name, version, architecture });

function file(p: string, extra: Partial<FileRecord> = {}): FileRecord {
  return { path: p, type: 'file', mode: 0o644, uid: 0, gid: 0, size: 1, sha256: 'a'.repeat(64), ...extra };
}

function snapshot(extra: Partial<Snapshot> = {}): Snapshot {
  return { source: 'x.tgz', kind: 'os-image', label: 'OS image of debian-bookworm', packages: [], notes: [], ...extra };
}

describe('diffManifests', () => {
  it('names every field that differs, deep, as old -> new; lists whole', () => {
    const old = { name: 'bosh-aws-xen-hvm-ubuntu-jammy-go_agent', version: '1.260', sha1: 'a', stemcell_formats: ['aws-raw'], cloud_properties: { version: '1.260', disk: 5120, ami: { 'us-east-1': 'ami-1' } } };
    const now = { name: 'bosh-aws-xen-hvm-ubuntu-jammy-go_agent', version: '1.261', sha1: 'b', stemcell_formats: ['aws-light'], cloud_properties: { version: '1.261', disk: 5120, ami: { 'us-east-1': 'ami-2', 'eu-west-1': 'ami-3' } } };
    expect(diffManifests(old, now)).toEqual([
      { field: 'version', from: '1.260', to: '1.261' },
      { field: 'sha1', from: 'a', to: 'b' },
      { field: 'stemcell_formats', from: ['aws-raw'], to: ['aws-light'] },
      { field: 'cloud_properties.version', from: '1.260', to: '1.261' },
      { field: 'cloud_properties.ami.us-east-1', from: 'ami-1', to: 'ami-2' },
      { field: 'cloud_properties.ami.eu-west-1', from: undefined, to: 'ami-3' },
    ]);
  });

  it('finds nothing in equal manifests, and a field that went', () => {
    const m = { name: 'n', version: '1', cloud_properties: { boot_mode: 'uefi-preferred' } };
    expect(diffManifests(m, structuredClone(m))).toEqual([]);
    expect(diffManifests(m, { name: 'n', version: '1', cloud_properties: {} })).toEqual([{ field: 'cloud_properties.boot_mode', from: 'uefi-preferred', to: undefined }]);
  });

  it('never reports two fields under one name: a key with a dot is quoted', () => {
    const nested = { cloud_properties: { disk: 5120 } };
    const dotted = { 'cloud_properties.disk': 5120 };
    expect(diffManifests(nested, dotted)).toEqual([
      { field: 'cloud_properties.disk', from: 5120, to: undefined },
      { field: '["cloud_properties.disk"]', from: undefined, to: 5120 },
    ]);
    expect(diffManifests({ a: { 'b c': 1 } }, { a: { 'b c': 2 } })).toEqual([{ field: 'a["b c"]', from: 1, to: 2 }]);
  });
});

describe('diffPackages', () => {
  it('sorts packages into added, removed, upgraded and downgraded by Debian version order', () => {
    const old = [pkg('libc6', '2.36-9+deb12u8'), pkg('openssl', '3.0.15-1~deb12u1'), pkg('telnet', '0.17-44'), pkg('tzdata', '2024a-0+deb12u1'), pkg('bash', '5.2.15-2+b7')];
    const now = [pkg('bash', '5.2.15-2+b7'), pkg('libc6', '2.36-9+deb12u10'), pkg('openssl', '3.0.15-1'), pkg('curl', '7.88.1-10+deb12u8'), pkg('tzdata', '2023c-5+deb12u1')];
    expect(diffPackages(old, now)).toEqual({
      added: [pkg('curl', '7.88.1-10+deb12u8')],
      removed: [pkg('telnet', '0.17-44')],
      upgraded: [
        { name: 'libc6', architecture: 'amd64', from: '2.36-9+deb12u8', to: '2.36-9+deb12u10' },
        { name: 'openssl', architecture: 'amd64', from: '3.0.15-1~deb12u1', to: '3.0.15-1' },
      ],
      downgraded: [{ name: 'tzdata', architecture: 'amd64', from: '2024a-0+deb12u1', to: '2023c-5+deb12u1' }],
    });
  });

  it('keeps architectures of one package apart, and follows a package that changed architecture', () => {
    const old = [pkg('libc6', '2.36-9', 'amd64'), pkg('libc6', '2.36-9', 'i386'), pkg('fonts', '1.0-1', 'amd64')];
    const now = [pkg('libc6', '2.36-10', 'amd64'), pkg('fonts', '1.0-2', 'all')];
    expect(diffPackages(old, now)).toEqual({
      added: [],
      removed: [pkg('libc6', '2.36-9', 'i386')],
      upgraded: [
        { name: 'fonts', architecture: 'amd64 -> all', from: '1.0-1', to: '1.0-2' },
        { name: 'libc6', architecture: 'amd64', from: '2.36-9', to: '2.36-10' },
      ],
      downgraded: [],
    });
  });

  it('shows only name, version and architecture of what a status parser knew', () => {
    const rich = { ...pkg('curl', '1'), status: 'install ok installed', maintainer: 'someone' };
    expect(diffPackages([], [rich]).added).toEqual([pkg('curl', '1')]);
  });
});

describe('files outside packages', () => {
  const packagesOld = [pkg('openssh-server', '1:9.2p1-2'), pkg('libc6', '2.36-9')];
  const packagesNew = [pkg('openssh-server', '1:9.2p1-2'), pkg('libc6', '2.36-10')];
  const owners = new Map([
    ['/etc/ssh/sshd_config', new Set(['openssh-server'])],
    ['/usr/lib/x86_64-linux-gnu/libc.so.6', new Set(['libc6'])],
    ['/usr/lib', new Set(['libc6', 'openssh-server'])],
  ]);
  const old = snapshot({
    packages: packagesOld,
    owners,
    files: new Map([
      ['/etc/ssh/sshd_config', file('/etc/ssh/sshd_config')],
      ['/usr/lib/x86_64-linux-gnu/libc.so.6', file('/usr/lib/x86_64-linux-gnu/libc.so.6')],
      ['/usr/lib', file('/usr/lib', { type: 'directory', mode: 0o755, sha256: undefined })],
      ['/etc/machine-id', file('/etc/machine-id')],
      ['/etc/hostname', file('/etc/hostname')],
      ['/etc/alternatives/editor', file('/etc/alternatives/editor', { type: 'symlink', sha256: undefined, linkTarget: '/usr/bin/vim' })],
      ['/var/lib/dpkg/status', file('/var/lib/dpkg/status')],
      ['/usr/bin/helper', file('/usr/bin/helper', { mode: 0o755 })],
    ]),
  });
  const now = snapshot({
    packages: packagesNew,
    owners,
    files: new Map([
      ['/etc/ssh/sshd_config', file('/etc/ssh/sshd_config', { sha256: 'b'.repeat(64), mode: 0o600 })],
      ['/usr/lib/x86_64-linux-gnu/libc.so.6', file('/usr/lib/x86_64-linux-gnu/libc.so.6', { sha256: 'c'.repeat(64) })],
      ['/usr/lib', file('/usr/lib', { type: 'directory', mode: 0o775, sha256: undefined })],
      ['/etc/machine-id', file('/etc/machine-id', { type: 'symlink', sha256: undefined, linkTarget: '/run/machine-id' })],
      ['/etc/new', file('/etc/new', { uid: 1000, gid: 1000 })],
      ['/etc/alternatives/editor', file('/etc/alternatives/editor', { type: 'symlink', sha256: undefined, linkTarget: '/usr/bin/nano' })],
      ['/var/lib/dpkg/status', file('/var/lib/dpkg/status', { sha256: 'd'.repeat(64) })],
      ['/usr/bin/helper', file('/usr/bin/helper', { mode: 0o755, uid: 1000 })],
    ]),
  });

  it('reports what no package change explains, with the unchanged packages that own it', () => {
    const diff = diffSnapshots(old, now);
    expect(diff.files).toEqual({
      added: [{ path: '/etc/new', type: 'file', mode: '0644', owner: '1000:1000', sha256: 'a'.repeat(64), packages: [] }],
      removed: [{ path: '/etc/hostname', type: 'file', mode: '0644', owner: '0:0', sha256: 'a'.repeat(64), packages: [] }],
      changed: [
        expect.objectContaining({ path: '/etc/alternatives/editor', changed: ['link target'] }),
        expect.objectContaining({ path: '/etc/machine-id', changed: ['type'] }),
        {
          path: '/etc/ssh/sshd_config',
          changed: ['content', 'mode'],
          from: { type: 'file', mode: '0644', owner: '0:0', sha256: 'a'.repeat(64) },
          to: { type: 'file', mode: '0600', owner: '0:0', sha256: 'b'.repeat(64) },
          packages: ['openssh-server'],
        },
        expect.objectContaining({ path: '/usr/bin/helper', changed: ['owner'] }),
      ],
    });
  });

  it("leaves out files of packages whose version changed (a directory shared with one too) and dpkg's database", () => {
    const paths = JSON.stringify(diffSnapshots(old, now).files);
    expect(paths).not.toMatch(/libc\.so\.6|"\/usr\/lib"|var\/lib\/dpkg/);
  });

  it('compares no files when one side has none, and says why', () => {
    const diff = diffSnapshots(old, { ...now, files: undefined, notes: ['files not read (--no-files)'] });
    expect(diff.files).toBeUndefined();
    expect(diff.notes).toEqual(['new: files not read (--no-files)']);
    expect(diffSnapshots({ ...old, notes: ['x'] }, { ...now, notes: ['x'] }).notes).toEqual(['x']);
  });
});

describe('what a package change never explains', () => {
  it('configuration: a changed conffile of an upgraded package still shows', () => {
    const owners = new Map([['/etc/ssh/sshd_config', new Set(['openssh-server'])], ['/usr/sbin/sshd', new Set(['openssh-server'])]]);
    const files = (sha: string) => new Map([['/etc/ssh/sshd_config', file('/etc/ssh/sshd_config', { sha256: sha.repeat(64) })], ['/usr/sbin/sshd', file('/usr/sbin/sshd', { sha256: sha.repeat(64) })]]);
    const a = snapshot({ packages: [pkg('openssh-server', '1:9.2p1-2')], owners, files: files('a') });
    const b = snapshot({ packages: [pkg('openssh-server', '1:9.2p1-2+deb12u1')], owners, files: files('b') });
    expect(diffSnapshots(a, b).files!.changed.map((c) => c.path)).toEqual(['/etc/ssh/sshd_config']);
  });

  it('keeps a name that is not UTF-8 apart from a real name that spells out its escape', () => {
    const spelled = file('/etc/x\\xff', { sha256: 'a'.repeat(64) });
    const raw = { ...file('/etc/x\\xff', { sha256: 'a'.repeat(64) }), nameNotUtf8: true as const };
    const a = snapshot({ files: new Map([['/etc/x\\xff', spelled], ['/etc/x\\xff\u0000ff', raw]]) });
    const b = snapshot({ files: new Map([['/etc/x\\xff', spelled], ['/etc/x\\xff\u0000ff', { ...raw, sha256: 'e'.repeat(64) }]]) });
    expect(diffSnapshots(a, b).files!.changed).toEqual([expect.objectContaining({ path: '/etc/x\\xff', changed: ['content'] })]);
  });
});

describe('the whole', () => {
  const stemcell = (infrastructure: string, extra: Partial<Snapshot> = {}): Snapshot =>
    snapshot({ kind: 'stemcell', label: 's', infrastructure, manifest: { name: 'n', version: '1', cloud_properties: { infrastructure } }, topLevelFiles: new Map(), ...extra });

  it('says in one line that a stemcell and an OS image are compared by packages and files only', () => {
    const diff = diffSnapshots(stemcell('aws', { files: new Map() }), snapshot({ files: new Map() }));
    expect(diff.notes).toEqual(['comparing a stemcell with an OS image: packages and files only']);
    expect(diff.manifest).toBeUndefined();
    expect(diff.topLevelFiles).toBeUndefined();
    expect(diff.files).toEqual({ added: [], removed: [], changed: [] });
  });

  it('says in one line that stemcells of two infrastructures differ by design, and compares them all the same', () => {
    const diff = diffSnapshots(stemcell('aws'), stemcell('openstack'));
    expect(diff.notes).toEqual(['the stemcells are for different infrastructures (aws and openstack): their manifests, disks and agent settings differ by design']);
    expect(diff.manifest).toEqual([{ field: 'cloud_properties.infrastructure', from: 'aws', to: 'openstack' }]);
  });

  it('compares the other top-level files: line lists by lines, the rest by content', () => {
    const old = new Map([
      ['stemcell.MF', Buffer.from('a')],
      ['packages.txt', Buffer.from('a')],
      ['dev_tools_file_list.txt', Buffer.from('/usr/bin/gcc\n/usr/bin/make\n/usr/bin/cc\n')],
      ['sbom.spdx.json', Buffer.from('{"a":1}')],
      ['sbom.cdx.json', Buffer.from('{}')],
      ['notes.txt', Buffer.from('x')],
    ]);
    const now = new Map([
      ['stemcell.MF', Buffer.from('b')],
      ['packages.txt', Buffer.from('b')],
      ['dev_tools_file_list.txt', Buffer.from('/usr/bin/gcc\n/usr/bin/make\n/usr/bin/g++\n/usr/bin/ld\n')],
      ['sbom.spdx.json', Buffer.from('{"a":2}')],
      ['sbom.cdx.json', Buffer.from('{}')],
      ['extra.txt', Buffer.from('y')],
    ]);
    expect(diffTopLevelFiles(old, now)).toEqual([
      { name: 'dev_tools_file_list.txt', change: 'changed', linesAdded: 2, linesRemoved: 1 },
      { name: 'extra.txt', change: 'added' },
      { name: 'notes.txt', change: 'removed' },
      { name: 'sbom.spdx.json', change: 'changed' },
    ]);
  });
});
