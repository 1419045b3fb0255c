import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { mountsBelow, scratchOwnerEnded } from '../../lib/scratch';

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

/**
 * What `check` and `boot-test` processes that have ended left below /var/tmp:
 * scratch directories, mounts and loop devices. Those of live processes (a
 * suite running beside this one) are not counted.
 */
export function scratchOfEndedProcesses(): { dirs: string[]; mounts: string[]; loops: string[] } {
  const dirs = fs.readdirSync('/var/tmp').filter((f) => /^stemcell-(check|boot)-\d+-/.test(f) && scratchOwnerEnded(f));
  const mounts = mountsBelow('/var/tmp').filter((m) => m.startsWith('/var/tmp/stemcell-') && scratchOwnerEnded(m));
  const listed = spawnSync('losetup', ['--list', '--noheadings', '--raw', '--output', 'NAME,BACK-FILE'], { encoding: 'utf8' }).stdout ?? '';
  const loops = listed.split('\n').filter((l) => / \/var\/tmp\/stemcell-/.test(l) && scratchOwnerEnded(l)).map((l) => l.split(' ')[0]);
  return { dirs, mounts, loops };
}
