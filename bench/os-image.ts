/**
 * Benchmark of OS-image builds on this machine (as root, Debian archive
 * reachable). Prints, for debian-bookworm:
 *   - a cold build (empty package cache) and a warm one (cache filled), per stage;
 *   - the bootstrap stage alone with mmdebstrap and with debootstrap, cold and warm;
 *   - the OS image size.
 * Measures and prints; asserts nothing. Run with: npm run bench:os-image
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildOsImage } from '../lib/build/os-image';
import { BootstrapTool, renderSettingsEnv, resolveOsImageSettings } from '../lib/build/os-image-settings';
import { runCollection, StageResult } from '../lib/build/stage-runner';

const OS = 'debian-bookworm';


async function fullBuild(root: string, label: string, cache: string): Promise<{ stages: readonly StageResult[]; bytes: number; seconds: number }> {
  const started = Date.now();
  const outcome = await buildOsImage({ os: OS, out: path.join(root, `${label}.tgz`), work: path.join(root, `work-${label}`), packageCacheRoot: cache, say: () => undefined });
  if (outcome.exitCode !== 0) throw new Error(`${label} build failed (exit ${outcome.exitCode})`);
  return { stages: outcome.stages, bytes: outcome.record!.output.bytes, seconds: (Date.now() - started) / 1000 };
}

async function bootstrapOnly(root: string, tool: BootstrapTool, label: string, cache: string): Promise<number> {
  const work = path.join(root, `bootstrap-${tool}-${label}`);
  fs.mkdirSync(work, { recursive: true });
  const settings = resolveOsImageSettings({ os: OS, out: path.join(work, 'unused.tgz'), packageCacheRoot: cache, bootstrapTool: tool });
  fs.writeFileSync(path.join(work, 'settings.env'), renderSettingsEnv(settings));
  fs.writeFileSync(path.join(work, 'collection'), 'bootstrap\n');
  const { exitCode, stages } = await runCollection({ work, collectionFile: path.join(work, 'collection') });
  if (exitCode !== 0) throw new Error(`bootstrap with ${tool} failed`);
  fs.rmSync(work, { recursive: true, force: true });
  return stages[0].seconds ?? NaN;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run the benchmark as root');
  const root = fs.mkdtempSync('/var/tmp/stemcell-bench-');
  const cache = path.join(root, 'cache');
  const log: string[] = [];
  try {
    const cold = await fullBuild(root, 'cold', cache);
    const warm = await fullBuild(root, 'warm', cache);
    const boot: Record<string, Record<string, number>> = {};
    for (const tool of ['mmdebstrap', 'debootstrap'] as const) {
      const toolCache = path.join(root, `cache-${tool}`);
      boot[tool] = { cold: await bootstrapOnly(root, tool, 'cold', toolCache), warm: await bootstrapOnly(root, tool, 'warm', toolCache) };
    }

    log.push(`\nOS image build, ${OS}, ${os.cpus().length} cores`);
    log.push(`${'stage'.padEnd(26)} ${'cold s'.padStart(8)} ${'warm s'.padStart(8)}`);
    for (const s of cold.stages) {
      const w = warm.stages.find((x) => x.stage === s.stage);
      log.push(`${s.stage.padEnd(26)} ${String(s.seconds ?? '-').padStart(8)} ${String(w?.seconds ?? '-').padStart(8)}`);
    }
    log.push(`${'whole build (wall clock)'.padEnd(26)} ${cold.seconds.toFixed(1).padStart(8)} ${warm.seconds.toFixed(1).padStart(8)}`);
    log.push(`OS image size: ${(cold.bytes / 2 ** 20).toFixed(1)} MiB (cold), ${(warm.bytes / 2 ** 20).toFixed(1)} MiB (warm)`);
    log.push(`\nbootstrap stage alone   ${'cold s'.padStart(8)} ${'warm s'.padStart(8)}`);
    for (const [tool, t] of Object.entries(boot)) log.push(`${tool.padEnd(23)} ${t.cold.toFixed(1).padStart(8)} ${t.warm.toFixed(1).padStart(8)}`);
    process.stdout.write(`${log.join('\n')}\n`);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).message}\n`);
  process.exitCode = 1;
});
