import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

/**
 * Tests that build images need root (chroots, mounts, loop devices). They fail
 * loudly without it rather than pass vacuously; `npm run test:unit` runs
 * everything else.
 */
export function requireRootForSuite(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('this suite needs root (mounts, loop devices, chroots): run `sudo npm test`, or `npm run test:unit` for the rest');
  }
}

/** Whether the process that owns a scratch path (`.../stemcell-<purpose>-<pid>-...`) has ended. */
function ownerEnded(scratchPath: string): boolean {
  const m = /stemcell-[a-z-]+-(\d+)-/.exec(scratchPath);
  if (!m) return true;
  try {
    process.kill(Number(m[1]), 0);
    return false;
  } catch {
    return true;
  }
}

/**
 * What `check` and `boot-test` processes that have ended left below /var/tmp:
 * scratch directories, mounts and loop devices. Those of live processes (a
 * suite running beside this one) are not counted.
 */
export function scratchOfEndedProcesses(): { dirs: string[]; mounts: string[]; loops: string[] } {
  const dirs = fs.readdirSync('/var/tmp').filter((f) => /^stemcell-(check|boot)-\d+-/.test(f) && ownerEnded(f));
  const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m?.startsWith('/var/tmp/stemcell-') && ownerEnded(m));
  const listed = spawnSync('losetup', ['--list', '--noheadings', '--raw', '--output', 'NAME,BACK-FILE'], { encoding: 'utf8' }).stdout ?? '';
  const loops = listed.split('\n').filter((l) => / \/var\/tmp\/stemcell-/.test(l) && ownerEnded(l)).map((l) => l.split(' ')[0]);
  return { dirs, mounts, loops };
}
