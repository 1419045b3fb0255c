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
