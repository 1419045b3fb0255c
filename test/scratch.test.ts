/**
 * Scratch space and partial outputs go on every way out of a process: a
 * release, a signal, a crash, a plain exit; and what a killed process left is
 * swept by the next one. Each case runs in a real child process.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { partialOutput, scratchDirectory, sweepStaleScratch, withScratch } from '../lib/scratch';
import { tempDir } from './helpers/stemcells';

const SCRATCH = path.join(__dirname, '..', 'lib', 'scratch.ts');
const EXIT_CODES = path.join(__dirname, '..', 'lib', 'cli', 'exit-codes.ts');

/**
 * A child that makes a scratch directory and a partial output under `root`,
 * prints their paths, then does `then` (JavaScript with `scratch` and `partial` in scope).
 */
function child(root: string, then: string): ReturnType<typeof spawn> {
  const script = `
    const { installExitHandlers, scratchDirectory, partialOutput } = require(${JSON.stringify(SCRATCH)});
    const { ExitCode, exitCodeForSignal } = require(${JSON.stringify(EXIT_CODES)});
    installExitHandlers({ report: (line) => process.stderr.write('stemcell: ' + line + '\\n'), signalExitCode: exitCodeForSignal, crashExitCode: ExitCode.INTERNAL });
    const scratch = scratchDirectory('test', ${JSON.stringify(root)});
    require('fs').writeFileSync(require('path').join(scratch.path, 'disk.img'), 'x'.repeat(1024));
    const partial = partialOutput(${JSON.stringify(path.join(root, 'out.tgz'))});
    require('fs').writeFileSync(partial.path, 'half');
    process.stdout.write(JSON.stringify({ scratch: scratch.path, partial: partial.path }) + '\\n');
    ${then}
  `;
  return spawn(process.execPath, ['--require', 'tsx/cjs', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'], cwd: path.join(__dirname, '..') });
}

async function run(then: string, signal?: NodeJS.Signals): Promise<{ code: number | null; err: string; paths: { scratch: string; partial: string }; root: string }> {
  const root = tempDir('scratch-root-');
  const proc = child(root, then);
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  const paths = await new Promise<{ scratch: string; partial: string }>((resolve, reject) => {
    proc.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]));
    });
    proc.on('exit', () => reject(new Error(`child exited early: ${err}`)));
  });
  if (signal) proc.kill(signal);
  const code = await new Promise<number | null>((resolve) => (proc.exitCode !== null ? resolve(proc.exitCode) : proc.on('exit', (c) => resolve(c))));
  return { code, err, paths, root };
}

function expectGone(paths: { scratch: string; partial: string }, root: string): void {
  expect(fs.existsSync(paths.scratch)).toBe(false);
  expect(fs.existsSync(paths.partial)).toBe(false);
  expect(fs.readdirSync(root)).toEqual([]);
}

describe('scratch released on every way out', () => {
  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const)('%s: released, exit %d, one line', async (signal, exitCode) => {
    const { code, err, paths, root } = await run('setInterval(() => undefined, 1000);', signal);
    expect(code).toBe(exitCode);
    expect(err).toBe(`stemcell: interrupted (${signal}); scratch space and partial outputs released\n`);
    expectGone(paths, root);
  });

  it('a crash: released, exit 70, one line and no stack trace', async () => {
    const { code, err, paths, root } = await run("setTimeout(() => { throw new TypeError('boom'); }, 10);");
    expect(code).toBe(70);
    expect(err).toBe('stemcell: internal error: boom (this is a bug; please report it with the command you ran)\n');
    expectGone(paths, root);
  });

  it('an unhandled rejection: the same', async () => {
    const { code, err, paths, root } = await run("Promise.reject(new Error('lost'));");
    expect(code).toBe(70);
    expect(err).toMatch(/^stemcell: internal error: lost/);
    expectGone(paths, root);
  });

  it('a plain exit that forgot to release: released', async () => {
    const { code, paths, root } = await run('process.exit(0);');
    expect(code).toBe(0);
    expectGone(paths, root);
  });

  it('SIGKILL cannot be caught: the next process sweeps what was left, and nothing of a live one', async () => {
    const { code, paths, root } = await run('setInterval(() => undefined, 1000);', 'SIGKILL');
    expect(code).toBeNull();
    expect(fs.existsSync(paths.scratch)).toBe(true);
    const mine = scratchDirectory('test', root);
    expect(sweepStaleScratch(root)).toEqual([]);
    expect(fs.existsSync(paths.scratch)).toBe(false);
    expect(fs.existsSync(mine.path)).toBe(true);
    mine.release();
    expect(fs.existsSync(mine.path)).toBe(false);
  });
});

describe('in process', () => {
  it('a partial output left by a killed process is swept by the next write into that directory', async () => {
    const root = tempDir('stale-partial-');
    const { code, paths } = await run('setInterval(() => undefined, 1000);', 'SIGKILL');
    expect(code).toBeNull();
    // What the killed writer left beside its output:
    const stale = path.join(root, `x.tgz.partial-${path.basename(paths.partial).split('-').pop()}`);
    fs.writeFileSync(stale, 'half');
    const next = partialOutput(path.join(root, 'y.tgz'));
    expect(fs.existsSync(stale)).toBe(false);
    next.release();
  });

  it('withScratch removes its directory when the work throws', async () => {
    const root = tempDir('scratch-inproc-');
    let seen = '';
    await expect(
      withScratch(
        'unit',
        async (scratchDir) => {
          seen = scratchDir;
          fs.writeFileSync(path.join(scratchDir, 'f'), 'x');
          throw new Error('failed');
        },
        root,
      ),
    ).rejects.toThrow('failed');
    expect(seen).toMatch(/stemcell-unit-\d+-/);
    expect(fs.existsSync(seen)).toBe(false);
  });

  it('a partial output links into place and never replaces a file', async () => {
    const root = tempDir('partial-');
    const final = path.join(root, 'x.tgz');
    const first = partialOutput(final);
    fs.writeFileSync(first.path, 'first');
    await first.commit();
    const second = partialOutput(final);
    fs.writeFileSync(second.path, 'second');
    await expect(second.commit()).rejects.toThrow(/EEXIST/);
    second.release();
    expect(fs.readdirSync(root)).toEqual(['x.tgz']);
    expect(fs.readFileSync(final, 'utf8')).toBe('first');
  });

  // Mounting needs root (as npm test runs); npm run test:unit reports it skipped.
  (process.getuid?.() === 0 ? it : it.skip)('unmounts what is mounted in a scratch directory before removing it', () => {
    const root = tempDir('mounted-');
    const scratch = scratchDirectory('mnt', root);
    const mnt = path.join(scratch.path, 'm');
    fs.mkdirSync(mnt);
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'scratch-test', mnt]).status).toBe(0);
    fs.writeFileSync(path.join(mnt, 'inside'), 'kept until unmounted');
    scratch.release();
    expect(fs.existsSync(scratch.path)).toBe(false);
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(mnt);
  });
});
