/**
 * The SBOMs of an image: SPDX 2.3 and CycloneDX 1.6 from a real bookworm dpkg
 * database and copyright files, valid, deterministic, with package URLs as
 * syft writes them and the licenses the DEP-5 copyright files declare.
 *
 * CycloneDX is validated against its published schema (shipped by
 * @cyclonedx/cyclonedx-library). No npm package ships the SPDX 2.3 JSON
 * schema, so spdxProblems (test/helpers/sbom-validation.ts) checks the SPDX
 * document against that schema's structure, restated as a table, and the
 * SPDX 2.3 specification's rules.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DirectoryView } from '../../lib/check/fs-view';
import { InvalidStemcellError, UsageError } from '../../lib/errors';
import { debianCopyrightLicenses, licenseRef, spdxLicenseId } from '../../lib/stemcell/debian-licenses';
import { OPERATING_SYSTEMS } from '../../lib/stemcell/matrix';
import { debPurl, readSbomInput, SBOM_FILES, sbomDocuments, SbomPackage, SbomRequest } from '../../lib/stemcell/sbom';
import { purlProblems, spdxProblems, validateCycloneDx } from '../helpers/sbom-validation';
import { tempDir } from '../helpers/stemcells';

const ROOT = path.join(__dirname, '..', 'fixtures', 'sbom', 'root');
const STATUS = fs.readFileSync(path.join(ROOT, 'var/lib/dpkg/status'), 'utf8');
const BOOKWORM = OPERATING_SYSTEMS['debian-bookworm'];
const packages = readSbomInput(new DirectoryView(ROOT));

const request = (more: Partial<SbomRequest> = {}): SbomRequest => ({
  os: BOOKWORM,
  name: 'bosh-aws-xen-hvm-debian-bookworm-go_agent',
  version: '1.260',
  epochSeconds: 1_700_000_000,
  toolVersion: '0.1.0',
  packages,
  ...more,
});
const documents = sbomDocuments(request());
/* eslint-disable @typescript-eslint/no-explicit-any -- the documents are checked as the JSON they are */
const spdx = JSON.parse(documents.spdx);
const cdx = JSON.parse(documents.cycloneDx);
const spdxPackage = (name: string): any => spdx.packages.find((p: any) => p.name === name);
const component = (name: string): any => cdx.components.find((c: any) => c.name === name);

const clone = (doc: unknown): any => JSON.parse(JSON.stringify(doc));

describe('the documents', () => {
  it('are valid CycloneDX 1.6', () => {
    expect(validateCycloneDx(cdx) ? [] : validateCycloneDx.errors).toEqual([]);
  });

  it('are valid SPDX 2.3', () => {
    expect(spdxProblems(spdx)).toEqual([]);
  });

  it('fail the validations when broken, so the validations can fail', () => {
    for (const broken of [
      (d: any) => delete d.bomFormat,
      (d: any) => delete d.components[0].name,
      (d: any) => (d.serialNumber = 'urn:uuid:not-a-uuid'),
      (d: any) => (d.components[0].licenses = [{ license: { id: 'Not-A-License' } }]),
      (d: any) => (d.components[0].type = 'deb'),
    ]) {
      const doc = clone(cdx);
      broken(doc);
      expect(validateCycloneDx(doc)).toBe(false);
    }
    const brokenSpdx: [(d: any) => unknown, RegExp][] = [
      [(d) => delete d.packages[1].downloadLocation, /no downloadLocation/],
      [(d) => (d.packages[1].SPDXID = 'SPDXRef-apt+1'), /SPDXID is not/],
      [(d) => (d.packages[2].SPDXID = d.packages[1].SPDXID), /SPDXID used twice/],
      [(d) => (d.packages[1].licenseDeclared = 'LicenseRef-undefined'), /LicenseRef-undefined has no hasExtractedLicensingInfos entry/],
      [(d) => (d.packages[1].licenseDeclared = 'GPL-2+'), /GPL-2\+ is no SPDX license id/],
      [(d) => d.relationships.push({ spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'CONTAINS', relatedSpdxElement: 'SPDXRef-gone' }), /names an element that does not exist/],
      [(d) => (d.creationInfo.created = '2023-11-14T22:13:20.000Z'), /created is not/],
      [(d) => (d.packages[1].externalRefs[0].referenceLocator = 'pkg:deb/debian/libstdc++6@1.0+1'), /is not percent-encoded/],
      [(d) => (d.packageCount = 1), /^document: unknown field packageCount$/m],
      // The SPDX 2.3 JSON schema's structure: no field it does not define, at any depth ...
      [(d) => (d.creationInfo.tool = 'stemcell-farm'), /^creationInfo: unknown field tool$/m],
      [(d) => (d.packages[1].purl = d.packages[1].externalRefs[0].referenceLocator), /^packages\[1\]: unknown field purl$/m],
      [(d) => (d.packages[1].externalRefs[0].url = 'https://packages.debian.org/'), /^packages\[1\]\.externalRefs\[0\]: unknown field url$/m],
      [(d) => (d.hasExtractedLicensingInfos[0].text = 'public domain'), /^hasExtractedLicensingInfos\[0\]: unknown field text$/m],
      [(d) => (d.relationships[0].note = 'the image'), /^relationships\[0\]: unknown field note$/m],
      // ... only the values an enumeration has ...
      [(d) => (d.relationships[1].relationshipType = 'INCLUDES'), /^relationships\[1\]\.relationshipType: "INCLUDES" is not one of the values/m],
      [(d) => (d.packages[1].externalRefs[0].referenceCategory = 'purl'), /^packages\[1\]\.externalRefs\[0\]\.referenceCategory: "purl" is not one of the values/m],
      [(d) => (d.packages[0].primaryPackagePurpose = 'OS'), /^packages\[0\]\.primaryPackagePurpose: "OS" is not one of the values/m],
      [(d) => (d.packages[1].checksums = [{ algorithm: 'SHA-256', checksumValue: 'ab' }]), /^packages\[1\]\.checksums\[0\]\.algorithm: "SHA-256" is not one of the values/m],
      [(d) => (d.annotations = [{ annotationDate: '2023-11-14T22:13:20Z', annotationType: 'NOTE', annotator: 'Tool: x', comment: 'c' }]), /^annotations\[0\]\.annotationType: "NOTE" is not one of the values/m],
      // ... strings of the forms the patterns say ...
      [(d) => (d.packages[1].SPDXID = 'Package-deb-apt-amd64'), /^packages\[1\]\.SPDXID is not SPDXRef-/m],
      [(d) => (d.packages[1].SPDXID = 'SPDXRef-'), /^packages\[1\]\.SPDXID is not SPDXRef-/m],
      [(d) => (d.creationInfo.created = '2023-13-14T22:13:20Z'), /^creationInfo\.created is not a UTC time/m],
      [(d) => (d.creationInfo.created = '2023-11-14T24:00:00Z'), /^creationInfo\.created is not a UTC time/m],
      [(d) => (d.creationInfo.created = '2023-11-14T22:13:20+00:00'), /^creationInfo\.created is not a UTC time/m],
      [(d) => (d.packages[1].builtDate = '2023-11-14'), /^packages\[1\]\.builtDate is not a UTC time/m],
      [(d) => (d.packages[1].checksums = [{ algorithm: 'SHA256', checksumValue: 'sha256:ab' }]), /^packages\[1\]\.checksums\[0\]\.checksumValue is not hexadecimal/m],
      // ... every required field ...
      [(d) => delete d.packages[1].name, /^packages\[1\]: no name$/m],
      [(d) => delete d.packages[1].SPDXID, /^packages\[1\]: no SPDXID$/m],
      [(d) => delete d.packages[1].externalRefs[0].referenceType, /^packages\[1\]\.externalRefs\[0\]: no referenceType$/m],
      [(d) => delete d.creationInfo.creators, /^creationInfo: no creators$/m],
      [(d) => delete d.dataLicense, /^document: no dataLicense$/m],
      [(d) => delete d.relationships[1].relatedSpdxElement, /^relationships\[1\]: no relatedSpdxElement$/m],
      [(d) => delete d.hasExtractedLicensingInfos[0].extractedText, /^hasExtractedLicensingInfos\[0\]: no extractedText$/m],
      // ... each field of its type, and arrays no shorter than their least ...
      [(d) => (d.packages[1].filesAnalyzed = 'false'), /^packages\[1\]\.filesAnalyzed is not a boolean$/m],
      [(d) => (d.packages[1].versionInfo = 1.26), /^packages\[1\]\.versionInfo is not a string$/m],
      [(d) => (d.packages[1].externalRefs = d.packages[1].externalRefs[0]), /^packages\[1\]\.externalRefs is not an array$/m],
      [(d) => (d.hasExtractedLicensingInfos[0].licenseId = 5), /^hasExtractedLicensingInfos\[0\]\.licenseId is not a string$/m],
      [(d) => (d.hasExtractedLicensingInfos[0].crossRefs = [{ url: 'https://example.org/', order: 1.5 }]), /^hasExtractedLicensingInfos\[0\]\.crossRefs\[0\]\.order is not an integer$/m],
      [(d) => (d.relationships[0] = 'DESCRIBES'), /^relationships\[0\] is not an object$/m],
      [(d) => (d.creationInfo = [d.creationInfo]), /^creationInfo is not an object$/m],
      [(d) => (d.creationInfo.creators = 'Tool: stemcell-farm-0.1.0'), /^creationInfo\.creators is not an array$/m],
      [(d) => (d.packages = {}), /^packages is not an array$/m],
      [(d) => (d.creationInfo.creators = []), /^creationInfo\.creators has fewer than 1 item$/m],
    ];
    for (const [broken, problem] of brokenSpdx) {
      const doc = clone(spdx);
      broken(doc);
      expect(spdxProblems(doc).join('\n')).toMatch(problem);
    }
  });

  it('pass the validation with what the SPDX 2.3 schema allows beyond what they hold', () => {
    const doc = clone(spdx);
    doc.$schema = 'https://raw.githubusercontent.com/spdx/spdx-spec/v2.3/schemas/spdx-schema.json';
    doc.creationInfo.licenseListVersion = '3.22';
    doc.annotations = [{ annotationDate: '2016-12-31T23:59:60Z', annotationType: 'REVIEW', annotator: 'Person: someone', comment: 'fine' }];
    doc.packages[1].checksums = [{ algorithm: 'SHA3-256', checksumValue: 'AB01' }];
    doc.packages[1].externalRefs[0].referenceCategory = 'PACKAGE_MANAGER';
    doc.hasExtractedLicensingInfos[0].crossRefs = [{ url: 'https://example.org/', isLive: false, order: 1 }];
    doc.relationships.push({ spdxElementId: doc.packages[1].SPDXID, relationshipType: 'DEV_DEPENDENCY_OF', relatedSpdxElement: 'NOASSERTION' });
    expect(spdxProblems(doc)).toEqual([]);
  });

  it('list every installed package, inside the operating system the SPDX document describes', () => {
    const count = STATUS.match(/^Status: install ok installed$/gm)!.length;
    expect(packages).toHaveLength(count);
    expect(cdx.components).toHaveLength(count);
    expect(spdx.packages).toHaveLength(count + 1);
    expect(spdx.packages[0]).toMatchObject({ SPDXID: 'SPDXRef-OperatingSystem', name: 'bosh-aws-xen-hvm-debian-bookworm-go_agent', versionInfo: '1.260', primaryPackagePurpose: 'OPERATING-SYSTEM' });
    expect(spdx.relationships[0]).toEqual({ spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: 'SPDXRef-OperatingSystem' });
    const contained = spdx.relationships.filter((r: any) => r.spdxElementId === 'SPDXRef-OperatingSystem' && r.relationshipType === 'CONTAINS').map((r: any) => r.relatedSpdxElement);
    expect(contained).toEqual(spdx.packages.slice(1).map((p: any) => p.SPDXID));
    expect(cdx.metadata.component).toMatchObject({ type: 'operating-system', name: 'bosh-aws-xen-hvm-debian-bookworm-go_agent', version: '1.260' });
  });

  it('say who made them and when: the tool and SOURCE_DATE_EPOCH', () => {
    expect(spdx.creationInfo).toEqual({ created: '2023-11-14T22:13:20Z', creators: ['Tool: stemcell-farm-0.1.0'] });
    expect(cdx.metadata.timestamp).toBe('2023-11-14T22:13:20Z');
    expect(cdx.metadata.tools).toEqual({ components: [{ type: 'application', name: 'stemcell-farm', version: '0.1.0' }] });
  });

  it('describe a package by its dpkg fields', () => {
    expect(spdxPackage('libc6')).toEqual({
      SPDXID: 'SPDXRef-Package-deb-libc6-amd64',
      name: 'libc6',
      versionInfo: '2.36-9+deb12u14',
      supplier: 'Organization: GNU Libc Maintainers (debian-glibc@lists.debian.org)',
      downloadLocation: 'NOASSERTION',
      filesAnalyzed: false,
      homepage: 'https://www.gnu.org/software/libc/libc.html',
      sourceInfo: 'built from the Debian source package glibc 2.36-9+deb12u14',
      licenseConcluded: 'NOASSERTION',
      licenseDeclared: 'NOASSERTION',
      copyrightText: 'NOASSERTION',
      summary: 'GNU C Library: Shared libraries',
      externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: 'pkg:deb/debian/libc6@2.36-9%2Bdeb12u14?arch=amd64&upstream=glibc&distro=debian-12' }],
    });
    expect(component('bsdutils')).toMatchObject({
      type: 'library',
      'bom-ref': 'pkg:deb/debian/bsdutils@1:2.38.1-5%2Bdeb12u3?arch=amd64&upstream=util-linux%402.38.1-5%2Bdeb12u3&distro=debian-12',
      supplier: { name: 'util-linux packagers' },
      publisher: 'util-linux packagers <util-linux@packages.debian.org>',
      version: '1:2.38.1-5+deb12u3',
      properties: [
        { name: 'stemcell-farm:deb:architecture', value: 'amd64' },
        { name: 'stemcell-farm:deb:source', value: 'util-linux' },
        { name: 'stemcell-farm:deb:source-version', value: '2.38.1-5+deb12u3' },
      ],
    });
  });

  it('give package names that are no SPDX identifier characters a valid, unique SPDXID', () => {
    expect(spdxPackage('libstdc++6').SPDXID).toBe('SPDXRef-Package-deb-libstdc.2B.2B6-amd64');
    expect(spdxPackage('g++').SPDXID).toBe('SPDXRef-Package-deb-g.2B.2B-amd64');
    const meeting: SbomPackage[] = [
      { name: 'a-b', version: '1', architecture: 'c', sourceName: 'a-b', sourceVersion: '1', licenses: [] },
      { name: 'ab', version: '1', architecture: 'b-c', sourceName: 'ab', sourceVersion: '1', licenses: [] },
      { name: 'ab-b', version: '1', architecture: 'c', sourceName: 'ab-b', sourceVersion: '1', licenses: [] },
    ];
    const doc = JSON.parse(sbomDocuments(request({ packages: meeting })).spdx);
    expect(doc.packages.map((p: any) => p.SPDXID)).toEqual(['SPDXRef-OperatingSystem', 'SPDXRef-Package-deb-a-b-c', 'SPDXRef-Package-deb-ab-b-c', 'SPDXRef-Package-deb-ab-b-c-2']);
    expect(spdxProblems(doc)).toEqual([]);
  });

  it('are named by the constants the stemcell writer and readers share', () => {
    expect(SBOM_FILES).toEqual({ spdx: 'sbom.spdx.json', cycloneDx: 'sbom.cdx.json' });
  });
});

describe('determinism', () => {
  it('gives the same bytes for the same input, and whatever the order of packages and licenses', () => {
    expect(sbomDocuments(request())).toEqual(documents);
    const shuffled = [...packages].reverse().map((p, i) => ({ ...p, licenses: i % 2 ? [...p.licenses].reverse() : p.licenses }));
    shuffled.push(shuffled.shift()!);
    expect(sbomDocuments(request({ packages: shuffled }))).toEqual(documents);
  });

  it('writes 2-space JSON with a final newline', () => {
    for (const text of [documents.spdx, documents.cycloneDx]) {
      expect(text).toBe(`${JSON.stringify(JSON.parse(text), null, 2)}\n`);
    }
  });

  it('derives the identifiers from the content: other content, other identifiers', () => {
    const uuid = /[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    expect(spdx.documentNamespace).toMatch(new RegExp(`^https://spdx.org/spdxdocs/bosh-aws-xen-hvm-debian-bookworm-go_agent-1.260-${uuid.source}`));
    expect(cdx.serialNumber).toMatch(new RegExp(`^urn:uuid:${uuid.source}`));
    const later = sbomDocuments(request({ epochSeconds: 1_700_000_001 }));
    const fewer = sbomDocuments(request({ packages: packages.slice(1) }));
    for (const other of [later, fewer]) {
      expect(JSON.parse(other.spdx).documentNamespace).not.toBe(spdx.documentNamespace);
      expect(JSON.parse(other.cycloneDx).serialNumber).not.toBe(cdx.serialNumber);
    }
  });

  it('refuses a package listed twice, whose order would decide the bytes', () => {
    expect(() => sbomDocuments(request({ packages: [...packages, { ...packages[3], version: '9' }] }))).toThrow(InvalidStemcellError);
    expect(() => sbomDocuments(request({ packages: [...packages, { ...packages[3], version: '9' }] }))).toThrow(`package ${packages[3].name}:amd64 is listed twice`);
  });

  it('refuses a SOURCE_DATE_EPOCH that is no time', () => {
    for (const epochSeconds of [-1, 1.5, Number.NaN, 1e15]) expect(() => sbomDocuments(request({ epochSeconds }))).toThrow(UsageError);
  });
});

describe('package URLs', () => {
  const purl = (name: string, version: string, sourceName = name, sourceVersion = version, os = BOOKWORM): string =>
    debPurl({ name, version, architecture: 'amd64', sourceName, sourceVersion }, os);

  it('are written as syft writes them: upstream names a different source package, with @version when that differs', () => {
    expect(purl('libc6', '2.36-9+deb12u4', 'glibc')).toBe('pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&upstream=glibc&distro=debian-12');
    expect(purl('bash', '5.2.15-2+b8', 'bash', '5.2.15-2')).toBe('pkg:deb/debian/bash@5.2.15-2%2Bb8?arch=amd64&upstream=bash%405.2.15-2&distro=debian-12');
    expect(purl('apt', '2.6.1')).toBe('pkg:deb/debian/apt@2.6.1?arch=amd64&distro=debian-12');
  });

  it('percent-encode as the purl specification says: + and @ encoded, the colon of an epoch and ~ not', () => {
    expect(purl('libcap2', '1:2.66-4+deb12u2+b2', 'libcap2', '1:2.66-4+deb12u2')).toBe(
      'pkg:deb/debian/libcap2@1:2.66-4%2Bdeb12u2%2Bb2?arch=amd64&upstream=libcap2%401:2.66-4%2Bdeb12u2&distro=debian-12',
    );
    expect(purl('libstdc++6', '12.2.0-14+deb12u1', 'gcc-12')).toBe('pkg:deb/debian/libstdc%2B%2B6@12.2.0-14%2Bdeb12u1?arch=amd64&upstream=gcc-12&distro=debian-12');
    expect(purl('dbus', '1.14.10-1~deb12u1')).toBe('pkg:deb/debian/dbus@1.14.10-1~deb12u1?arch=amd64&distro=debian-12');
    expect(decodeURIComponent(purl('libjs-jquery', '3.6.1+dfsg+~3.5.14-1').split('@')[1].split('?')[0])).toBe('3.6.1+dfsg+~3.5.14-1');
  });

  it('name Ubuntu and its release for Ubuntu stemcells', () => {
    expect(purl('libc6', '2.35-0ubuntu3.8', 'glibc', '2.35-0ubuntu3.8', OPERATING_SYSTEMS['ubuntu-jammy'])).toBe(
      'pkg:deb/ubuntu/libc6@2.35-0ubuntu3.8?arch=amd64&upstream=glibc&distro=ubuntu-22.04',
    );
    expect(purl('libc6', '2.39-0ubuntu8', 'glibc', '2.39-0ubuntu8', OPERATING_SYSTEMS['ubuntu-noble'])).toMatch(/&distro=ubuntu-24\.04$/);
  });

  it('are the same in both documents, and valid for every package', () => {
    for (const c of cdx.components) {
      expect(c.purl).toBe(c['bom-ref']);
      expect(spdxPackage(c.name).externalRefs[0].referenceLocator).toBe(c.purl);
      expect(purlProblems(c.purl)).toEqual([]);
    }
  });
});

describe('homepages', () => {
  it('are left out when they are no URL a reader could open', () => {
    for (const homepage of ['http://[', 'http://a:b:c', 'http://%zz', 'javascript:alert(1)']) {
      const doc = JSON.parse(sbomDocuments(request({ packages: [{ ...packages[0], homepage }] })).spdx);
      expect(doc.packages.find((p: { name: string }) => p.name === packages[0].name).homepage).toBeUndefined();
      expect(spdxProblems(doc)).toEqual([]);
    }
  });
});

describe('licenses', () => {
  const copyright = (name: string): string => fs.readFileSync(path.join(ROOT, 'usr/share/doc', name, 'copyright'), 'utf8');

  it('are the License short names of a DEP-5 copyright file, each once', () => {
    expect(debianCopyrightLicenses(copyright('ca-certificates'))).toEqual(['GPL-2+', 'MPL-2.0']);
    expect(debianCopyrightLicenses(copyright('tzdata'))).toEqual(['public-domain']);
    // "GPL-1+ or Artistic": a License line may name several.
    expect(debianCopyrightLicenses('Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: GPL-1+ or Artistic, and BSD-3-clause\n')).toEqual(['Artistic', 'BSD-3-clause', 'GPL-1+']);
  });

  it("take names that are Object's own (constructor, __proto__) as any other name", () => {
    expect(spdxLicenseId('constructor')).toBeUndefined();
    expect(spdxLicenseId('__proto__')).toBeUndefined();
    const doc = JSON.parse(sbomDocuments(request({ packages: [{ ...packages[0], licenses: ['constructor'] }] })).spdx);
    expect(doc.packages.find((p: { name: string }) => p.name === packages[0].name).licenseDeclared).toBe('LicenseRef-constructor');
    expect(spdxProblems(doc)).toEqual([]);
  });

  it('read a License line of a million blanks in one pass (the split once went cubic)', () => {
    const text = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: MIT${' '.repeat(1_000_000)}or Expat\n`;
    expect(debianCopyrightLicenses(text)).toEqual(['Expat', 'MIT']);
  });

  it('are never guessed from a copyright file that is not DEP-5, even one with License lines', () => {
    expect(debianCopyrightLicenses(copyright('libc6'))).toEqual([]);
    expect(copyright('python3.11')).toMatch(/^License: /m);
    expect(debianCopyrightLicenses(copyright('python3.11'))).toEqual([]);
    expect(spdxPackage('python3.11').licenseDeclared).toBe('NOASSERTION');
    expect(component('python3.11').licenses).toBeUndefined();
  });

  it('map Debian short names to SPDX identifiers', () => {
    const cases: [string, string | undefined][] = [
      ['GPL-2+', 'GPL-2.0-or-later'],
      ['GPL-2', 'GPL-2.0-only'],
      ['GPL-2.0+', 'GPL-2.0-or-later'],
      ['GPLv3+', 'GPL-3.0-or-later'],
      ['LGPL-2.1+', 'LGPL-2.1-or-later'],
      ['LGPL-2+', 'LGPL-2.0-or-later'],
      ['AGPL-3', 'AGPL-3.0-only'],
      ['GFDL-1.3+', 'GFDL-1.3-or-later'],
      ['BSD-3-clause', 'BSD-3-Clause'],
      ['Expat', 'MIT'],
      ['zlib', 'Zlib'],
      ['Apache-2.0', 'Apache-2.0'],
      ['OpenLDAP-2.8', 'OLDAP-2.8'],
      ['public-domain', undefined],
      ['GPL', undefined],
      ['GPL-2+ with Autoconf exception', undefined],
      ['GPL-7+', undefined],
    ];
    expect(cases.map(([name]) => [name, spdxLicenseId(name)])).toEqual(cases);
    expect(licenseRef('public-domain')).toBe('LicenseRef-public-domain');
    expect(licenseRef('GPL-2+ with Autoconf exception')).toBe('LicenseRef-GPL-2-with-Autoconf-exception');
  });

  it('are declared in SPDX as an expression, with every LicenseRef defined', () => {
    expect(spdxPackage('ca-certificates').licenseDeclared).toBe('GPL-2.0-or-later AND MPL-2.0');
    expect(spdxPackage('tzdata').licenseDeclared).toBe('LicenseRef-public-domain');
    expect(spdxPackage('zlib1g').licenseDeclared).toBe('Zlib');
    expect(spdxPackage('libc6').licenseDeclared).toBe('NOASSERTION');
    expect(spdx.hasExtractedLicensingInfos.find((i: any) => i.licenseId === 'LicenseRef-public-domain')).toMatchObject({ name: 'public-domain' });
    // Names that differ in case only are one license to SPDX: one LicenseRef for both.
    expect(spdx.hasExtractedLicensingInfos.filter((i: any) => /^LicenseRef-BSD-3-clause-generic$/i.test(i.licenseId))).toEqual([
      expect.objectContaining({ licenseId: 'LicenseRef-BSD-3-clause-GENERIC', name: 'BSD-3-clause-GENERIC, BSD-3-clause-generic' }),
    ]);
  });

  it('are listed in CycloneDX by SPDX id, or by their Debian name where SPDX has none', () => {
    expect(component('ca-certificates').licenses).toEqual([{ license: { id: 'GPL-2.0-or-later' } }, { license: { id: 'MPL-2.0' } }]);
    expect(component('tzdata').licenses).toEqual([{ license: { name: 'public-domain' } }]);
    expect(component('libc6').licenses).toBeUndefined();
  });

  it('follow symlinks inside the image: a linked doc directory, an absolute link', () => {
    const byName = new Map(packages.map((p) => [p.name, p.licenses]));
    expect(fs.lstatSync(path.join(ROOT, 'usr/share/doc/grub-pc-bin')).isSymbolicLink()).toBe(true);
    expect(byName.get('grub-pc-bin')).toEqual(byName.get('grub-common'));
    expect(fs.readlinkSync(path.join(ROOT, 'usr/share/doc/bsdutils/copyright'))).toBe('/usr/share/doc/util-linux/copyright');
    expect(byName.get('bsdutils')).toEqual(byName.get('util-linux'));
    expect(byName.get('bsdutils')).toContain('GPL-2+');
  });
});

describe('reading an image', () => {
  let dir: string;
  beforeAll(() => (dir = tempDir('sbom-')));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const DEP5 = 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nCopyright: someone\nLicense: GPL-2+\n';
  const STANZA = 'Package: libfoo\nStatus: install ok installed\nVersion: 1.0-1\nArchitecture: amd64\n';

  function image(name: string, status: string | null = STANZA): string {
    const root = path.join(dir, name);
    fs.mkdirSync(path.join(root, 'var/lib/dpkg'), { recursive: true });
    fs.mkdirSync(path.join(root, 'usr/share/doc/libfoo'), { recursive: true });
    if (status !== null) fs.writeFileSync(path.join(root, 'var/lib/dpkg/status'), status);
    return root;
  }

  it('does not follow a copyright symlink out of the image', () => {
    const outside = path.join(dir, 'outside-copyright');
    fs.writeFileSync(outside, DEP5);
    for (const [i, target] of [outside, path.relative(path.join(dir, 'escape-1/usr/share/doc/libfoo'), outside)].entries()) {
      const root = image(`escape-${i}`);
      fs.symlinkSync(target, path.join(root, 'usr/share/doc/libfoo/copyright'));
      expect(fs.readFileSync(path.join(root, 'usr/share/doc/libfoo/copyright'), 'utf8')).toBe(DEP5); // the host would follow it
      expect(readSbomInput(new DirectoryView(root))).toEqual([expect.objectContaining({ name: 'libfoo', licenses: [] })]);
    }
    const inside = image('inside');
    fs.writeFileSync(path.join(inside, 'usr/share/doc/libfoo/copyright'), DEP5);
    expect(readSbomInput(new DirectoryView(inside))[0].licenses).toEqual(['GPL-2+']);
  });

  it('does not read a copyright file larger than any real one', () => {
    const root = image('big-copyright');
    const file = path.join(root, 'usr/share/doc/libfoo/copyright');
    fs.writeFileSync(file, DEP5);
    fs.truncateSync(file, 5 * 1024 * 1024); // sparse: no disk used
    expect(readSbomInput(new DirectoryView(root))[0].licenses).toEqual([]);
  });

  it('refuses an image without a dpkg database, or with one too large to be real, before reading it', () => {
    expect(() => readSbomInput(new DirectoryView(image('none', null)))).toThrow(new InvalidStemcellError('the image has no dpkg database (/var/lib/dpkg/status) to list its packages from'));
    const root = image('huge');
    fs.truncateSync(path.join(root, 'var/lib/dpkg/status'), 65 * 1024 * 1024);
    expect(() => readSbomInput(new DirectoryView(root))).toThrow(/\/var\/lib\/dpkg\/status is larger than 67108864 bytes/);
  });

  it('refuses a broken dpkg database with the parser\'s error', () => {
    expect(() => readSbomInput(new DirectoryView(image('broken', `${STANZA}${STANZA}`)))).toThrow(/field Package appears twice/);
  });
});
