/**
 * The software bills of materials a stemcell carries, as upstream's do: SPDX
 * 2.3 (`sbom.spdx.json`) and CycloneDX 1.6 (`sbom.cdx.json`), both listing
 * the image's installed Debian packages with their package URLs and declared
 * licenses. Generation is pure and deterministic: the same packages, names
 * and SOURCE_DATE_EPOCH give the same bytes, in whatever order they come.
 */
import { createHash } from 'node:crypto';
import { fileSizeInRoot, FsView } from '../check/fs-view';
import { InvalidStemcellError, UsageError } from '../errors';
import { debianCopyrightLicenses, licenseRef, spdxLicenseId } from './debian-licenses';
import { DPKG_STATUS, DpkgPackage, MAX_DPKG_STATUS_BYTES, parseDpkgStatus } from './dpkg';
import { OperatingSystem } from './matrix';

/** The SBOMs' file names, at the top level of a stemcell tarball. */
export const SBOM_FILES = { spdx: 'sbom.spdx.json', cycloneDx: 'sbom.cdx.json' } as const;

/** Debian's largest copyright files (boost's) are 2 MiB; a larger one is not read, and its package declares no license. */
export const MAX_COPYRIGHT_BYTES = 4 * 1024 * 1024;

export type SbomPackage = Pick<DpkgPackage, 'name' | 'version' | 'architecture' | 'sourceName' | 'sourceVersion' | 'maintainer' | 'homepage' | 'summary'> & {
  /** License short names of its DEP-5 copyright file, as written there (debianCopyrightLicenses); none when it has no such file. */
  readonly licenses: readonly string[];
};

/**
 * The installed packages of a root file system and the licenses their
 * copyright files declare. Read it from a directory (DirectoryView): a
 * TarballView keeps configuration files only, so no copyright file.
 */
export function readSbomInput(view: FsView): SbomPackage[] {
  const size = fileSizeInRoot(view, DPKG_STATUS);
  if (size !== undefined && size > MAX_DPKG_STATUS_BYTES) throw new InvalidStemcellError(`${DPKG_STATUS} is larger than ${MAX_DPKG_STATUS_BYTES} bytes; no dpkg database is`);
  const status = size === undefined ? undefined : view.read(DPKG_STATUS);
  if (status === undefined) throw new InvalidStemcellError(`the image has no dpkg database (${DPKG_STATUS}) to list its packages from`);
  return parseDpkgStatus(status).map((p) => ({ ...p, licenses: copyrightLicenses(view, p.name) }));
}

function copyrightLicenses(view: FsView, name: string): string[] {
  const file = `/usr/share/doc/${name}/copyright`;
  const size = fileSizeInRoot(view, file);
  if (size === undefined || size > MAX_COPYRIGHT_BYTES) return [];
  return debianCopyrightLicenses(view.read(file) ?? '');
}

export interface SbomRequest {
  readonly os: OperatingSystem;
  /** What the documents describe, e.g. the stemcell's name (`bosh-aws-xen-hvm-debian-bookworm-go_agent`). */
  readonly name: string;
  readonly version: string;
  /** The build's SOURCE_DATE_EPOCH: the documents' creation time. */
  readonly epochSeconds: number;
  /** Stemcell Farm's version, named as the creating tool. */
  readonly toolVersion: string;
  readonly packages: readonly SbomPackage[];
}

/** Both documents, as the files' text: 2-space JSON and a final newline. */
export function sbomDocuments(request: SbomRequest): { spdx: string; cycloneDx: string } {
  if (!Number.isSafeInteger(request.epochSeconds) || request.epochSeconds < 0 || request.epochSeconds > MAX_EPOCH_SECONDS) {
    throw new UsageError(`SOURCE_DATE_EPOCH must be whole seconds since 1970 before the year 10000, not ${request.epochSeconds}`);
  }
  const packages = sortedPackages(request.packages);
  const input = { ...request, packages };
  const digest = createHash('sha256').update(JSON.stringify(canonical(input))).digest('hex');
  return { spdx: render(spdxDocument(input, digest)), cycloneDx: render(cycloneDxDocument(input, digest)) };
}

const MAX_EPOCH_SECONDS = 253402300799; // 9999-12-31T23:59:59Z
const render = (document: unknown): string => `${JSON.stringify(document, null, 2)}\n`;
/** ISO 8601 in UTC to the second, as SPDX requires (`2024-05-01T12:00:00Z`). */
const timestamp = (epochSeconds: number): string => new Date(epochSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
/** Code-unit order, not the locale's: the same on every machine. */
const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function sortedPackages(packages: readonly SbomPackage[]): SbomPackage[] {
  const sorted = [...packages].sort((a, b) => compare(a.name, b.name) || compare(a.architecture, b.architecture));
  sorted.forEach((p, i) => {
    // Two entries for one package would sort in input order, and the documents would depend on it.
    if (i > 0 && p.name === sorted[i - 1].name && p.architecture === sorted[i - 1].architecture) {
      throw new InvalidStemcellError(`package ${p.name}:${p.architecture} is listed twice`);
    }
  });
  return sorted;
}

/** Everything the documents say, in a fixed shape: the source of their identifiers. */
function canonical(r: SbomRequest): unknown {
  return [r.os.name, r.name, r.version, r.epochSeconds, r.toolVersion, r.packages.map((p) => [p.name, p.version, p.architecture, p.sourceName, p.sourceVersion, p.maintainer ?? null, p.homepage ?? null, p.summary ?? null, [...p.licenses].sort()])];
}

/** Our own namespace for name-based UUIDs, so that no other tool's UUIDs collide with ours. */
const UUID_NAMESPACE = Buffer.from('7971ccfbafba4b36a2397bb12ee1dce9', 'hex');

/**
 * A name-based (version 5) UUID of the documents' content: the same content
 * gives the same UUID, other content another. CycloneDX's serialNumber allows
 * UUID versions 1 to 5 only.
 */
function contentUuid(kind: string, digest: string): string {
  const bytes = createHash('sha1').update(UUID_NAMESPACE).update(`${kind}:${digest}`).digest().subarray(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x50;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Percent-encoding of a purl component: letters, digits, `.-_~` and the colon
 * (an epoch's) stay as they are, every other byte is encoded (`+` -> `%2B`).
 */
function purlEncode(text: string): string {
  return [...Buffer.from(text, 'utf8')]
    .map((byte) => {
      const c = String.fromCharCode(byte);
      return /^[A-Za-z0-9.\-_~:]$/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');
}

/**
 * The package URL of a deb, as syft writes them so that scanners match ours
 * as they match upstream's: `upstream` names the source package when it
 * differs (with `@version` when its version does), and the qualifiers come in
 * syft's order (its own sorted, `distro` last):
 * `pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&upstream=glibc&distro=debian-12`.
 */
export function debPurl(p: Pick<SbomPackage, 'name' | 'version' | 'architecture' | 'sourceName' | 'sourceVersion'>, os: OperatingSystem): string {
  const upstream =
    p.sourceName === p.name && p.sourceVersion === p.version ? undefined : p.sourceVersion === p.version ? p.sourceName : `${p.sourceName}@${p.sourceVersion}`;
  const qualifiers = [['arch', p.architecture], ...(upstream ? [['upstream', upstream]] : []), ['distro', `${os.distro}-${os.versionId}`]];
  return `pkg:deb/${os.distro}/${purlEncode(p.name)}@${purlEncode(p.version)}?${qualifiers.map(([k, v]) => `${k}=${purlEncode(v)}`).join('&')}`;
}

/** A Homepage field worth passing on: an http(s) URL with nothing a URI may not hold. */
const homepage = (p: SbomPackage): string | undefined =>
  p.homepage && /^https?:\/\/[^\s<>"{}|\\^`]+$/.test(p.homepage) && URL.canParse(p.homepage) ? p.homepage : undefined;

/** `Name <address>` of a Maintainer field, split. */
function maintainerParts(maintainer: string): { name: string; email?: string } {
  const m = /^(.*?)\s*<([^<>]*)>$/.exec(maintainer);
  return m && m[1] !== '' ? { name: m[1], email: m[2] } : { name: maintainer };
}

/** A package's declared licenses, each once: its SPDX identifier where the list has one, else undefined beside its Debian name. */
function declaredLicenses(p: SbomPackage): { id?: string; name: string }[] {
  const byKey = new Map<string, { id?: string; name: string }>();
  for (const name of [...p.licenses].sort(compare)) {
    const id = spdxLicenseId(name);
    const key = id ?? `name:${name}`;
    if (!byKey.has(key)) byKey.set(key, { id, name });
  }
  return [...byKey.entries()].sort(([a], [b]) => compare(a, b)).map(([, license]) => license);
}

/**
 * The LicenseRef of every license name the SPDX License List lacks, and the
 * names behind each. SPDX matches identifiers without regard to case, so
 * names that differ in case only (`BSD-3-clause-generic`, `...-GENERIC`)
 * share one LicenseRef, spelled as the first of them.
 */
function licenseRefs(packages: readonly SbomPackage[]): { byName: Map<string, string>; names: Map<string, string[]> } {
  const unknown = new Set(packages.flatMap((p) => declaredLicenses(p).filter((l) => !l.id).map((l) => l.name)));
  const byKey = new Map<string, string>();
  const byName = new Map<string, string>();
  const names = new Map<string, string[]>();
  for (const name of [...unknown].sort(compare)) {
    const candidate = licenseRef(name);
    const ref = byKey.get(candidate.toLowerCase()) ?? candidate;
    byKey.set(ref.toLowerCase(), ref);
    byName.set(name, ref);
    names.set(ref, [...(names.get(ref) ?? []), name]);
  }
  return { byName, names: new Map([...names.entries()].sort(([a], [b]) => compare(a, b))) };
}

const NOASSERTION = 'NOASSERTION';

/** SPDX identifiers may hold letters, digits, `.` and `-` only: the rest of a package's name is written `.XX` (`libstdc++6` -> `libstdc.2B.2B6`). */
const spdxIdPart = (text: string): string => text.replace(/[^A-Za-z0-9.-]/g, (c) => `.${c.codePointAt(0)!.toString(16).toUpperCase()}`);

function spdxDocument(r: SbomRequest, digest: string): unknown {
  const osId = 'SPDXRef-OperatingSystem';
  const used = new Set([osId]);
  const refs = licenseRefs(r.packages);
  const packages = r.packages.map((p) => {
    const base = `SPDXRef-Package-deb-${spdxIdPart(p.name)}-${spdxIdPart(p.architecture)}`;
    let id = base;
    // Names and architectures both hold dashes, so two packages could meet on one identifier; the later one gets a number.
    for (let n = 2; used.has(id); n++) id = `${base}-${n}`;
    used.add(id);
    const licenses = declaredLicenses(p).map((l) => l.id ?? refs.byName.get(l.name)!);
    const maintainer = p.maintainer ? maintainerParts(p.maintainer) : undefined;
    return {
      SPDXID: id,
      name: p.name,
      versionInfo: p.version,
      supplier: maintainer ? `Organization: ${maintainer.name}${maintainer.email ? ` (${maintainer.email})` : ''}` : NOASSERTION,
      downloadLocation: NOASSERTION,
      filesAnalyzed: false,
      homepage: homepage(p),
      sourceInfo: `built from the Debian source package ${p.sourceName} ${p.sourceVersion}`,
      licenseConcluded: NOASSERTION,
      licenseDeclared: licenses.length > 0 ? [...new Set(licenses)].join(' AND ') : NOASSERTION,
      copyrightText: NOASSERTION,
      summary: p.summary,
      externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: debPurl(p, r.os) }],
    };
  });
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: `${r.name}-${r.version}`,
    documentNamespace: `https://spdx.org/spdxdocs/${encodeURIComponent(r.name)}-${encodeURIComponent(r.version)}-${contentUuid('spdx', digest)}`,
    creationInfo: { created: timestamp(r.epochSeconds), creators: [`Tool: stemcell-farm-${r.toolVersion}`] },
    packages: [
      {
        SPDXID: osId,
        name: r.name,
        versionInfo: r.version,
        downloadLocation: NOASSERTION,
        filesAnalyzed: false,
        licenseConcluded: NOASSERTION,
        licenseDeclared: NOASSERTION,
        copyrightText: NOASSERTION,
        description: osDescription(r.os),
        primaryPackagePurpose: 'OPERATING-SYSTEM',
      },
      ...packages,
    ],
    relationships: [
      { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: osId },
      ...packages.map((p) => ({ spdxElementId: osId, relationshipType: 'CONTAINS', relatedSpdxElement: p.SPDXID })),
    ],
    // SPDX requires every LicenseRef a document uses to be defined in it.
    hasExtractedLicensingInfos: [...refs.names.entries()].map(([licenseId, names]) => ({
      licenseId,
      extractedText: `Named ${names.map((n) => `"${n}"`).join(', ')} in the packages' Debian copyright files (/usr/share/doc/<package>/copyright), where its text is; the SPDX License List has no identifier for it.`,
      name: names.join(', '),
    })),
  };
}

const osDescription = (os: OperatingSystem): string => `${os.distro} ${os.versionId} (${os.codename})`;

function cycloneDxDocument(r: SbomRequest, digest: string): unknown {
  const property = (name: string, value: string): { name: string; value: string } => ({ name: `stemcell-farm:deb:${name}`, value });
  return {
    $schema: 'http://cyclonedx.org/schema/bom-1.6.schema.json',
    bomFormat: 'CycloneDX',
    specVersion: '1.6',
    serialNumber: `urn:uuid:${contentUuid('cyclonedx', digest)}`,
    version: 1,
    metadata: {
      timestamp: timestamp(r.epochSeconds),
      tools: { components: [{ type: 'application', name: 'stemcell-farm', version: r.toolVersion }] },
      component: { type: 'operating-system', 'bom-ref': 'stemcell', name: r.name, version: r.version, description: osDescription(r.os) },
    },
    components: r.packages.map((p) => {
      const purl = debPurl(p, r.os);
      const licenses = declaredLicenses(p).map((l) => ({ license: l.id ? { id: l.id } : { name: l.name } }));
      const site = homepage(p);
      return {
        type: 'library',
        'bom-ref': purl,
        supplier: p.maintainer ? { name: maintainerParts(p.maintainer).name } : undefined,
        publisher: p.maintainer,
        name: p.name,
        version: p.version,
        description: p.summary,
        licenses: licenses.length > 0 ? licenses : undefined,
        purl,
        externalReferences: site ? [{ type: 'website', url: site }] : undefined,
        properties: [property('architecture', p.architecture), property('source', p.sourceName), property('source-version', p.sourceVersion)],
      };
    }),
  };
}
