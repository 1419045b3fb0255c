/**
 * Benchmark of OS-image builds on this machine (as root, Debian archive
 * reachable). Prints, for debian-bookworm:
 *   - a cold build (empty package cache), then warm ones (cache filled), per stage;
 *   - a warm build bootstrapped with debootstrap instead of mmdebstrap;
 *   - the bare bootstrap of the same package set: mmdebstrap into a tmpfs,
 *     then `tar | pigz --fast`, with nothing of ours; and how much longer our
 *     warm build takes than that (the target is at most 1.15x);
 *   - the OS image size.
 * Warm and bare runs are the median of RUNS (default 3). Measures and prints;
 * asserts nothing. Run with: npm run bench:os-image
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { STAGE_SCRIPTS } from '../lib/builder/host';
import { buildOsImage } from '../lib/builder/os-image';
import { BootstrapTool, osImageStageSettings, resolveOsImageSettings } from '../lib/builder/os-image-settings';
import { renderSettingsEnv } from '../lib/builder/stage-settings';
import { StageResult } from '../lib/builder/stage-runner';

const OS = 'debian-bookworm';
const RUNS = Number(process.env.RUNS ?? 3);

interface Run {
  readonly stages: readonly StageResult[];
  readonly bytes: number;
  readonly seconds: number;
}

// The previous run's files are still being written back to disk; without
// this, that write-back would be counted in the next run's time.
const settle = () => spawnSync('sync');

async function fullBuild(root: string, label: string, cache: string, bootstrapTool: BootstrapTool): Promise<Run> {
  settle();
  const started = Date.now();
  const built = await buildOsImage({ os: OS, outDir: path.join(root, label), work: path.join(root, `work-${label}`), packageCacheRoot: cache, bootstrapTool, say: () => undefined });
  return { stages: built.stages, bytes: built.record.output.bytes, seconds: (Date.now() - started) / 1000 };
}

/** The same package set from the same archives, bootstrapped and packed with nothing of ours. */
function bareBootstrap(root: string, label: string, cache: string): Run {
  const settings = resolveOsImageSettings({ os: OS, out: path.join(root, `${label}.tgz`), packageCacheRoot: cache });
  // The package set as the bootstrap stage takes it: common.sh's base_package_list.
  const env = path.join(root, `settings-${label}.env`);
  fs.writeFileSync(env, renderSettingsEnv(osImageStageSettings(settings, 0)));
  const lib = path.join(STAGE_SCRIPTS, 'lib');
  const listed = spawnSync('bash', ['-c', 'source "$STEMCELL_LIB/common.sh" && base_package_list'], {
    encoding: 'utf8',
    env: { ...process.env, STEMCELL_SETTINGS: env, STEMCELL_LIB: lib, STEMCELL_CHROOT: root, STEMCELL_STAGE: 'bench', STEMCELL_STAGE_DIR: root, STEMCELL_WORK: root },
  });
  if (listed.status !== 0) throw new Error(`cannot list the base packages: ${listed.stderr}`);
  const packages = listed.stdout.trim().split('\n');
  const tmpfs = path.join(root, `tmpfs-${label}`);
  const codename = settings.os.codename;
  const components = settings.components.join(' ');
  const script = `
    set -euo pipefail
    mkdir -p "$TMPFS" && mount -t tmpfs -o size=4g bare-bootstrap "$TMPFS"
    trap 'umount --lazy "$TMPFS"' EXIT
    mmdebstrap --quiet --mode=root --variant=minbase --format=directory --include="$INCLUDE" \\
      --skip=download/empty \\
      --setup-hook='mkdir -p "$1/var/cache/apt/archives" && mount --bind "$CACHE" "$1/var/cache/apt/archives"' \\
      --customize-hook='umount "$1/var/cache/apt/archives"' \\
      ${codename} "$TMPFS/root" "deb ${settings.mirror} ${codename} ${components}" \\
      "deb ${settings.mirror} ${codename}-updates ${components}" "deb ${settings.securityMirror} ${codename}-security ${components}"
    tar --create --directory="$TMPFS/root" . | pigz --fast >"$OUT"`;
  settle();
  const started = Date.now();
  const result = spawnSync('bash', ['-c', script], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, TMPFS: tmpfs, INCLUDE: packages.join(','), CACHE: settings.packageCache, OUT: settings.out },
  });
  if (result.status !== 0) throw new Error(`the bare bootstrap failed (exit ${result.status})`);
  return { stages: [], bytes: fs.statSync(settings.out).size, seconds: (Date.now() - started) / 1000 };
}

const median = (runs: Run[]): Run => [...runs].sort((a, b) => a.seconds - b.seconds)[Math.floor(runs.length / 2)];

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run the benchmark as root');
  const root = fs.mkdtempSync('/var/tmp/stemcell-bench-');
  const cache = path.join(root, 'cache');
  const log: string[] = [];
  try {
    const cold = await fullBuild(root, 'cold', cache, 'mmdebstrap');
    const warm: Run[] = [];
    const bare: Run[] = [];
    // Interleaved, so that a slow minute of the machine or the mirror touches both.
    for (let i = 0; i < RUNS; i++) {
      warm.push(await fullBuild(root, `warm-${i}`, cache, 'mmdebstrap'));
      bare.push(bareBootstrap(root, `bare-${i}`, cache));
    }
    const runs = { 'mmdebstrap cold': cold, 'mmdebstrap warm': median(warm), 'debootstrap warm': await fullBuild(root, 'debootstrap', cache, 'debootstrap') };
    const labels = Object.keys(runs) as (keyof typeof runs)[];
    log.push(`\nOS image build, ${OS}, ${os.cpus().length} cores; seconds per stage (cold: empty package cache; warm: median of ${RUNS})`);
    log.push(`${'stage'.padEnd(26)}${labels.map((l) => l.padStart(18)).join('')}`);
    for (const { stage } of runs['mmdebstrap cold'].stages) {
      const cells = labels.map((l) => String(runs[l].stages.find((x) => x.stage === stage)?.seconds ?? '-').padStart(18));
      log.push(`${stage.padEnd(26)}${cells.join('')}`);
    }
    log.push(`${'whole build (wall clock)'.padEnd(26)}${labels.map((l) => runs[l].seconds.toFixed(1).padStart(18)).join('')}`);
    log.push(`${'OS image MiB'.padEnd(26)}${labels.map((l) => (runs[l].bytes / 2 ** 20).toFixed(1).padStart(18)).join('')}`);
    const b = median(bare);
    log.push('', `bare bootstrap of the same packages (mmdebstrap into a tmpfs, tar | pigz --fast), warm, median of ${RUNS}: ${b.seconds.toFixed(1)} s, ${(b.bytes / 2 ** 20).toFixed(1)} MiB`);
    log.push(`warm runs: ours ${warm.map((r) => r.seconds.toFixed(1)).join(', ')} s; bare ${bare.map((r) => r.seconds.toFixed(1)).join(', ')} s`);
    log.push(`our warm build / bare bootstrap: ${(median(warm).seconds / b.seconds).toFixed(2)}x (target: at most 1.15x)`);
    process.stdout.write(`${log.join('\n')}\n`);
  } finally {
    spawnSync('bash', ['-c', 'for m in "$1"/tmpfs-*; do mountpoint -q "$m" && umount --lazy "$m"; done; true', '_', root]);
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).message}\n`);
  process.exitCode = 1;
});
