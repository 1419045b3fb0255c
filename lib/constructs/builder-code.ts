import { BundlingOptions, DockerImage } from 'aws-cdk-lib';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT, STAGE_SCRIPTS } from '../builder/host';

/** Where the bundled CLI sits in the code asset: two levels below the root, as lib/cli/ is in the repository, so it finds stage-scripts/ the same way. */
export const BUNDLED_CLI = 'lib/cli/stemcell.cjs';

/**
 * Write the builder's code into `outputDir`: the `stemcell` CLI bundled with
 * esbuild into one file (the AWS SDK included: builders have only Node.js)
 * and the stage scripts beside it.
 */
export function writeBuilderCode(outputDir: string): void {
  // esbuild is a devDependency, needed only when synthesizing.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const esbuild = require('esbuild') as typeof import('esbuild');
  esbuild.buildSync({
    entryPoints: [path.join(REPO_ROOT, 'lib', 'cli', 'entry.ts')],
    outfile: path.join(outputDir, BUNDLED_CLI),
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    minify: true,
    sourcemap: true,
    legalComments: 'none',
    logLevel: 'error',
  });
  fs.cpSync(STAGE_SCRIPTS, path.join(outputDir, 'stage-scripts'), { recursive: true });
}

/** Bundling of the code asset: local esbuild (no Docker here, in CI or on most deploy machines). */
export function bundleBuilderCode(): BundlingOptions {
  return {
    // Only used if local bundling declines, which it never does.
    image: DockerImage.fromRegistry('public.ecr.aws/docker/library/node:22'),
    local: {
      tryBundle(outputDir: string): boolean {
        writeBuilderCode(outputDir);
        return true;
      },
    },
  };
}
