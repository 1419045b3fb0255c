/**
 * The hardening policy as data (docs/hardening.md), in the files the stages
 * install: the checks read the same lists, so a module, a kernel parameter or
 * a setuid program is named in one place.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { STAGE_SCRIPTS } from '../builder/host';
import { dataLines } from '../text';

const asset = (stage: string, file: string): string => fs.readFileSync(path.join(STAGE_SCRIPTS, 'stages', stage, 'assets', file), 'utf8');

/** Kernel modules that cannot be loaded. */
export const BLACKLISTED_MODULES: readonly string[] = dataLines(asset('kernel_module_blacklist', 'modules.txt'));

/** Files that may keep setuid or setgid bits. */
export const SETUID_ALLOWED: ReadonlySet<string> = new Set(dataLines(asset('file_permissions', 'setuid-allowed.txt')));

/** Kernel parameters and their values (/etc/sysctl.d/60-bosh-sysctl.conf). */
export const SYSCTL: readonly (readonly [string, string])[] = dataLines(asset('sysctl', '60-bosh-sysctl.conf')).map((line) => {
  const [key, value] = line.split('=').map((s) => s.trim());
  return [key, value] as const;
});
