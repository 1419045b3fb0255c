/**
 * stemcell.MF: build it for heavy and light stemcells, write it as YAML, read
 * it back and validate it the way a BOSH director does, plus our own checks.
 */
import { parseDocument, stringify } from 'yaml';
import { DigestSet } from '../digests';
import { AmiMap, validateAmiMap } from './aws';
import { InvalidStemcellError, UsageError } from '../errors';
import { KNOWN_STEMCELL_FORMATS, StemcellDefinition } from './matrix';
import { stemcellName, validateStemcellName, validateVersion } from './naming';

/** Real manifests are about 1 KiB, a light one with every region about 3 KiB; anything near this is an attack or an accident. */
export const MAX_MANIFEST_BYTES = 64 * 1024;
/** A manifest needs no YAML aliases; a handful are tolerated (the yaml library's count), a bomb is not. */
const MAX_YAML_ALIASES = 10;
const OPERATING_SYSTEM_FIELD = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** sha1 of zero bytes: the `sha1` of every light stemcell, whose `image` is empty. */
export const EMPTY_SHA1 = 'da39a3ee5e6b4b0d3255bfef95601890afd80709';

export type CloudProperties = Record<string, unknown>;

export interface StemcellManifest {
  readonly name: string;
  /** Always a string: YAML would turn an unquoted 1.10 into the number 1.1. */
  readonly version: string;
  readonly bosh_protocol: number | string;
  readonly api_version?: number;
  /** sha1 of `image`, or BOSH's multi-digest form `sha1:...;sha256:...`. */
  readonly sha1: string;
  readonly operating_system?: string;
  readonly stemcell_formats?: readonly string[];
  readonly cloud_properties?: CloudProperties;
}

export interface HeavyManifestOptions {
  readonly version: string;
  /** sha1 of the `image` file, hex. */
  readonly imageSha1: string;
  /** @default - the infrastructure's default disk size */
  readonly diskSizeMiB?: number;
}

/** The manifest of a heavy stemcell, as the upstream packager writes it. */
export function heavyManifest(def: StemcellDefinition, options: HeavyManifestOptions): StemcellManifest {
  const version = validateVersion(options.version);
  if (!/^[0-9a-f]{40}$/.test(options.imageSha1)) {
    throw new UsageError(`imageSha1 must be 40 lower-case hex digits, got '${options.imageSha1}'`);
  }
  const disk = options.diskSizeMiB ?? def.infrastructure.defaultDiskSizeMiB;
  if (!Number.isInteger(disk) || disk < 1024) {
    throw new UsageError(`disk size must be a whole number of MiB, at least 1024; got ${disk}`);
  }
  const name = stemcellName(def);
  const cloudProperties: CloudProperties = {
    name,
    version,
    infrastructure: def.infrastructure.name,
    hypervisor: def.infrastructure.cloudHypervisor,
    disk,
    disk_format: def.diskFormat.diskFormat,
    container_format: 'bare',
    os_type: 'linux',
    os_distro: def.os.distro,
    architecture: 'x86_64',
    ...def.infrastructure.extraCloudProperties,
  };
  if (def.firmware === 'efi' && def.infrastructure.declaresBootMode) cloudProperties.boot_mode = 'uefi-preferred';
  return {
    name,
    version,
    bosh_protocol: 1,
    api_version: 3,
    sha1: options.imageSha1,
    operating_system: def.os.name,
    stemcell_formats: [def.diskFormat.stemcellFormat],
    cloud_properties: cloudProperties,
  };
}

/**
 * The manifest of the light stemcell made from a heavy AWS one, as
 * `bosh repack-stemcell --empty-image --format aws-light` would write it with
 * the AMI map as cloud properties.
 */
export function lightManifest(heavy: StemcellManifest, amis: AmiMap): StemcellManifest {
  const infrastructure = heavy.cloud_properties?.infrastructure;
  if (infrastructure !== 'aws' || !heavy.stemcell_formats?.includes('aws-raw')) {
    const formats = `[${(heavy.stemcell_formats ?? []).join(', ')}]`;
    const what = heavy.stemcell_formats?.includes('aws-light')
      ? 'already a light stemcell'
      : infrastructure === 'aws'
        ? `an AWS stemcell with stemcell_formats ${formats}`
        : `a stemcell for ${String(infrastructure ?? 'no infrastructure')}`;
    throw new UsageError(`${heavy.name} is ${what}; light stemcells are made from heavy AWS stemcells (stemcell_formats: [aws-raw])`);
  }
  return {
    name: heavy.name,
    version: validateVersion(heavy.version),
    bosh_protocol: heavy.bosh_protocol,
    api_version: heavy.api_version ?? 3,
    sha1: EMPTY_SHA1,
    operating_system: heavy.operating_system,
    stemcell_formats: ['aws-light'],
    cloud_properties: { infrastructure: 'aws', ami: { ...validateAmiMap(amis) } },
  };
}

/**
 * stemcell.MF text in the layout Ruby's Psych gives upstream's: a `---` start,
 * single quotes, unindented lists. Strings that look like numbers (`'1.10'`)
 * are quoted, so they stay strings.
 */
export function renderManifest(manifest: StemcellManifest): string {
  const plain = Object.fromEntries(Object.entries(manifest).filter(([, v]) => v !== undefined));
  // YAML 1.1, as Ruby's Psych in the director reads it: `yes`, `1_260` and the like get quotes.
  const text = stringify(plain, { version: '1.1', lineWidth: 0, singleQuote: true, indentSeq: false, directives: true });
  // What we write, we must be able to read back.
  if (Buffer.byteLength(text) > MAX_MANIFEST_BYTES) throw new UsageError(`the manifest would be ${Buffer.byteLength(text)} bytes, more than the ${MAX_MANIFEST_BYTES} a stemcell.MF may have`);
  return text;
}

/** The yaml library's messages quote the offending source over several lines; the first says it. */
const firstLine = (message: string): string => message.split('\n')[0].trim();

function fail(problem: string): never {
  throw new InvalidStemcellError(`stemcell.MF: ${problem}`);
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function requireString(doc: Record<string, unknown>, key: string, hint = ''): string {
  const value = doc[key];
  if (typeof value !== 'string' || value.length === 0) {
    fail(`'${key}' must be a non-empty string, got ${describe(value)}${hint}`);
  }
  return value;
}

/** The digests a `sha1` field claims: a bare sha1, or `algo:hex;algo:hex`. */
export function parseDigests(field: string): { algorithm: 'sha1' | 'sha256'; hex: string }[] {
  if (/^[0-9a-f]{40}$/i.test(field)) return [{ algorithm: 'sha1', hex: field.toLowerCase() }];
  const digests = field.split(';').map((part) => {
    const m = /^(sha1|sha256):([0-9a-f]+)$/i.exec(part.trim());
    const length = m?.[1].toLowerCase() === 'sha1' ? 40 : 64;
    if (!m || m[2].length !== length) fail(`'sha1' must be 40 hex digits or 'sha1:<hex>;sha256:<hex>', got '${field}'`);
    return { algorithm: m[1].toLowerCase() as 'sha1' | 'sha256', hex: m[2].toLowerCase() };
  });
  return digests;
}

/**
 * Parse and validate stemcell.MF as a director would on upload: `name`,
 * `version` and `sha1` are required strings, `stemcell_formats` (when present)
 * are formats BOSH knows, `cloud_properties` is a mapping.
 */
export function parseManifest(text: string): StemcellManifest {
  if (Buffer.byteLength(text) > MAX_MANIFEST_BYTES) fail(`${Buffer.byteLength(text)} bytes, more than the ${MAX_MANIFEST_BYTES} a manifest may have`);
  let doc: unknown;
  try {
    // YAML 1.1, as the director reads it: an unquoted `yes` is true, `1_260` a number.
    const document = parseDocument(text, { version: '1.1', uniqueKeys: true });
    if (document.errors.length > 0) fail(`not valid YAML: ${firstLine(document.errors[0].message)}`);
    doc = document.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (e) {
    if (e instanceof InvalidStemcellError) throw e;
    // The yaml library's answer to an alias bomb is a ReferenceError, to deep nesting a RangeError.
    fail(/alias/i.test((e as Error).message) ? `too many YAML aliases (at most ${MAX_YAML_ALIASES}); a manifest needs none` : `not a YAML document a manifest can be (${firstLine((e as Error).message)})`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) fail(`expected a YAML mapping, got ${describe(doc)}`);
  const m = doc as Record<string, unknown>;

  const name = requireString(m, 'name');
  const version = requireString(m, 'version', typeof m.version === 'number' || typeof m.version === 'boolean' ? "; quote it in the YAML (version: '1.10' stays 1.10; unquoted, YAML reads it as the number 1.1)" : '');
  const sha1 = requireString(m, 'sha1');
  parseDigests(sha1);
  try {
    validateStemcellName(name);
    validateVersion(version);
  } catch (e) {
    fail((e as Error).message);
  }

  const protocol = m.bosh_protocol;
  if (protocol !== undefined && typeof protocol !== 'number' && typeof protocol !== 'string') fail(`'bosh_protocol' must be 1, got ${describe(protocol)}`);
  const apiVersion = m.api_version;
  if (apiVersion !== undefined && !Number.isInteger(apiVersion)) fail(`'api_version' must be an integer, got ${describe(apiVersion)}`);
  const os = m.operating_system;
  if (os !== undefined && (typeof os !== 'string' || !OPERATING_SYSTEM_FIELD.test(os))) fail(`'operating_system' must be a name like ubuntu-jammy, got ${describe(os)}`);

  const formats = m.stemcell_formats;
  if (formats !== undefined) {
    if (!Array.isArray(formats) || formats.some((f) => typeof f !== 'string')) fail(`'stemcell_formats' must be a list of strings, got ${describe(formats)}`);
    const unknown = (formats as string[]).filter((f) => !KNOWN_STEMCELL_FORMATS.includes(f));
    if (unknown.length > 0) fail(`unknown stemcell format ${unknown.join(', ')}; known formats: ${KNOWN_STEMCELL_FORMATS.join(', ')}`);
  }
  const cloud = m.cloud_properties;
  if (cloud !== undefined && (cloud === null || typeof cloud !== 'object' || Array.isArray(cloud))) {
    fail(`'cloud_properties' must be a mapping, got ${describe(cloud)}`);
  }
  if (formats !== undefined && (formats as string[]).includes('aws-light')) {
    const ami = (cloud as CloudProperties | undefined)?.ami;
    if (ami === null || typeof ami !== 'object') fail(`an aws-light stemcell needs 'cloud_properties.ami' mapping regions to AMI ids`);
    try {
      validateAmiMap(ami as AmiMap);
    } catch (e) {
      fail(`cloud_properties.ami: ${(e as Error).message}`);
    }
  }

  return {
    name,
    version,
    bosh_protocol: (protocol as number | string | undefined) ?? 1,
    api_version: apiVersion as number | undefined,
    sha1,
    operating_system: os as string | undefined,
    stemcell_formats: formats as string[] | undefined,
    cloud_properties: cloud as CloudProperties | undefined,
  };
}

/** Whether every digest a manifest's `sha1` field names matches the image's. */
export function digestsMatch(field: string, actual: DigestSet): boolean {
  return parseDigests(field).every((d) => actual[d.algorithm] === d.hex);
}
