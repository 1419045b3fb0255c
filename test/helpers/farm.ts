import * as fs from 'node:fs';
import * as path from 'node:path';
import { createFarmApp } from '../../lib/app';

/** The context `cdk synth` gets from cdk.json, so tests synthesize what users deploy. */
export function cdkJsonContext(): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'cdk.json'), 'utf8')).context;
}

/** The farm app as `cdk synth -c key=value ...` would build it. */
export function farmApp(overrides: Record<string, unknown> = {}): ReturnType<typeof createFarmApp> {
  return createFarmApp({ context: { ...cdkJsonContext(), ...overrides } });
}
