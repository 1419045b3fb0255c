import {
  allStemcellDefinitions,
  defineStemcell,
  definitionForStemcellName,
  EMPTY_SHA1,
  heavyManifest,
  heavyTarballName,
  lightManifest,
  lightTarballName,
  parseManifest,
  renderManifest,
  stemcellName,
  tarballName,
  UsageError,
} from '../../lib/stemcell';

const SHA1 = '0123456789abcdef0123456789abcdef01234567';

describe('names, as upstream writes them', () => {
  const cases: [string, string, string | undefined, string, string][] = [
    ['aws', 'ubuntu-jammy', undefined, 'bosh-aws-xen-hvm-ubuntu-jammy-go_agent', 'bosh-stemcell-1.260-aws-xen-hvm-ubuntu-jammy-go_agent.tgz'],
    ['aws', 'ubuntu-noble', undefined, 'bosh-aws-xen-hvm-ubuntu-noble-go_agent', 'bosh-stemcell-1.260-aws-xen-hvm-ubuntu-noble-go_agent.tgz'],
    ['aws', 'debian-bookworm', undefined, 'bosh-aws-xen-hvm-debian-bookworm-go_agent', 'bosh-stemcell-1.260-aws-xen-hvm-debian-bookworm-go_agent.tgz'],
    ['openstack', 'ubuntu-jammy', undefined, 'bosh-openstack-kvm-ubuntu-jammy-go_agent', 'bosh-stemcell-1.260-openstack-kvm-ubuntu-jammy-go_agent.tgz'],
    ['openstack', 'ubuntu-jammy', 'raw', 'bosh-openstack-kvm-ubuntu-jammy-go_agent-raw', 'bosh-stemcell-1.260-openstack-kvm-ubuntu-jammy-go_agent-raw.tgz'],
    ['vsphere', 'ubuntu-noble', undefined, 'bosh-vsphere-esxi-ubuntu-noble-go_agent', 'bosh-stemcell-1.260-vsphere-esxi-ubuntu-noble-go_agent.tgz'],
    ['vcloud', 'ubuntu-jammy', undefined, 'bosh-vcloud-esxi-ubuntu-jammy-go_agent', 'bosh-stemcell-1.260-vcloud-esxi-ubuntu-jammy-go_agent.tgz'],
  ];
  it.each(cases)('%s %s %s', (infrastructure, os, diskFormat, name, heavy) => {
    const def = defineStemcell({ infrastructure, os, diskFormat });
    expect(stemcellName(def)).toBe(name);
    expect(heavyTarballName(def, '1.260')).toBe(heavy);
    expect(definitionForStemcellName(name)).toEqual(def);
  });

  it('names light AWS stemcells with the light- prefix', () => {
    expect(lightTarballName(defineStemcell({ infrastructure: 'aws', os: 'ubuntu-jammy' }), '1.260')).toBe(
      'light-bosh-stemcell-1.260-aws-xen-hvm-ubuntu-jammy-go_agent.tgz',
    );
  });

  it('refuses light names for infrastructures without light stemcells', () => {
    expect(() => lightTarballName(defineStemcell({ infrastructure: 'openstack', os: 'ubuntu-jammy' }), '1')).toThrow(/only aws/);
  });

  it('names stemcells outside the matrix the same way', () => {
    expect(tarballName('bosh-google-kvm-ubuntu-jammy-go_agent', '1.5', 'light')).toBe('light-bosh-stemcell-1.5-google-kvm-ubuntu-jammy-go_agent.tgz');
    expect(definitionForStemcellName('bosh-google-kvm-ubuntu-jammy-go_agent')).toBeUndefined();
    expect(() => tarballName('../../etc/passwd', '1', 'heavy')).toThrow(UsageError);
  });

  it.each(['', '../1', '1/2', '1 2', 'a'.repeat(65), '1..2'])('refuses version %j', (version) => {
    expect(() => heavyTarballName(defineStemcell({ infrastructure: 'aws', os: 'ubuntu-jammy' }), version)).toThrow(/invalid stemcell version/);
  });
});

describe('unsupported combinations', () => {
  it('lists valid infrastructures', () => {
    expect(() => defineStemcell({ infrastructure: 'gcp', os: 'ubuntu-jammy' })).toThrow(
      "unsupported infrastructure 'gcp'; choose one of: aws, openstack, vsphere, vcloud",
    );
  });
  it('lists valid operating systems', () => {
    expect(() => defineStemcell({ infrastructure: 'aws', os: 'ubuntu-bionic' })).toThrow(
      "unsupported operating system 'ubuntu-bionic'; choose one of: ubuntu-jammy, ubuntu-noble, debian-bookworm",
    );
  });
  it('lists valid disk formats and hypervisors of the infrastructure', () => {
    expect(() => defineStemcell({ infrastructure: 'aws', os: 'ubuntu-jammy', diskFormat: 'qcow2' })).toThrow(
      "unsupported disk format for aws 'qcow2'; choose one of: raw",
    );
    expect(() => defineStemcell({ infrastructure: 'vsphere', os: 'ubuntu-jammy', hypervisor: 'kvm' })).toThrow(
      "unsupported hypervisor for vsphere 'kvm'; choose one of: esxi",
    );
    expect(() => defineStemcell({ infrastructure: 'aws', os: 'ubuntu-jammy', firmware: 'coreboot' })).toThrow(/choose one of: bios, efi/);
  });
});

describe('manifests for every cell of the matrix', () => {
  const defs = allStemcellDefinitions();

  it('covers 4 infrastructures x 3 operating systems plus OpenStack raw', () => {
    expect(defs).toHaveLength(4 * 3 + 3);
  });

  it.each(defs.map((d) => [stemcellName(d), d] as const))('%s', (_name, def) => {
    const manifest = heavyManifest(def, { version: '1.10', imageSha1: SHA1 });
    const text = renderManifest(manifest);
    expect(text).toContain("version: '1.10'");
    const back = parseManifest(text);
    expect(back).toEqual(manifest);
    expect(back.name).toBe(stemcellName(def));
    expect(back.bosh_protocol).toBe(1);
    expect(back.api_version).toBe(3);
    expect(back.operating_system).toBe(def.os.name);
    expect(back.stemcell_formats).toEqual([def.diskFormat.stemcellFormat]);
    expect(back.cloud_properties).toMatchObject({
      name: stemcellName(def),
      version: '1.10',
      infrastructure: def.infrastructure.name,
      disk_format: def.diskFormat.diskFormat,
      container_format: 'bare',
      os_type: 'linux',
      os_distro: def.os.distro,
      architecture: 'x86_64',
    });
  });

  it('writes the AWS heavy manifest exactly like upstream', () => {
    const def = defineStemcell({ infrastructure: 'aws', os: 'ubuntu-jammy' });
    expect(renderManifest(heavyManifest(def, { version: '1.260', imageSha1: SHA1 }))).toBe(
      [
        '---',
        'name: bosh-aws-xen-hvm-ubuntu-jammy-go_agent',
        "version: '1.260'",
        'bosh_protocol: 1',
        'api_version: 3',
        `sha1: ${SHA1}`,
        'operating_system: ubuntu-jammy',
        'stemcell_formats:',
        '- aws-raw',
        'cloud_properties:',
        '  name: bosh-aws-xen-hvm-ubuntu-jammy-go_agent',
        "  version: '1.260'",
        '  infrastructure: aws',
        '  hypervisor: xen',
        '  disk: 5120',
        '  disk_format: raw',
        '  container_format: bare',
        '  os_type: linux',
        '  os_distro: ubuntu',
        '  architecture: x86_64',
        '  root_device_name: /dev/sda1',
        '',
      ].join('\n'),
    );
  });

  it('declares uefi-preferred boot mode for EFI AWS images only', () => {
    const noble = heavyManifest(defineStemcell({ infrastructure: 'aws', os: 'ubuntu-noble' }), { version: '1', imageSha1: SHA1 });
    expect(noble.cloud_properties?.boot_mode).toBe('uefi-preferred');
    const jammy = heavyManifest(defineStemcell({ infrastructure: 'aws', os: 'ubuntu-jammy' }), { version: '1', imageSha1: SHA1 });
    expect(jammy.cloud_properties).not.toHaveProperty('boot_mode');
    const efiDebian = heavyManifest(defineStemcell({ infrastructure: 'aws', os: 'debian-bookworm', firmware: 'efi' }), { version: '1', imageSha1: SHA1 });
    expect(efiDebian.cloud_properties?.boot_mode).toBe('uefi-preferred');
  });

  it('refuses a bad sha1 and a tiny disk', () => {
    const def = defineStemcell({ infrastructure: 'aws', os: 'ubuntu-jammy' });
    expect(() => heavyManifest(def, { version: '1', imageSha1: 'abc' })).toThrow(/40 lower-case hex/);
    expect(() => heavyManifest(def, { version: '1', imageSha1: SHA1, diskSizeMiB: 12 })).toThrow(/at least 1024/);
  });
});

describe('light manifests', () => {
  const heavy = heavyManifest(defineStemcell({ infrastructure: 'aws', os: 'ubuntu-jammy' }), { version: '1.10', imageSha1: SHA1 });
  const amis = { 'us-west-2': 'ami-0fedcba9876543210', 'us-east-1': 'ami-0123456789abcdef0' };

  it('has the empty sha1, [aws-light] and the AMI map in sorted region order', () => {
    const light = lightManifest(heavy, amis);
    expect(light.sha1).toBe(EMPTY_SHA1);
    expect(light.stemcell_formats).toEqual(['aws-light']);
    expect(light.cloud_properties).toEqual({ infrastructure: 'aws', ami: { 'us-east-1': 'ami-0123456789abcdef0', 'us-west-2': 'ami-0fedcba9876543210' } });
    const text = renderManifest(light);
    expect(text).toContain("version: '1.10'");
    expect(text.indexOf('us-east-1')).toBeLessThan(text.indexOf('us-west-2'));
    expect(parseManifest(text)).toEqual(light);
  });

  it('refuses non-AWS and already light stemcells', () => {
    const openstack = heavyManifest(defineStemcell({ infrastructure: 'openstack', os: 'ubuntu-jammy' }), { version: '1', imageSha1: SHA1 });
    expect(() => lightManifest(openstack, amis)).toThrow(/is a stemcell for openstack; light stemcells are made from heavy AWS stemcells/);
    expect(() => lightManifest(lightManifest(heavy, amis), amis)).toThrow(/already a light stemcell/);
  });

  it('refuses an empty map, bad regions and bad AMI ids', () => {
    expect(() => lightManifest(heavy, {})).toThrow(/AMI map is empty/);
    expect(() => lightManifest(heavy, { 'US-EAST-1': 'ami-0123456789abcdef0' })).toThrow(/not an AWS region name/);
    expect(() => lightManifest(heavy, { 'us-east-1': 'ami-xyz' })).toThrow(/not an AMI id/);
  });
});

describe('reading manifests like a director', () => {
  const good = renderManifest(heavyManifest(defineStemcell({ infrastructure: 'aws', os: 'ubuntu-jammy' }), { version: '1.10', imageSha1: SHA1 }));

  it('keeps a quoted version a string', () => {
    expect(parseManifest(good).version).toBe('1.10');
  });

  it('refuses an unquoted numeric version, with the fix in the message', () => {
    expect(() => parseManifest(good.replace("version: '1.10'", 'version: 1.10'))).toThrow(
      "stemcell.MF: 'version' must be a non-empty string, got number 1.1; quote it in the YAML (version: '1.10' stays 1.10; unquoted, YAML reads it as the number 1.1)",
    );
  });

  it.each([
    ['missing name', (t: string) => t.replace(/^name: .*\n/m, ''), /'name' must be a non-empty string, got nothing/],
    ['missing sha1', (t: string) => t.replace(/^sha1: .*\n/m, ''), /'sha1' must be a non-empty string/],
    ['malformed sha1', (t: string) => t.replace(/^sha1: .*$/m, 'sha1: xyz'), /'sha1' must be 40 hex digits/],
    ['unknown format', (t: string) => t.replace('- aws-raw', '- floppy-disk'), /unknown stemcell format floppy-disk/],
    ['cloud_properties a list', (t: string) => t.replace(/cloud_properties:[\s\S]*$/, 'cloud_properties: [1]\n'), /'cloud_properties' must be a mapping/],
    ['not a mapping', () => '- a\n- b\n', /expected a YAML mapping/],
    ['not YAML', () => 'name: [unclosed\n', /not valid YAML/],
    ['duplicate keys', (t: string) => `${t}name: other\n`, /not valid YAML/],
  ])('refuses %s', (_what, edit, error) => {
    expect(() => parseManifest(edit(good))).toThrow(error);
  });

  it('accepts the multi-digest form of sha1', () => {
    const sha256 = 'a'.repeat(64);
    expect(parseManifest(good.replace(/^sha1: .*$/m, `sha1: sha1:${SHA1};sha256:${sha256}`)).sha1).toBe(`sha1:${SHA1};sha256:${sha256}`);
  });

  it('refuses a light manifest without a usable AMI map', () => {
    const light = renderManifest(lightManifest(parseManifest(good), { 'us-east-1': 'ami-0123456789abcdef0' }));
    expect(() => parseManifest(light.replace(/ami:[\s\S]*$/, 'ami: {}\n'))).toThrow(/cloud_properties.ami: the AMI map is empty/);
  });
});
