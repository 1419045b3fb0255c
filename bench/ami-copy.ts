/**
 * Benchmark of copy-ami's fan-out: 30 destination regions whose copies take a
 * random 2-6 s and whose APIs sometimes throttle (RequestLimitExceeded on a
 * fifth of CopyImage calls and a twentieth of DescribeImages calls), against a
 * simulated EC2 (the tests' fake, in real time). Prints the time at several
 * concurrencies against the ideal (slowest copy x rounds needed at that
 * concurrency) and against copying one region at a time. Measures and prints;
 * asserts nothing. Run: npm run bench:ami-copy
 */
import { copyAmi, parseCopyAmiEvent } from '../lib/publish/copy-ami';
import { ec2ClientFactory } from '../lib/aws/clients';
import { Clock, systemClock } from '../lib/aws/runtime';
import { stemcellTags } from '../lib/stemcell/ami';
import { awsError, FakeEc2 } from '../test/helpers/fake-ec2';

const TARGETS = 30;
const POLL_MS = 200;

/** A small deterministic PRNG (mulberry32), so every run sees the same regions. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const regions = ['us-east-1', ...Array.from({ length: TARGETS }, (_, i) => `xx-bench-${i + 1}`)];
const durations = (() => {
  const random = seeded(42);
  return Object.fromEntries(regions.slice(1).map((r) => [r, 2000 + Math.floor(random() * 4000)]));
})();

async function run(concurrency: number): Promise<{ seconds: number; calls: number; throttled: number; maxInFlight: number }> {
  const chaos = seeded(7);
  let throttled = 0;
  const clock: Clock = systemClock;
  const ec2 = new FakeEc2(clock, Object.fromEntries(regions.map((r) => [r, 'opt-in-not-required'])));
  try {
    ec2.copyDuration = (r) => durations[r];
    ec2.chaos = (command) => {
      const p = command === 'CopyImage' ? 0.2 : command === 'DescribeImages' ? 0.05 : 0;
      if (chaos() >= p) return undefined;
      throttled++;
      return awsError('RequestLimitExceeded', 'Request limit exceeded.', 503);
    };
    const stemcell = { name: 'bosh-aws-xen-hvm-ubuntu-jammy-go_agent', version: '1.260', operatingSystem: 'ubuntu-jammy' };
    const source = ec2.putImage('us-east-1', { Name: 'bench', Tags: stemcellTags(stemcell, 'bench') }).ImageId!;
    const input = parseCopyAmiEvent({ sourceRegion: 'us-east-1', sourceImageId: source, concurrency });
    const started = Date.now();
    const result = await copyAmi(ec2ClientFactory({ credentials: { accessKeyId: 'x', secretAccessKey: 'y' } }), input, { clock, deadline: Date.now() + 30 * 60_000, pollMs: POLL_MS });
    if (!result.done || Object.keys(result.amis).length !== TARGETS + 1) throw new Error(`copy did not finish: ${JSON.stringify(result.failed)}`);
    return { seconds: (Date.now() - started) / 1000, calls: ec2.log.length, throttled, maxInFlight: ec2.maxCopiesInFlight };
  } finally {
    ec2.mock.restore();
  }
}

async function main(): Promise<void> {
  const slowest = Math.max(...Object.values(durations)) / 1000;
  const sum = Object.values(durations).reduce((a, b) => a + b, 0) / 1000;
  const lines = [
    `copy-ami to ${TARGETS} regions; copies take 2-6 s (slowest ${slowest.toFixed(1)} s, all together ${sum.toFixed(1)} s); polling every ${POLL_MS} ms`,
    `${'concurrency'.padEnd(12)}${'seconds'.padStart(9)}${'ideal s'.padStart(9)}${'vs ideal'.padStart(10)}${'speed-up'.padStart(10)}${'API calls'.padStart(11)}${'throttled'.padStart(11)}${'max in flight'.padStart(15)}`,
  ];
  let oneAtATime = 0;
  for (const concurrency of [1, 4, 8, 16, 30]) {
    const r = await run(concurrency);
    if (concurrency === 1) oneAtATime = r.seconds;
    const ideal = slowest * Math.ceil(TARGETS / concurrency);
    lines.push(
      `${String(concurrency).padEnd(12)}${r.seconds.toFixed(1).padStart(9)}${ideal.toFixed(1).padStart(9)}${`${(r.seconds / ideal).toFixed(2)}x`.padStart(10)}` +
        `${`${(oneAtATime / r.seconds).toFixed(1)}x`.padStart(10)}${String(r.calls).padStart(11)}${String(r.throttled).padStart(11)}${String(r.maxInFlight).padStart(15)}`,
    );
  }
  lines.push('(concurrency 1 copies one region at a time; speed-up is against it. The ideal assumes every copy takes as long as the slowest,');
  lines.push(' so a pool that starts the next region as soon as any copy finishes can beat it when copies vary.)');
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exitCode = 1;
});
