/**
 * Debian version order, checked against dpkg itself: every pair is also
 * given to `dpkg --compare-versions` on this machine.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { compareDebianVersions } from '../../lib/diff/debian-version';

/** dpkg's answer for each pair: -1, 0 or 1, from one shell for them all. */
function dpkgOrder(pairs: readonly [string, string][]): number[] {
  const script = 'while read -r a b; do if dpkg --compare-versions "$a" lt "$b"; then echo -1; elif dpkg --compare-versions "$a" eq "$b"; then echo 0; else echo 1; fi; done';
  const r = spawnSync('bash', ['-c', script], { input: pairs.map(([a, b]) => `${a} ${b}\n`).join(''), encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  expect(r.status).toBe(0);
  return r.stdout.trim().split('\n').map(Number);
}

/** The versions installed on this machine. */
function installedVersions(): string[] {
  const status = fs.readFileSync('/var/lib/dpkg/status', 'utf8');
  return [...new Set([...status.matchAll(/^Version: (\S+)$/gm)].map((m) => m[1]))];
}

/** A small deterministic generator, so a failure can be run again. */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s / 0x7fffffff;
  };
}

/** Versions as a weekly rebuild meets them: security updates, backports, rebuilds, pre-releases. */
const MADE_UP: [string, string][] = [
  ['2.36-9+deb12u4', '2.36-9+deb12u10'],
  ['1:9.2p1-2+deb12u3', '1:9.2p1-2+deb12u5'],
  ['3.0.15-1~deb12u1', '3.0.15-1'],
  ['3.0.15-1~deb12u1', '3.0.16-1~deb12u1'],
  ['1.0~rc1', '1.0'],
  ['1.0~~', '1.0~'],
  ['1.0~', '1.0'],
  ['1.0', '1.0+b1'],
  ['1.0-1', '1.0-1+b1'],
  ['1.0-1', '1.0-1.1'],
  ['2.0+really1.9-1', '2.0-1'],
  ['1:1.0', '2.0'],
  ['0:1.0', '1.0'],
  ['1.0-0', '1.0'],
  ['1.0a', '1.0+'],
  ['1.0a', '1.0.'],
  ['1.0A', '1.0a'],
  ['1.01', '1.1'],
  ['1.001', '1.1'],
  ['1.10', '1.9'],
  ['1.2.3-0ubuntu0.22.04.1', '1.2.3-0ubuntu0.22.04.2'],
  ['5.15.0-91.101', '5.15.0-101.111'],
  ['6.1.0-28', '6.1.0-31'],
  ['2:8.2.3995-1ubuntu2.21', '2:8.2.3995-1ubuntu2.3'],
  ['0.0~git20230101.abcdef-1', '0.0~git20230201.123456-1'],
  ['99999999999999999999', '100000000000000000000'],
  ['1:99999999999999999999', '2:0'],
  ['1.0-1-1', '1.0-1-2'],
  ['1.0-a', '1.0-b'],
  ['7.88.1-10+deb12u8', '7.88.1-10+deb12u12'],
  ['252.33-1~deb12u1', '252.36-1~deb12u1'],
  ['2.9.14+dfsg-1.3~deb12u1', '2.9.14+dfsg-1.3~deb12u2'],
  ['1:2.38.1-5+deb12u2', '1:2.38.1-5+deb12u3'],
  ['20230311', '20230311+deb12u1'],
  ['1.0', '1.0'],
  ['1:1.0-1', '1:1.0-1'],
];

describe('compareDebianVersions', () => {
  it('orders made-up upgrade pairs as dpkg does, both ways round', () => {
    const pairs = MADE_UP.flatMap(([a, b]): [string, string][] => [[a, b], [b, a]]);
    const expected = dpkgOrder(pairs);
    expect(pairs.map(([a, b]) => compareDebianVersions(a, b))).toEqual(expected);
  });

  it('orders the versions installed on this machine as dpkg does: neighbours, random pairs and variants', () => {
    const versions = installedVersions();
    expect(versions.length).toBeGreaterThan(50);
    const next = random(20261122);
    const pick = (): string => versions[Math.floor(next() * versions.length)];
    const pairs: [string, string][] = [];
    for (let i = 0; i < 250; i++) pairs.push([pick(), pick()]);
    const sorted = [...versions].sort();
    for (let i = 0; i + 1 < sorted.length && i < 300; i++) pairs.push([sorted[i], sorted[i + 1]]);
    // Each version against what a rebuild or an update would make of it.
    for (let i = 0; i < 150; i++) {
      const v = pick();
      const variant = [`${v}~1`, `${v}+b1`, `${v}.1`, v.replace(/[0-9]+$/, (d) => String(Number(d) + 1)), v.replace(/-[^-]*$/, ''), `1:${v.replace(/^[0-9]+:/, '')}`][i % 6];
      pairs.push([v, variant]);
    }
    expect(pairs.length).toBeGreaterThan(500);
    const expected = dpkgOrder(pairs);
    const actual = pairs.map(([a, b]) => compareDebianVersions(a, b));
    const wrong = pairs.filter((_, i) => actual[i] !== expected[i]).map(([a, b]) => `${a} vs ${b}`);
    expect(wrong).toEqual([]);
  });

  it('never throws on versions dpkg would refuse', () => {
    for (const [a, b] of [['', '1'], ['abc:1', '1'], [':', '-'], ['1.0-', '1.0'], ['\u0000', '~']]) {
      expect([-1, 0, 1]).toContain(compareDebianVersions(a, b));
      expect(compareDebianVersions(a, b)).toBe(-compareDebianVersions(b, a) || 0);
    }
  });
});
