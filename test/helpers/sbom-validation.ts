/**
 * Validation of the SBOMs a stemcell carries, for the unit tests and the
 * end-to-end build alike.
 *
 * CycloneDX 1.6 against its published schema, shipped by
 * @cyclonedx/cyclonedx-library. No npm or Debian package ships the SPDX 2.3
 * JSON schema, so spdxProblems checks SPDX documents against the structure
 * that schema gives them, restated here as a table, and against the SPDX 2.3
 * specification's rules the schema cannot state.
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

// --- SPDX 2.3: the JSON schema's structure, and the specification's rules ------------------------

/*
 * The structure the SPDX 2.3 JSON schema (spdx/spdx-spec, schemas/spdx-schema.json, "SPDX 2.3.1")
 * gives a document, restated here as a table: every kind of object it defines, the type of each of
 * its properties, the values and forms a string may take, the least number of items of an array,
 * and the properties an object must have. The schema closes every object it defines: a property
 * not listed for a kind is refused. shapeProblems walks a document through the table.
 */
type JsonType = 'string' | 'boolean' | 'integer' | 'array' | 'object';
interface Property {
  readonly type: JsonType;
  /** The only values a string may take. */
  readonly oneOf?: readonly string[];
  readonly pattern?: { readonly re: RegExp; readonly says: string };
  readonly minItems?: number;
  /** What each item of an array is. */
  readonly items?: Property;
  /** The kind of an object; none for an object of any shape. */
  readonly kind?: Kind;
}
interface Kind {
  readonly required: readonly string[];
  readonly properties: Readonly<Record<string, Property>>;
}

const STRING: Property = { type: 'string' };
const BOOLEAN: Property = { type: 'boolean' };
const INTEGER: Property = { type: 'integer' };
const STRINGS: Property = { type: 'array', items: STRING };
const oneOf = (values: readonly string[]): Property => ({ type: 'string', oneOf: values });
const matching = (re: RegExp, says: string): Property => ({ type: 'string', pattern: { re, says } });
const object = (kind: Kind): Property => ({ type: 'object', kind });
const arrayOf = (kind: Kind, minItems?: number): Property => ({ type: 'array', items: object(kind), minItems });

const SPDXID = /^SPDXRef-[A-Za-z0-9.-]+$/;
const LICENSE_REF = /^LicenseRef-[A-Za-z0-9.-]+$/;
/** UTC to the second, 23:59:60 being a leap second: 2023-11-14T22:13:20Z. */
const UTC_TIME = matching(/^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T(([01]\d|2[0-3]):[0-5]\d:[0-5]\d|23:59:60)Z$/, 'a UTC time YYYY-MM-DDThh:mm:ssZ');
const ELEMENT_ID = matching(SPDXID, 'SPDXRef-[A-Za-z0-9.-]+');

const CHECKSUM_ALGORITHMS = ['ADLER32', 'BLAKE2b-256', 'BLAKE2b-384', 'BLAKE2b-512', 'BLAKE3', 'MD2', 'MD4', 'MD5', 'MD6', 'SHA1', 'SHA224', 'SHA256', 'SHA384', 'SHA512', 'SHA3-256', 'SHA3-384', 'SHA3-512'];
const ANNOTATION_TYPES = ['OTHER', 'REVIEW'];
/** The underscore spellings are SPDX 2.2's, which the 2.3 schema still accepts. */
const REFERENCE_CATEGORIES = ['OTHER', 'PACKAGE-MANAGER', 'PACKAGE_MANAGER', 'PERSISTENT-ID', 'PERSISTENT_ID', 'SECURITY'];
const PURPOSES = ['APPLICATION', 'ARCHIVE', 'CONTAINER', 'DEVICE', 'FILE', 'FIRMWARE', 'FRAMEWORK', 'INSTALL', 'LIBRARY', 'OPERATING-SYSTEM', 'OTHER', 'SOURCE'];
const FILE_TYPES = ['APPLICATION', 'ARCHIVE', 'AUDIO', 'BINARY', 'DOCUMENTATION', 'IMAGE', 'OTHER', 'SOURCE', 'SPDX', 'TEXT', 'VIDEO'];
const RELATIONSHIP_TYPES = [
  'AMENDS', 'ANCESTOR_OF', 'BUILD_DEPENDENCY_OF', 'BUILD_TOOL_OF', 'CONTAINED_BY', 'CONTAINS', 'COPY_OF', 'DATA_FILE_OF', 'DEPENDENCY_MANIFEST_OF',
  'DEPENDENCY_OF', 'DEPENDS_ON', 'DESCENDANT_OF', 'DESCRIBED_BY', 'DESCRIBES', 'DEV_DEPENDENCY_OF', 'DEV_TOOL_OF', 'DISTRIBUTION_ARTIFACT', 'DOCUMENTATION_OF',
  'DYNAMIC_LINK', 'EXAMPLE_OF', 'EXPANDED_FROM_ARCHIVE', 'FILE_ADDED', 'FILE_DELETED', 'FILE_MODIFIED', 'GENERATED_FROM', 'GENERATES', 'HAS_PREREQUISITE',
  'METAFILE_OF', 'OPTIONAL_COMPONENT_OF', 'OPTIONAL_DEPENDENCY_OF', 'OTHER', 'PACKAGE_OF', 'PATCH_APPLIED', 'PATCH_FOR', 'PREREQUISITE_FOR',
  'PROVIDED_DEPENDENCY_OF', 'REQUIREMENT_DESCRIPTION_FOR', 'RUNTIME_DEPENDENCY_OF', 'SPECIFICATION_FOR', 'STATIC_LINK', 'TEST_CASE_OF', 'TEST_DEPENDENCY_OF',
  'TEST_OF', 'TEST_TOOL_OF', 'VARIANT_OF',
];

const CHECKSUM: Kind = { required: ['algorithm', 'checksumValue'], properties: { algorithm: oneOf(CHECKSUM_ALGORITHMS), checksumValue: matching(/^[0-9a-fA-F]+$/, 'hexadecimal') } };
const ANNOTATION: Kind = {
  required: ['annotationDate', 'annotationType', 'annotator', 'comment'],
  properties: { annotationDate: UTC_TIME, annotationType: oneOf(ANNOTATION_TYPES), annotator: STRING, comment: STRING },
};
const CREATION_INFO: Kind = {
  required: ['created', 'creators'],
  properties: { comment: STRING, created: UTC_TIME, creators: { type: 'array', items: STRING, minItems: 1 }, licenseListVersion: STRING },
};
const EXTERNAL_DOCUMENT_REF: Kind = {
  required: ['checksum', 'externalDocumentId', 'spdxDocument'],
  properties: { checksum: object(CHECKSUM), externalDocumentId: STRING, spdxDocument: STRING },
};
const CROSS_REF: Kind = {
  required: ['url'],
  properties: { isLive: BOOLEAN, isValid: BOOLEAN, isWayBackLink: BOOLEAN, match: STRING, order: INTEGER, timestamp: UTC_TIME, url: STRING },
};
const EXTRACTED_LICENSING_INFO: Kind = {
  required: ['extractedText', 'licenseId'],
  properties: { comment: STRING, crossRefs: arrayOf(CROSS_REF), extractedText: STRING, licenseId: STRING, name: STRING, seeAlsos: STRINGS },
};
const REVIEW: Kind = { required: ['reviewDate'], properties: { comment: STRING, reviewDate: UTC_TIME, reviewer: STRING } };
const EXTERNAL_REF: Kind = {
  required: ['referenceCategory', 'referenceLocator', 'referenceType'],
  properties: { comment: STRING, referenceCategory: oneOf(REFERENCE_CATEGORIES), referenceLocator: STRING, referenceType: STRING },
};
const PACKAGE_VERIFICATION_CODE: Kind = { required: ['packageVerificationCodeValue'], properties: { packageVerificationCodeExcludedFiles: STRINGS, packageVerificationCodeValue: STRING } };
/** What packages, files and snippets all have. */
const ITEM_PROPERTIES: Record<string, Property> = {
  SPDXID: ELEMENT_ID,
  annotations: arrayOf(ANNOTATION),
  attributionTexts: STRINGS,
  comment: STRING,
  copyrightText: STRING,
  licenseComments: STRING,
  licenseConcluded: STRING,
};
const PACKAGE: Kind = {
  required: ['SPDXID', 'downloadLocation', 'name'],
  properties: {
    ...ITEM_PROPERTIES,
    builtDate: UTC_TIME,
    checksums: arrayOf(CHECKSUM),
    description: STRING,
    downloadLocation: STRING,
    externalRefs: arrayOf(EXTERNAL_REF),
    filesAnalyzed: BOOLEAN,
    hasFiles: STRINGS,
    homepage: STRING,
    licenseDeclared: STRING,
    licenseInfoFromFiles: STRINGS,
    name: STRING,
    originator: STRING,
    packageFileName: STRING,
    packageVerificationCode: object(PACKAGE_VERIFICATION_CODE),
    primaryPackagePurpose: oneOf(PURPOSES),
    releaseDate: UTC_TIME,
    sourceInfo: STRING,
    summary: STRING,
    supplier: STRING,
    validUntilDate: UTC_TIME,
    versionInfo: STRING,
  },
};
const FILE: Kind = {
  required: ['SPDXID', 'checksums', 'fileName'],
  properties: {
    ...ITEM_PROPERTIES,
    artifactOfs: { type: 'array', items: { type: 'object' } },
    checksums: arrayOf(CHECKSUM, 1),
    fileContributors: STRINGS,
    fileDependencies: STRINGS,
    fileName: STRING,
    fileTypes: { type: 'array', items: oneOf(FILE_TYPES) },
    licenseInfoInFiles: STRINGS,
    noticeText: STRING,
  },
};
const POINTER: Kind = { required: ['reference'], properties: { reference: STRING, offset: INTEGER, lineNumber: INTEGER } };
const RANGE: Kind = { required: ['endPointer', 'startPointer'], properties: { endPointer: object(POINTER), startPointer: object(POINTER) } };
const SNIPPET: Kind = {
  required: ['SPDXID', 'ranges', 'snippetFromFile'],
  properties: { ...ITEM_PROPERTIES, licenseInfoInSnippets: STRINGS, name: STRING, ranges: arrayOf(RANGE, 1), snippetFromFile: STRING },
};
const RELATIONSHIP: Kind = {
  required: ['spdxElementId', 'relatedSpdxElement', 'relationshipType'],
  properties: { spdxElementId: STRING, comment: STRING, relatedSpdxElement: STRING, relationshipType: oneOf(RELATIONSHIP_TYPES) },
};
const DOCUMENT: Kind = {
  required: ['SPDXID', 'creationInfo', 'dataLicense', 'name', 'spdxVersion', 'documentNamespace'],
  properties: {
    $schema: STRING,
    SPDXID: STRING,
    annotations: arrayOf(ANNOTATION),
    comment: STRING,
    creationInfo: object(CREATION_INFO),
    dataLicense: STRING,
    externalDocumentRefs: arrayOf(EXTERNAL_DOCUMENT_REF),
    hasExtractedLicensingInfos: arrayOf(EXTRACTED_LICENSING_INFO),
    name: STRING,
    revieweds: arrayOf(REVIEW),
    spdxVersion: STRING,
    documentNamespace: STRING,
    documentDescribes: STRINGS,
    packages: arrayOf(PACKAGE),
    files: arrayOf(FILE),
    snippets: arrayOf(SNIPPET),
    relationships: arrayOf(RELATIONSHIP),
  },
};

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const HAS_TYPE: Record<JsonType, (value: unknown) => boolean> = {
  string: (value) => typeof value === 'string',
  boolean: (value) => typeof value === 'boolean',
  integer: Number.isInteger,
  array: Array.isArray,
  object: isObject,
};
const ROOT = 'document';

/** Where `value`, found at `where` (`packages[3].externalRefs[0]`), departs from what `property` says it is. */
function shapeProblems(value: any, property: Property, where: string, problems: string[]): void {
  const { type, oneOf, pattern, minItems, items, kind } = property;
  if (!HAS_TYPE[type](value)) return void problems.push(`${where} is not ${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`);
  if (oneOf && !oneOf.includes(value)) problems.push(`${where}: ${JSON.stringify(value)} is not one of the values it may take`);
  if (pattern && !pattern.re.test(value)) problems.push(`${where} is not ${pattern.says}: ${JSON.stringify(value)}`);
  if (minItems !== undefined && value.length < minItems) problems.push(`${where} has fewer than ${minItems} item${minItems === 1 ? '' : 's'}`);
  if (items) value.forEach((item: unknown, i: number) => shapeProblems(item, items, `${where}[${i}]`, problems));
  if (!kind) return;
  for (const key of kind.required) if (!Object.hasOwn(value, key)) problems.push(`${where}: no ${key}`);
  for (const [key, field] of Object.entries(value)) {
    if (!Object.hasOwn(kind.properties, key)) problems.push(`${where}: unknown field ${key}`);
    else shapeProblems(field, kind.properties[key], where === ROOT ? key : `${where}.${key}`, problems);
  }
}

const SPDX_IDS = new Set<string>(SPDX_LICENSE_IDS);
const LICENSE_FIELDS = ['licenseConcluded', 'licenseDeclared', 'licenseInfoFromFiles', 'licenseInfoInFiles', 'licenseInfoInSnippets'];

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

/**
 * What keeps `doc` from being a valid SPDX 2.3 JSON document; none for a valid one. First the
 * schema's structure (shapeProblems), then the specification's rules the schema cannot state:
 * identifiers unique and pointing at elements that exist, license expressions of known licenses
 * with every LicenseRef defined (and, ours, every definition used), creators and suppliers in
 * their forms, package URLs as the purl specification writes them.
 */
export function spdxProblems(doc: any): string[] {
  const problems: string[] = [];
  shapeProblems(doc, object(DOCUMENT), ROOT, problems);
  if (!isObject(doc)) return problems;
  const want = (ok: unknown, problem: string): void => void (ok ? undefined : problems.push(problem));
  // The checks below skip what is of the wrong type: shapeProblems has said so.
  const blank = (v: unknown): boolean => typeof v === 'string' && v.trim() === '';
  const objects = (v: unknown): any[] => (Array.isArray(v) ? v.filter(isObject) : []);
  /** A string field's value, or an array field's strings; none of another type. */
  const strings = (v: unknown): string[] => (Array.isArray(v) ? v : [v]).filter((s): s is string => typeof s === 'string');

  want(doc.spdxVersion === 'SPDX-2.3', 'spdxVersion is not SPDX-2.3');
  want(doc.dataLicense === 'CC0-1.0', 'dataLicense is not CC0-1.0');
  want(doc.SPDXID === 'SPDXRef-DOCUMENT', 'SPDXID is not SPDXRef-DOCUMENT');
  want(!blank(doc.name), 'name is blank');
  for (const ns of strings(doc.documentNamespace)) want(URL.canParse(ns) && !ns.includes('#'), 'documentNamespace is no URI without #');
  for (const creator of isObject(doc.creationInfo) ? strings(doc.creationInfo.creators) : []) {
    want(/^(Person|Organization|Tool): \S/.test(creator), `creator ${JSON.stringify(creator)} is not Person:, Organization: or Tool: and a name`);
  }

  const defined = new Set<string>();
  for (const info of objects(doc.hasExtractedLicensingInfos)) {
    if (typeof info.licenseId !== 'string') continue;
    want(LICENSE_REF.test(info.licenseId), `bad licenseId ${info.licenseId}`);
    want(!defined.has(info.licenseId.toLowerCase()), `${info.licenseId} defined twice`);
    want(!blank(info.extractedText), `${info.licenseId}: extractedText is blank`);
    defined.add(info.licenseId.toLowerCase());
  }
  const used = new Set<string>();
  const license = (value: string, where: string): void => {
    if (value === 'NOASSERTION' || value === 'NONE') return;
    for (const term of value.split(/\s+(?:AND|OR|WITH)\s+|[()]/).filter((t) => t.trim() !== '')) {
      if (LICENSE_REF.test(term)) {
        used.add(term.toLowerCase());
        want(defined.has(term.toLowerCase()), `${where}: ${term} has no hasExtractedLicensingInfos entry`);
      } else want(SPDX_IDS.has(term), `${where}: ${term} is no SPDX license id`);
    }
  };

  const ids = new Set<string>(['SPDXRef-DOCUMENT']);
  const elements = [...objects(doc.packages).map((e) => ['package', e]), ...objects(doc.files).map((e) => ['file', e]), ...objects(doc.snippets).map((e) => ['snippet', e])];
  for (const [kind, e] of elements) {
    const where = `${kind} ${e.SPDXID ?? e.name ?? e.fileName}`;
    if (typeof e.SPDXID === 'string') {
      want(!ids.has(e.SPDXID), `${where}: SPDXID used twice`);
      ids.add(e.SPDXID);
    }
    for (const field of LICENSE_FIELDS) for (const expression of strings(e[field])) license(expression, `${where} ${field}`);
  }
  for (const p of objects(doc.packages)) {
    const where = `package ${p.SPDXID ?? p.name}`;
    want(!blank(p.name), `${where}: name is blank`);
    want(!blank(p.downloadLocation), `${where}: downloadLocation is blank`);
    want(p.filesAnalyzed === false || Array.isArray(p.hasFiles), `${where}: files analyzed, but none listed`);
    for (const supplier of strings(p.supplier)) want(supplier === 'NOASSERTION' || /^(Person|Organization): \S/.test(supplier), `${where}: bad supplier ${supplier}`);
    for (const homepage of strings(p.homepage)) want(['NONE', 'NOASSERTION'].includes(homepage) || URL.canParse(homepage), `${where}: homepage is no URL`);
    for (const ref of objects(p.externalRefs)) {
      want(!blank(ref.referenceType), `${where}: referenceType is blank`);
      for (const locator of strings(ref.referenceLocator)) {
        want(locator !== '' && !/\s/.test(locator), `${where}: referenceLocator is empty or has spaces`);
        if (ref.referenceType === 'purl') problems.push(...purlProblems(locator));
      }
    }
  }
  for (const id of defined) want(used.has(id), `${id} is defined but never used`);

  // An element of this document, or one of an external document it names (DocumentRef-x:SPDXRef-y).
  const documents = new Set(objects(doc.externalDocumentRefs).map((r) => r.externalDocumentId));
  const exists = (id: unknown): boolean => typeof id === 'string' && (ids.has(id) || (/^DocumentRef-[A-Za-z0-9.-]+:SPDXRef-[A-Za-z0-9.-]+$/.test(id) && documents.has(id.split(':')[0])));
  const relationships = objects(doc.relationships);
  for (const r of relationships) {
    // The related element may be NONE or NOASSERTION (SPDX 2.3, 11.1).
    const related = r.relatedSpdxElement === 'NONE' || r.relatedSpdxElement === 'NOASSERTION' || exists(r.relatedSpdxElement);
    want(exists(r.spdxElementId) && related, `relationship ${r.spdxElementId} ${r.relationshipType} ${r.relatedSpdxElement} names an element that does not exist`);
  }
  const describes = Array.isArray(doc.documentDescribes) ? strings(doc.documentDescribes) : [];
  for (const id of describes) want(exists(id), `documentDescribes names ${id}, which does not exist`);
  want(relationships.some((r) => r.spdxElementId === 'SPDXRef-DOCUMENT' && r.relationshipType === 'DESCRIBES') || describes.length > 0, 'the document describes nothing');
  return problems;
}
