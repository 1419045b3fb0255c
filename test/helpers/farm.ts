import * as fs from 'node:fs';
import * as path from 'node:path';
import { createFarmApp } from '../../lib/app';

/** The context `cdk synth` gets from cdk.json, so tests synthesize what users deploy. */
export function cdkJsonContext(): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'cdk.json'), 'utf8')).context;
}

export interface FarmAppOptions {
  /**
   * Bundle the Lambdas with esbuild, as `cdk synth` does, and record where
   * each asset went. Off by default: the template is the same, and bundling
   * costs seconds per app.
   */
  readonly bundle?: boolean;
  readonly outdir?: string;
}

/** The farm app as `cdk synth -c key=value ...` would build it. */
export function farmApp(overrides: Record<string, unknown> = {}, options: FarmAppOptions = {}): ReturnType<typeof createFarmApp> {
  const bundling = options.bundle ? { 'aws:cdk:enable-asset-metadata': true } : { 'aws:cdk:bundling-stacks': [] };
  return createFarmApp({ context: { ...cdkJsonContext(), ...bundling, ...overrides }, outdir: options.outdir });
}
