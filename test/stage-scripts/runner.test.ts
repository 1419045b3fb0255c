/**
 * stage-scripts/run.sh with small test stages (test/fixtures/stages): failure
 * reports, resume, interrupts with mounts and loop devices held, partial
 * outputs, the work-directory lock.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCollection } from '../../lib/builder/stage-runner';
import { requireRootForSuite } from '../helpers/root';
import { tempDir } from '../helpers/stemcells';

const RUN = path.join(__dirname, '..', '..', 'stage-scripts', 'run.sh');
const FIXTURE_STAGES = path.join(__dirname, '..', 'fixtures', 'stages');

beforeAll(requireRootForSuite);

function workWith(stages: string[]): { work: string; collection: string } {
  const work = tempDir('runner-');
  fs.writeFileSync(path.join(work, 'settings.env'), "export STEMCELL_OS='test'\n");
  const collection = path.join(work, 'collection');
  fs.writeFileSync(collection, `# test collection\n${stages.join('\n')}\n`);
  return { work, collection };
}

function run(work: string, collection: string, ...extra: string[]) {
  const r = spawnSync('bash', [RUN, '--work', work, '--collection', collection, ...extra], {
    encoding: 'utf8',
    env: { ...process.env, STEMCELL_STAGES_PATH: FIXTURE_STAGES },
    // A process left holding the runner's output would otherwise hang the suite.
    timeout: 60_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function report(work: string): Record<string, string> {
  return Object.fromEntries(fs.readFileSync(path.join(work, 'report.tsv'), 'utf8').trim().split('\n').map((l) => l.split('\t').slice(0, 2) as [string, string]));
}

const marks = (work: string): string[] => fs.readFileSync(path.join(work, 'marks'), 'utf8').trim().split('\n');

function mountsBelow(dir: string): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m && m.startsWith(dir));
}

function loopsBelow(dir: string): string[] {
  const out = spawnSync('losetup', ['--list', '--noheadings', '--output', 'NAME,BACK-FILE'], { encoding: 'utf8' }).stdout;
  return out.split('\n').filter((l) => l.includes(dir));
}

/** Running, not a zombie waiting for PID 1 to reap it. */
function alive(pid: number): boolean {
  try {
    return !/\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function waitFor(file: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 200 && !fs.existsSync(file); i++) {
    if (child.exitCode !== null) throw new Error(`runner exited early with ${child.exitCode}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!fs.existsSync(file)) throw new Error(`${file} never appeared`);
}

function startRun(work: string, collection: string): { child: ChildProcess; done: Promise<{ code: number | null; err: string }> } {
  const child = spawn('bash', [RUN, '--work', work, '--collection', collection], { env: { ...process.env, STEMCELL_STAGES_PATH: FIXTURE_STAGES } });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  child.stdout!.resume();
  const done = new Promise<{ code: number | null; err: string }>((resolve) => child.on('exit', (code) => resolve({ code, err })));
  return { child, done };
}

describe('a failing stage', () => {
  it('names the stage, shows its output, and a resume finishes the job', () => {
    const { work, collection } = workWith(['ok_one', 'fail_unless_allowed', 'ok_two']);
    const failed = run(work, collection);
    expect(failed.code).toBe(1);
    expect(failed.err).toMatch(/boom: not allowed yet/);
    expect(failed.err).toMatch(/stage fail_unless_allowed failed \(exit 3\)/);
    expect(failed.err).toMatch(/resume with --resume-from fail_unless_allowed/);
    expect(report(work)).toEqual({ ok_one: 'ok', fail_unless_allowed: 'failed', ok_two: 'not run' });
    expect(fs.readFileSync(path.join(work, 'logs', '01-fail_unless_allowed.log'), 'utf8')).toMatch(/checking for permission[\s\S]*boom/);

    fs.writeFileSync(path.join(work, 'allow'), '');
    const resumed = run(work, collection, '--resume-from', 'fail_unless_allowed');
    expect(resumed.code).toBe(0);
    expect(report(work)).toEqual({ ok_one: 'skipped', fail_unless_allowed: 'ok', ok_two: 'ok' });
    expect(marks(work)).toEqual(['one ran', 'allowed ran', 'two ran']);
    expect(resumed.out).toMatch(/^total\s+\d+\.\d$/m);
  });

  it('refuses to resume past a stage that never completed', () => {
    const { work, collection } = workWith(['ok_one', 'fail_unless_allowed', 'ok_two']);
    expect(run(work, collection).code).toBe(1);
    const r = run(work, collection, '--resume-from', 'ok_two');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/the earlier stage 'fail_unless_allowed' never completed .*; resume from 'fail_unless_allowed' instead/);
  });
});

describe('bad requests are refused before any stage runs', () => {
  it.each([
    [['ok_one', 'no_such_stage'], [], /stage 'no_such_stage' .* has no apply.sh/],
    [['ok_one'], ['--resume-from', 'ok_two'], /cannot resume from 'ok_two': not in the collection/],
  ])('%j %j', (stages, extra, message) => {
    const { work, collection } = workWith(stages);
    const r = run(work, collection, ...extra);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(fs.existsSync(path.join(work, 'marks'))).toBe(false);
  });

  it('refuses a second build in the same work directory', async () => {
    const { work, collection } = workWith(['ok_one']);
    const holder = spawn('flock', [path.join(work, '.lock'), 'sleep', '30']);
    await new Promise((r) => setTimeout(r, 300));
    const r = run(work, collection);
    holder.kill();
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/another build is running in .*lock .* is held/);
  });
});

describe('interrupts', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('%s mid-stage leaves no mounts and no loop devices', async (signal) => {
    const { work, collection } = workWith(['ok_one', 'mount_and_wait', 'ok_two']);
    const { child, done } = startRun(work, collection);
    await waitFor(path.join(work, 'ready'), child);
    expect(mountsBelow(work)).toHaveLength(2);
    expect(loopsBelow(work)).toHaveLength(1);
    child.kill(signal);
    const { code, err } = await done;
    expect(code).toBe(signal === 'SIGINT' ? 130 : 143);
    expect(err).toMatch(new RegExp(`interrupted \\(${signal}\\) during stage mount_and_wait`));
    expect(err).toMatch(/resume with --resume-from mount_and_wait/);
    expect(mountsBelow(work)).toEqual([]);
    expect(loopsBelow(work)).toEqual([]);
    expect(report(work)).toEqual({ ok_one: 'ok', mount_and_wait: 'interrupted', ok_two: 'not run' });
  });

  it('a runner killed outright leaves its mounts; the next run in that work directory releases them first', async () => {
    const { work, collection } = workWith(['ok_one', 'mount_and_wait', 'ok_two']);
    const { child, done } = startRun(work, collection);
    await waitFor(path.join(work, 'ready'), child);
    // As the OOM killer would: the runner and the stage, with no chance to clean up.
    child.kill('SIGKILL');
    await done;
    // The stage runs in a session of its own (setsid): kill all of it.
    const stage = spawnSync('pgrep', ['-f', path.join(FIXTURE_STAGES, 'mount_and_wait')], { encoding: 'utf8' }).stdout.trim().split('\n')[0];
    process.kill(-Number(stage), 'SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    expect(mountsBelow(work)).toHaveLength(2);
    expect(loopsBelow(work)).toHaveLength(1);
    const short = path.join(work, 'short-collection');
    fs.writeFileSync(short, 'ok_one\n');
    const again = run(work, short);
    expect(again.code).toBe(0);
    expect(mountsBelow(work)).toEqual([]);
    expect(loopsBelow(work)).toEqual([]);
  });

  it('unmounts only after the command the stage waits for has died', async () => {
    const { work, collection } = workWith(['slow_writer_under_mount']);
    const { child, done } = startRun(work, collection);
    await waitFor(path.join(work, 'ready'), child);
    child.kill('SIGTERM');
    const { code } = await done;
    expect(code).toBe(143);
    expect(mountsBelow(work)).toEqual([]);
    const writer = Number(fs.readFileSync(path.join(work, 'writer'), 'utf8'));
    for (let i = 0; i < 100 && alive(writer); i++) await new Promise((r) => setTimeout(r, 50));
    // The writer's last words went into the tmpfs, never into the directory below it.
    expect(fs.readdirSync(path.join(work, 'mnt'))).toEqual([]);
  });

  it('stops what a stage left running before the next stage starts', () => {
    const { work, collection } = workWith(['leave_straggler', 'ok_one']);
    expect(run(work, collection).code).toBe(0);
    const straggler = Number(fs.readFileSync(path.join(work, 'straggler'), 'utf8'));
    expect(alive(straggler)).toBe(false);
  });

  it('leaves no half-written output', async () => {
    const { work, collection } = workWith(['write_partial_and_wait']);
    const { child, done } = startRun(work, collection);
    await waitFor(path.join(work, 'ready'), child);
    expect(fs.existsSync(path.join(work, 'output.tgz.partial'))).toBe(true);
    child.kill('SIGTERM');
    await done;
    expect(fs.readdirSync(work).filter((f) => f.startsWith('output'))).toEqual([]);
  });
});

describe('runCollection', () => {
  it('stops the build for a signal that comes after the last stage finished', async () => {
    const { work, collection } = workWith(['ok_one']);
    const running = runCollection({ work, collectionFile: collection, env: { STEMCELL_STAGES_PATH: FIXTURE_STAGES } });
    running.catch(() => undefined);
    const completed = path.join(work, 'completed');
    for (let i = 0; i < 200 && !(fs.existsSync(completed) && fs.readFileSync(completed, 'utf8').includes('ok_one')); i++) await new Promise((r) => setTimeout(r, 10));
    // As Ctrl-C would: run.sh has no stage left to stop and exits 0 (or has already).
    process.emit('SIGINT');
    await expect(running).rejects.toThrow('interrupted (SIGINT) after the last stage; mounts and loop devices are released and the work directory ' + work + ' is kept: run the same command with --resume-from ok_one to carry on');
  });
});

describe('a chroot in memory', () => {
  const chroot = (work: string) => path.join(work, 'chroot');

  it('is saved to disk when a stage fails, so the build resumes with it', () => {
    const { work, collection } = workWith(['chroot_in_memory', 'fail_unless_allowed']);
    const failed = run(work, collection);
    expect(failed.code).toBe(1);
    expect(failed.err).toMatch(/saving the chroot from memory to .*\/chroot \(for --resume-from\)/);
    expect(mountsBelow(work)).toEqual([]);
    expect(fs.readFileSync(path.join(chroot(work), 'marker'), 'utf8')).toBe('built in memory\n');
    fs.writeFileSync(path.join(work, 'allow'), '');
    expect(run(work, collection, '--resume-from', 'fail_unless_allowed').code).toBe(0);
  });

  it('goes with the tmpfs when the build finishes, unless the work directory is kept', () => {
    const { work, collection } = workWith(['chroot_in_memory', 'ok_one']);
    expect(run(work, collection).code).toBe(0);
    expect(mountsBelow(work)).toEqual([]);
    expect(fs.readdirSync(chroot(work))).toEqual([]);
    const kept = spawnSync('bash', [RUN, '--work', work, '--collection', collection], { encoding: 'utf8', env: { ...process.env, STEMCELL_STAGES_PATH: FIXTURE_STAGES, STEMCELL_KEEP_CHROOT: '1' } });
    expect(kept.status).toBe(0);
    expect(fs.readFileSync(path.join(chroot(work), 'marker'), 'utf8')).toBe('built in memory\n');
  });

  it('never takes the work directory itself when that is a mount point', () => {
    const { work, collection } = workWith(['ok_one']);
    expect(spawnSync('mount', ['-t', 'tmpfs', 'runner-work', work]).status).toBe(0);
    try {
      fs.writeFileSync(path.join(work, 'settings.env'), "export STEMCELL_OS='test'\n");
      fs.writeFileSync(collection, 'ok_one\n');
      expect(run(work, collection).code).toBe(0);
      expect(spawnSync('mountpoint', ['-q', work]).status).toBe(0);
    } finally {
      spawnSync('umount', [work]);
    }
  });
});

describe('stage helpers', () => {
  it('make a second build wait for the package cache instead of failing on apt\'s lock', async () => {
    const work = tempDir('cache-lock-');
    fs.writeFileSync(path.join(work, 'settings.env'), `export STEMCELL_OS='test'\nexport STEMCELL_PACKAGE_CACHE='${work}/cache'\n`);
    fs.mkdirSync(path.join(work, 'cache'));
    const holder = spawn('flock', [path.join(work, 'cache.lock'), 'sleep', '2']);
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    const r = spawnSync('bash', ['-c', 'source "$STEMCELL_LIB/common.sh"; lock_package_cache; echo locked'], {
      encoding: 'utf8',
      env: { ...process.env, STEMCELL_SETTINGS: path.join(work, 'settings.env'), STEMCELL_CHROOT: path.join(work, 'chroot'), STEMCELL_STAGE: 'test', STEMCELL_STAGE_DIR: work, STEMCELL_LIB: path.join(__dirname, '..', '..', 'stage-scripts', 'lib'), STEMCELL_WORK: work },
    });
    holder.kill();
    expect(r.stdout).toMatch(/waiting for another build to finish with the package cache[\s\S]*locked/);
    expect(Date.now() - started).toBeGreaterThan(1000);
  });

  it('detach the loop devices a stage attached when it exits, without the runner', () => {
    const work = tempDir('helpers-');
    fs.writeFileSync(path.join(work, 'settings.env'), "export STEMCELL_OS='test'\n");
    fs.writeFileSync(path.join(work, 'disk.img'), Buffer.alloc(4 * 2 ** 20));
    const r = spawnSync('bash', ['-c', 'source "$STEMCELL_LIB/common.sh"; trap release_stage_resources EXIT; part=""; attach_loop part "$1" 1048576 1048576; losetup --list --noheadings --output NAME | grep -qx "$part" && echo "attached $part"', '_', path.join(work, 'disk.img')], {
      encoding: 'utf8',
      env: { ...process.env, STEMCELL_SETTINGS: path.join(work, 'settings.env'), STEMCELL_CHROOT: path.join(work, 'chroot'), STEMCELL_STAGE: 'test', STEMCELL_STAGE_DIR: work, STEMCELL_LIB: path.join(__dirname, '..', '..', 'stage-scripts', 'lib'), STEMCELL_WORK: work },
    });
    expect(r.stdout).toMatch(/^attached \/dev\/loop\d+$/m);
    expect(r.status).toBe(0);
    expect(loopsBelow(work)).toEqual([]);
  });
});
