/**
 * Benchmark of OS-image builds on this machine (as root, Debian archive
 * reachable). Prints, for debian-bookworm:
 *   - a cold build (empty package cache) and a warm one (cache filled), per stage;
 *   - a warm build bootstrapped with debootstrap instead of mmdebstrap;
 *   - the OS image size.
 * Measures and prints; asserts nothing. Run with: npm run bench:os-image
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildOsImage } from '../lib/builder/os-image';
import { BootstrapTool } from '../lib/builder/os-image-settings';
import { StageResult } from '../lib/builder/stage-runner';

const OS = 'debian-bookworm';


async function fullBuild(root: string, label: string, cache: string, bootstrapTool: BootstrapTool): Promise<{ stages: readonly StageResult[]; bytes: number; seconds: number }> {
  // The previous build's files are still being written back to disk; without
  // this, that write-back would be counted in this build's time.
  spawnSync('sync');
  const started = Date.now();
  const built = await buildOsImage({ os: OS, outDir: path.join(root, label), work: path.join(root, `work-${label}`), packageCacheRoot: cache, bootstrapTool, say: () => undefined });
  return { stages: built.stages, bytes: built.record.output.bytes, seconds: (Date.now() - started) / 1000 };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run the benchmark as root');
  const root = fs.mkdtempSync('/var/tmp/stemcell-bench-');
  const cache = path.join(root, 'cache');
  const log: string[] = [];
  try {
    const runs = {
      'mmdebstrap cold': await fullBuild(root, 'cold', cache, 'mmdebstrap'),
      'mmdebstrap warm': await fullBuild(root, 'warm', cache, 'mmdebstrap'),
      'debootstrap warm': await fullBuild(root, 'debootstrap', cache, 'debootstrap'),
    };
    const labels = Object.keys(runs) as (keyof typeof runs)[];
    log.push(`\nOS image build, ${OS}, ${os.cpus().length} cores; seconds per stage (cold: empty package cache)`);
    log.push(`${'stage'.padEnd(26)}${labels.map((l) => l.padStart(18)).join('')}`);
    for (const { stage } of runs['mmdebstrap cold'].stages) {
      const cells = labels.map((l) => String(runs[l].stages.find((x) => x.stage === stage)?.seconds ?? '-').padStart(18));
      log.push(`${stage.padEnd(26)}${cells.join('')}`);
    }
    log.push(`${'whole build (wall clock)'.padEnd(26)}${labels.map((l) => runs[l].seconds.toFixed(1).padStart(18)).join('')}`);
    log.push(`${'OS image MiB'.padEnd(26)}${labels.map((l) => (runs[l].bytes / 2 ** 20).toFixed(1).padStart(18)).join('')}`);
    process.stdout.write(`${log.join('\n')}\n`);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).message}\n`);
  process.exitCode = 1;
});
