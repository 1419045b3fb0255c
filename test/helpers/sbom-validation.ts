/**
 * Validation of the SBOMs a stemcell carries, for the unit tests and the
 * end-to-end build alike.
 *
 * CycloneDX 1.6 against its published schema, shipped by
 * @cyclonedx/cyclonedx-library. No npm or Debian package ships the SPDX 2.3
 * JSON schema, so SPDX documents are checked against the SPDX 2.3
 * specification's rules in spdxProblems.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- the documents are checked as the JSON they are */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import SPDX_LICENSE_IDS from 'spdx-license-ids/index.json';

// --- CycloneDX 1.6: the published schema, from node_modules --------------------------------------

const CDX_SCHEMAS = path.join(path.dirname(require.resolve('@cyclonedx/cyclonedx-library/package.json')), 'res', 'schema');
const cdxSchema = (file: string): object => JSON.parse(fs.readFileSync(path.join(CDX_SCHEMAS, file), 'utf8'));
// The schemas are draft-07 (Ajv's default class). The BOM schema refers to the other two by these
// names, relative to its $id; the library validates with the same map and formats.
const ajv = new Ajv({
  strict: false,
  allErrors: true,
  schemas: {
    'http://cyclonedx.org/schema/spdx.SNAPSHOT.schema.json': cdxSchema('spdx.SNAPSHOT.schema.json'),
    'http://cyclonedx.org/schema/jsf-0.82.SNAPSHOT.schema.json': cdxSchema('jsf-0.82.SNAPSHOT.schema.json'),
  },
});
addFormats(ajv);
// idn-email and iri-reference, which ajv-formats lacks; the package ships no type declarations.
// eslint-disable-next-line @typescript-eslint/no-require-imports
(require('ajv-formats-draft2019') as (ajv: Ajv) => Ajv)(ajv);
export const validateCycloneDx = ajv.compile(cdxSchema('bom-1.6.SNAPSHOT.schema.json'));

// --- SPDX 2.3: the specification's rules ----------------------------------------------------------

const SPDX_IDS = new Set<string>(SPDX_LICENSE_IDS);
const SPDXID = /^SPDXRef-[A-Za-z0-9.-]+$/;
const LICENSE_REF = /^LicenseRef-[A-Za-z0-9.-]+$/;
const DOCUMENT_FIELDS = ['SPDXID', 'annotations', 'comment', 'creationInfo', 'dataLicense', 'externalDocumentRefs', 'hasExtractedLicensingInfos', 'name', 'revieweds', 'spdxVersion', 'documentNamespace', 'documentDescribes', 'packages', 'files', 'snippets', 'relationships'];
const PACKAGE_FIELDS = ['SPDXID', 'annotations', 'attributionTexts', 'builtDate', 'checksums', 'comment', 'copyrightText', 'description', 'downloadLocation', 'externalRefs', 'filesAnalyzed', 'hasFiles', 'homepage', 'licenseComments', 'licenseConcluded', 'licenseDeclared', 'licenseInfoFromFiles', 'name', 'originator', 'packageFileName', 'packageVerificationCode', 'primaryPackagePurpose', 'releaseDate', 'sourceInfo', 'summary', 'supplier', 'validUntilDate', 'versionInfo'];
const PURPOSES = ['APPLICATION', 'FRAMEWORK', 'LIBRARY', 'CONTAINER', 'OPERATING-SYSTEM', 'DEVICE', 'FIRMWARE', 'SOURCE', 'ARCHIVE', 'FILE', 'INSTALL', 'OTHER'];
const REFERENCE_CATEGORIES = ['SECURITY', 'PACKAGE-MANAGER', 'PERSISTENT-ID', 'OTHER'];
const RELATIONSHIPS = ['DESCRIBES', 'DESCRIBED_BY', 'CONTAINS', 'CONTAINED_BY', 'DEPENDS_ON', 'DEPENDENCY_OF', 'GENERATED_FROM', 'GENERATES', 'OTHER'];

/**
 * A package URL per the purl specification: `pkg:type/namespace/name@version?key=value&...`,
 * every component percent-encoded (letters, digits, `.-_~:` and `%XX` only), keys lowercase and unique.
 */
export function purlProblems(purl: string): string[] {
  const m = /^pkg:([a-z][a-z0-9.-]*)\/((?:[^/@?#]+\/)*)([^/@?#]+)(?:@([^?#]+))?(?:\?([^#]+))?$/.exec(purl);
  if (!m) return [`${purl}: not pkg:type/namespace/name@version?qualifiers`];
  const encoded = /^(?:[A-Za-z0-9.\-_~:]|%[0-9A-F]{2})+$/;
  const problems = [m[2].split('/').filter((s) => s !== ''), m[3], m[4] ?? 'x'].flat().filter((part) => !encoded.test(part)).map((part) => `${purl}: ${part} is not percent-encoded`);
  const keys = (m[5] ?? '').split('&').map((q) => q.split('='));
  for (const [key, value, ...rest] of keys) {
    if (!/^[a-z][a-z0-9.\-_]*$/.test(key) || value === undefined || rest.length > 0 || !encoded.test(value)) problems.push(`${purl}: bad qualifier ${key}=${value}`);
  }
  if (new Set(keys.map(([k]) => k)).size !== keys.length) problems.push(`${purl}: a qualifier twice`);
  return problems;
}

/** What keeps `doc` from being a valid SPDX 2.3 JSON document; none for a valid one. */
export function spdxProblems(doc: any): string[] {
  const problems: string[] = [];
  const want = (ok: unknown, problem: string): void => void (ok ? undefined : problems.push(problem));
  const nonEmpty = (v: unknown): boolean => typeof v === 'string' && v.trim() !== '';
  for (const key of Object.keys(doc)) want(DOCUMENT_FIELDS.includes(key), `unknown document field ${key}`);
  want(doc.spdxVersion === 'SPDX-2.3', 'spdxVersion is not SPDX-2.3');
  want(doc.dataLicense === 'CC0-1.0', 'dataLicense is not CC0-1.0');
  want(doc.SPDXID === 'SPDXRef-DOCUMENT', 'SPDXID is not SPDXRef-DOCUMENT');
  want(nonEmpty(doc.name), 'no name');
  want(typeof doc.documentNamespace === 'string' && URL.canParse(doc.documentNamespace) && !doc.documentNamespace.includes('#'), 'documentNamespace is no URI without #');
  want(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/.test(doc.creationInfo?.created), 'creationInfo.created is not YYYY-MM-DDThh:mm:ssZ');
  want(Array.isArray(doc.creationInfo?.creators) && doc.creationInfo.creators.length > 0 && doc.creationInfo.creators.every((c: string) => /^(Person|Organization|Tool): \S/.test(c)), 'creators missing or malformed');

  const defined = new Set<string>();
  for (const info of doc.hasExtractedLicensingInfos ?? []) {
    want(LICENSE_REF.test(info.licenseId), `bad licenseId ${info.licenseId}`);
    want(!defined.has(info.licenseId.toLowerCase()), `${info.licenseId} defined twice`);
    want(nonEmpty(info.extractedText), `${info.licenseId} has no extractedText`);
    defined.add(info.licenseId.toLowerCase());
  }
  const used = new Set<string>();
  const license = (value: unknown, where: string): void => {
    if (value === 'NOASSERTION' || value === 'NONE') return;
    if (typeof value !== 'string') return void problems.push(`${where} is not a string`);
    for (const term of value.split(/\s+(?:AND|OR|WITH)\s+|[()]/).filter((t) => t.trim() !== '')) {
      if (LICENSE_REF.test(term)) {
        used.add(term.toLowerCase());
        want(defined.has(term.toLowerCase()), `${where}: ${term} has no hasExtractedLicensingInfos entry`);
      } else want(SPDX_IDS.has(term), `${where}: ${term} is no SPDX license id`);
    }
  };

  const ids = new Set<string>(['SPDXRef-DOCUMENT']);
  for (const p of doc.packages ?? []) {
    const where = `package ${p.SPDXID ?? p.name}`;
    for (const key of Object.keys(p)) want(PACKAGE_FIELDS.includes(key), `${where}: unknown field ${key}`);
    want(typeof p.SPDXID === 'string' && SPDXID.test(p.SPDXID), `${where}: SPDXID is not SPDXRef-[A-Za-z0-9.-]+`);
    want(!ids.has(p.SPDXID), `${where}: SPDXID used twice`);
    ids.add(p.SPDXID);
    want(nonEmpty(p.name), `${where}: no name`);
    want(nonEmpty(p.downloadLocation), `${where}: no downloadLocation`);
    want(p.filesAnalyzed === false || Array.isArray(p.hasFiles), `${where}: files analyzed, but none listed`);
    want(p.supplier === undefined || p.supplier === 'NOASSERTION' || /^(Person|Organization): \S/.test(p.supplier), `${where}: bad supplier ${p.supplier}`);
    want(p.primaryPackagePurpose === undefined || PURPOSES.includes(p.primaryPackagePurpose), `${where}: bad primaryPackagePurpose`);
    want(p.homepage === undefined || URL.canParse(p.homepage), `${where}: homepage is no URL`);
    license(p.licenseConcluded, `${where} licenseConcluded`);
    license(p.licenseDeclared, `${where} licenseDeclared`);
    for (const ref of p.externalRefs ?? []) {
      want(REFERENCE_CATEGORIES.includes(ref.referenceCategory), `${where}: bad referenceCategory ${ref.referenceCategory}`);
      want(nonEmpty(ref.referenceType) && nonEmpty(ref.referenceLocator) && !/\s/.test(ref.referenceLocator), `${where}: bad external reference`);
      if (ref.referenceType === 'purl') problems.push(...purlProblems(ref.referenceLocator));
    }
  }
  for (const id of defined) want(used.has(id), `${id} is defined but never used`);

  const relationships = doc.relationships ?? [];
  for (const r of relationships) {
    want(RELATIONSHIPS.includes(r.relationshipType), `bad relationshipType ${r.relationshipType}`);
    want(ids.has(r.spdxElementId) && ids.has(r.relatedSpdxElement), `relationship ${r.spdxElementId} ${r.relationshipType} ${r.relatedSpdxElement} names an element that does not exist`);
  }
  want(relationships.some((r: any) => r.spdxElementId === 'SPDXRef-DOCUMENT' && r.relationshipType === 'DESCRIBES') || doc.documentDescribes?.length > 0, 'the document describes nothing');
  return problems;
}

