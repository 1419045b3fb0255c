/**
 * Benchmark of stemcell builds and boots on this machine (as root). Prints:
 *   - the stages of an AWS stemcell built from a cached OS image, and the wall time;
 *   - tarball sizes per format (aws raw, openstack qcow2, vsphere ova);
 *   - boot-to-login time under QEMU without KVM (aws BIOS, openstack, aws EFI).
 * Stemcells carry the test suite's stand-in agent (it only records that it
 * was started). Measures and prints; asserts nothing. Run: npm run bench:stemcell
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bootTest } from '../lib/boot/boot-test';
import { buildOsImage } from '../lib/builder/os-image';
import { buildStemcell, BuildStemcellOptions } from '../lib/builder/stemcell';

const AGENT = path.join(__dirname, '..', 'test', 'fixtures', 'agent-stand-in', 'bosh-agent');

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run the benchmark as root');
  const root = fs.mkdtempSync('/var/tmp/stemcell-bench-');
  const quiet = { say: () => undefined };
  try {
    const { tarball: osImage } = await buildOsImage({ os: 'debian-bookworm', outDir: path.join(root, 'os-image'), work: path.join(root, 'work-os'), ...quiet });

    const build = async (name: string, extra: Partial<BuildStemcellOptions>) => {
      const started = Date.now();
      const built = await buildStemcell({ osImage, agentBinary: AGENT, outDir: path.join(root, name), work: path.join(root, `work-${name}`), ...extra, ...quiet });
      return { ...built, seconds: (Date.now() - started) / 1000, bytes: fs.statSync(built.tarball).size };
    };
    const aws = await build('aws', {});
    const openstack = await build('openstack', { infrastructure: 'openstack' });
    const vsphere = await build('vsphere', { infrastructure: 'vsphere' });
    const efi = await build('efi', { firmware: 'efi' });

    const lines: string[] = ['', 'AWS stemcell from a cached OS image (debian-bookworm)', `${'stage'.padEnd(20)}${'seconds'.padStart(10)}`];
    for (const s of aws.stages) lines.push(`${s.stage.padEnd(20)}${String(s.seconds ?? '-').padStart(10)}`);
    const inStages = aws.stages.reduce((sum, s) => sum + (s.seconds ?? 0), 0);
    lines.push(`${'outside the stages'.padEnd(20)}${(aws.seconds - inStages).toFixed(1).padStart(10)}  (checks, the OS image read through the reader, SBOMs, the stemcell tarball)`);
    lines.push(`${'whole build (wall)'.padEnd(20)}${aws.seconds.toFixed(1).padStart(10)}  (target: under 25 s)`);
    lines.push('', `${'stemcell'.padEnd(12)}${'tarball MiB'.padStart(14)}${'build s'.padStart(10)}`);
    for (const [name, b] of Object.entries({ aws, openstack, vsphere, efi })) lines.push(`${name.padEnd(12)}${(b.bytes / 2 ** 20).toFixed(1).padStart(14)}${b.seconds.toFixed(1).padStart(10)}`);

    lines.push('', `${'boot test'.padEnd(12)}${'to login+agent s'.padStart(18)}${'whole s'.padStart(10)}`);
    for (const [name, b] of Object.entries({ aws, openstack, efi })) {
      const started = Date.now();
      const result = await bootTest({ tarball: b.tarball, timeoutSeconds: 600 });
      const whole = (Date.now() - started) / 1000;
      lines.push(`${`${name} (${result.firmware})`.padEnd(12)}${(result.ok ? result.seconds.toFixed(1) : 'FAILED').padStart(18)}${whole.toFixed(1).padStart(10)}`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).message}\n`);
  process.exitCode = 1;
});
