/**
 * Stemcell lines: what the farm builds on its own. A line is an operating
 * system, because stemcell names and versions are per OS (prepare.ts's
 * stemcellLine); each line has a schedule that starts the build runbook with
 * the line's form, and the format of the line's versions.
 *
 * Read from the `stemcellLines` context value and checked here against the
 * runbook's own rules, so that a bad entry stops synthesis instead of failing
 * a build every week:
 *
 *     "stemcellLines": {
 *       "ubuntu-noble": {
 *         "schedule": "cron(0 3 ? * MON *)", "timeZone": "Europe/Berlin",
 *         "parameters": { "Infrastructures": ["aws", "openstack"], "Visibility": "public" }
 *       }
 *     }
 */
import { ConfigError } from '../config-error';
import { OperatingSystemName, operatingSystemNames } from '../stemcell/matrix';
import { automationParameters, checkFormWithoutBuckets, InvalidParameterError, ParameterName } from './parameters';
import { DEFAULT_VERSION_FORMAT, VersionFormat, versionFormatProblem } from './version-format';

export interface StemcellLineConfig {
  /** The operating system the line builds. */
  readonly line: OperatingSystemName;
  /** An EventBridge Scheduler expression: `cron(...)` (six fields) or `rate(...)`. */
  readonly schedule: string;
  /** The IANA time zone the schedule is read in. @default 'UTC' */
  readonly timeZone: string;
  /** A disabled line keeps its schedule, switched off. @default true */
  readonly enabled: boolean;
  readonly versionFormat: VersionFormat;
  /**
   * StartAutomationExecution's `Parameters`: every value a list of strings
   * (Booleans "true" or "false"), OperatingSystem set to the line.
   */
  readonly parameters: Record<string, string[]>;
}

/** A build takes an hour or more: a line starts at most one build an hour. */
export const MIN_SCHEDULE_INTERVAL_MINUTES = 60;

const ENTRY_FIELDS = ['schedule', 'timeZone', 'enabled', 'versionFormat', 'major', 'parameters'] as const;

/**
 * Parameters a schedule must not set, and why. The line's key sets
 * OperatingSystem. A fixed version is refused after its first build; a fixed
 * snapshot builds the same OS image every time, without the fixes a
 * scheduled build is for.
 */
const NOT_IN_A_SCHEDULE: Partial<Record<ParameterName, string>> = {
  OperatingSystem: "the line's key is the operating system; leave OperatingSystem out",
  Version: 'a schedule builds again and again, and a version is built only once; leave Version out and the farm numbers each build in the versionFormat of the line',
  Snapshot: "a schedule builds with the day's fixes, and a fixed snapshot would build the same OS image every time; leave Snapshot out",
};

const shown = (v: unknown): string => (JSON.stringify(v) ?? String(v)).slice(0, 120);

/** The `stemcellLines` value: an object by line name, or its JSON text (what `-c stemcellLines='{...}'` gives). */
export function parseStemcellLines(raw: unknown, key = 'stemcellLines'): StemcellLineConfig[] {
  let value = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch (e) {
      throw new ConfigError(key, `is not JSON (${(e as Error).message}); give an object of stemcell lines, e.g. {"ubuntu-noble": {"schedule": "cron(0 3 ? * MON *)"}}`);
    }
  }
  const lines = object(value, key, 'an object of stemcell lines by operating system, e.g. {"ubuntu-noble": {"schedule": "cron(0 3 ? * MON *)"}}');
  return Object.entries(lines).map(([line, entry]) => parseLine(line, entry, `${key}.${line}`));
}

function object(value: unknown, key: string, expected: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError(key, `expected ${expected}, got ${shown(value)}`);
  return value as Record<string, unknown>;
}

function parseLine(line: string, raw: unknown, key: string): StemcellLineConfig {
  const names: readonly string[] = operatingSystemNames();
  if (!names.includes(line)) throw new ConfigError(key, `no such stemcell line: a line is an operating system, one of ${names.join(', ')}`);
  const entry = object(raw, key, 'an object with schedule and optionally timeZone, enabled, versionFormat, major and parameters');
  const unknown = Object.keys(entry).find((f) => !(ENTRY_FIELDS as readonly string[]).includes(f));
  if (unknown !== undefined) throw new ConfigError(`${key}.${unknown}`, `no such field; an entry has ${ENTRY_FIELDS.join(', ')}`);

  if (typeof entry.schedule !== 'string') throw new ConfigError(`${key}.schedule`, `expected a schedule expression such as "cron(0 3 ? * MON *)" or "rate(7 days)", got ${shown(entry.schedule)}`);
  const scheduleProblem = scheduleExpressionProblem(entry.schedule);
  if (scheduleProblem) throw new ConfigError(`${key}.schedule`, scheduleProblem);

  const timeZone = entry.timeZone === undefined ? 'UTC' : entry.timeZone;
  const zoneProblem = timeZoneProblem(timeZone);
  if (zoneProblem) throw new ConfigError(`${key}.timeZone`, zoneProblem);

  let enabled = true;
  if (entry.enabled !== undefined) {
    if (entry.enabled !== true && entry.enabled !== false && entry.enabled !== 'true' && entry.enabled !== 'false') throw new ConfigError(`${key}.enabled`, `expected true or false, got ${shown(entry.enabled)}`);
    enabled = entry.enabled === true || entry.enabled === 'true';
  }

  return {
    line: line as OperatingSystemName,
    schedule: entry.schedule,
    timeZone: timeZone as string,
    enabled,
    versionFormat: parseVersionFormat(entry, key),
    parameters: parseParameters(line, entry.parameters, `${key}.parameters`),
  };
}

function parseVersionFormat(entry: Record<string, unknown>, key: string): VersionFormat {
  let major = DEFAULT_VERSION_FORMAT.major;
  if (entry.major !== undefined) {
    const m = typeof entry.major === 'string' && /^\d+$/.test(entry.major) ? Number(entry.major) : entry.major;
    // The major alone, under the default format, so that its problem is reported at its own key.
    const problem = typeof m === 'number' ? versionFormatProblem({ ...DEFAULT_VERSION_FORMAT, major: m }) : `major must be a whole number, got ${shown(entry.major)}`;
    if (problem) throw new ConfigError(`${key}.major`, problem);
    major = m as number;
  }
  if (entry.versionFormat === undefined) return { format: DEFAULT_VERSION_FORMAT.format, major };
  if (typeof entry.versionFormat !== 'string') throw new ConfigError(`${key}.versionFormat`, `expected a format such as "{major}.{n}", got ${shown(entry.versionFormat)}`);
  const format = { format: entry.versionFormat, major };
  const problem = versionFormatProblem(format);
  if (problem) throw new ConfigError(`${key}.versionFormat`, problem);
  return format;
}

/**
 * The line's form, checked as Prepare will check it (each parameter against
 * the runbook's list, then the rules between them), and rendered as
 * StartAutomationExecution wants it.
 */
function parseParameters(line: string, raw: unknown, key: string): Record<string, string[]> {
  const given = raw === undefined ? {} : object(raw, key, 'an object of runbook parameters, e.g. {"Infrastructures": ["aws"], "Visibility": "public"}');
  for (const [name, why] of Object.entries(NOT_IN_A_SCHEDULE)) {
    if (name in given) throw new ConfigError(`${key}.${name}`, why);
  }
  const form = { OperatingSystem: line, ...given };
  try {
    checkFormWithoutBuckets(form);
  } catch (e) {
    if (!(e instanceof InvalidParameterError)) throw e;
    throw new ConfigError(`${key}.${e.parameter}`, e.message.slice(`${e.parameter}: `.length));
  }
  return automationParameters(form);
}

/** Why an IANA time zone name is not one, or undefined. */
export function timeZoneProblem(zone: unknown): string | undefined {
  const expected = 'expected an IANA time zone such as "UTC" or "Europe/Berlin"';
  // Intl also takes offsets (+01:00) and any case; Scheduler wants the names.
  if (typeof zone !== 'string' || !/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+){0,2}$/.test(zone)) return `${expected}, got ${shown(zone)}`;
  let resolved: string;
  try {
    resolved = new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
  } catch {
    return `${expected}; ${shown(zone)} is not one`;
  }
  if (resolved !== zone && resolved.toLowerCase() === zone.toLowerCase()) return `time zone names are case-sensitive: write ${shown(resolved)}`;
  return undefined;
}

const RATE = /^rate\(([1-9]\d{0,5}) (minute|minutes|hour|hours|day|days)\)$/;
const UNIT_MINUTES: Record<string, number> = { minute: 1, hour: 60, day: 24 * 60 };

/**
 * Why a schedule expression is not a recurring EventBridge Scheduler one a
 * line can use, or undefined: `rate(value unit)` (the singular unit for 1), or
 * `cron(minutes hours day-of-month month day-of-week year)` with `?` in exactly
 * one of the day fields; either at most once an hour.
 */
export function scheduleExpressionProblem(expression: string): string | undefined {
  const hint = 'e.g. "cron(0 3 ? * MON *)" (03:00 every Monday) or "rate(7 days)"';
  if (expression.startsWith('rate(')) {
    const m = RATE.exec(expression);
    if (!m) return `${shown(expression)} is not a rate expression: rate(<whole number> minute(s)|hour(s)|day(s)), ${hint}`;
    const n = Number(m[1]);
    const singular = m[2].replace(/s$/, '');
    if ((n === 1) !== (m[2] === singular)) return `${shown(expression)}: write rate(1 ${singular}), or rate(${n === 1 ? 2 : n} ${singular}s)`;
    if (n * UNIT_MINUTES[singular] < MIN_SCHEDULE_INTERVAL_MINUTES) return `${shown(expression)} would start a build more often than once an hour, and a build takes an hour or more`;
    return undefined;
  }
  const m = /^cron\((.*)\)$/.exec(expression);
  if (!m) return `${shown(expression)} is neither a cron nor a rate expression; ${hint}`;
  const fields = m[1].trim().split(/\s+/);
  if (fields.length !== 6) return `${shown(expression)} has ${fields.length} fields; a cron expression has six: minutes hours day-of-month month day-of-week year, ${hint}`;
  for (const [i, spec] of CRON_FIELDS.entries()) {
    if (!cronFieldValid(fields[i], spec)) return `${shown(expression)}: the ${spec.name} field ${shown(fields[i])} is not valid (${spec.help})`;
  }
  // Scheduler takes the expression as written; what was checked is what is deployed.
  if (expression !== `cron(${fields.join(' ')})`) return `${shown(expression)}: write the six fields with one space between them, "cron(${fields.join(' ')})"`;
  const [minutes, , dayOfMonth, month, dayOfWeek, year] = fields;
  const numbers = (field: string): number[] => (/^[\d,-]+$/.test(field) ? field.split(/[,-]/).map(Number) : []);
  const thisYear = new Date().getUTCFullYear();
  if (numbers(year).length > 0 && Math.max(...numbers(year)) < thisYear) return `${shown(expression)} would never start a build: its years are past`;
  if (/^(2|FEB)$/i.test(month) && numbers(dayOfMonth).length > 0 && Math.min(...numbers(dayOfMonth)) > 29) return `${shown(expression)} would never start a build: February has no day ${dayOfMonth}`;
  if ((dayOfMonth === '?') === (dayOfWeek === '?')) return `${shown(expression)}: give '?' in exactly one of day-of-month and day-of-week, e.g. "cron(0 3 ? * MON *)" or "cron(0 3 1 * ? *)"`;
  if (!/^\d+$/.test(minutes)) return `${shown(expression)} would start a build more often than once an hour, and a build takes an hour or more: give one minute of the hour, e.g. 0`;
  return undefined;
}

interface CronField {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
  /** `?` allowed (the day fields). */
  readonly any?: boolean;
  /** The field's own special items. */
  readonly special?: RegExp;
  readonly help: string;
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

const CRON_FIELDS: readonly CronField[] = [
  { name: 'minutes', min: 0, max: 59, help: '0-59 with , - * /' },
  { name: 'hours', min: 0, max: 23, help: '0-23 with , - * /' },
  { name: 'day-of-month', min: 1, max: 31, any: true, special: /^(L|LW|([1-9]|[12]\d|3[01])W)$/, help: '1-31 with , - * ? / L W' },
  { name: 'month', min: 1, max: 12, names: MONTHS, help: '1-12 or JAN-DEC with , - * /' },
  { name: 'day-of-week', min: 1, max: 7, names: DAYS, any: true, special: /^(L|[1-7]L|[1-7]#[1-5])$/, help: '1-7 or SUN-SAT with , - * ? L #' },
  { name: 'year', min: 1970, max: 2199, help: '1970-2199 with , - * /' },
];

function cronFieldValid(field: string, spec: CronField): boolean {
  if (spec.any && field === '?') return true;
  const value = (v: string): number | undefined => {
    const n = /^\d+$/.test(v) ? Number(v) : spec.names && spec.names.includes(v.toUpperCase()) ? spec.names.indexOf(v.toUpperCase()) + spec.min : undefined;
    return n !== undefined && n >= spec.min && n <= spec.max ? n : undefined;
  };
  const items = field.split(',');
  // '#' picks one day of the month; AWS reads a list holding it as two expressions.
  if (items.length > 1 && field.includes('#')) return false;
  return items.every((item) => {
    if (spec.special?.test(item)) return true;
    const [base, step, ...rest] = item.split('/');
    if (rest.length > 0 || (step !== undefined && !/^[1-9]\d*$/.test(step))) return false;
    if (base === '*') return true;
    const [from, to, ...more] = base.split('-');
    if (more.length > 0 || value(from) === undefined) return false;
    return to === undefined || value(to) !== undefined;
  });
}
