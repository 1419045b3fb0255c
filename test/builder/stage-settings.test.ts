/**
 * settings.env is the typed contract between the TypeScript side and the
 * stages (lib/builder/stage-settings.ts): every variable a stage reads is in
 * it (or set by run.sh), and every variable in it is read by some stage.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OS_IMAGE_SETTINGS, STEMCELL_SETTINGS } from '../../lib/builder/stage-settings';

const SCRIPTS = path.join(__dirname, '..', '..', 'stage-scripts');
const RUNNER = ['STEMCELL_WORK', 'STEMCELL_CHROOT', 'STEMCELL_SETTINGS', 'STEMCELL_STAGE', 'STEMCELL_STAGE_DIR', 'STEMCELL_LIB', 'STEMCELL_STAGES_PATH', 'STEMCELL_DRY_RUN'];

function scripts(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) return d.name === 'assets' ? [] : scripts(p);
    return d.name.endsWith('.sh') ? [p] : [];
  });
}

/** Variables a script reads, and those it sets for a command it runs (`NAME=value command`). */
function variables(file: string): { read: Set<string>; local: Set<string> } {
  const text = fs.readFileSync(file, 'utf8');
  const read = new Set([...text.matchAll(/\$\{?((?:STEMCELL_|SOURCE_DATE_EPOCH)[A-Z_]*)/g)].map((m) => m[1]));
  const local = new Set([...text.matchAll(/(?:^|\s)((?:STEMCELL_)[A-Z_]+)=/gm)].map((m) => m[1]));
  return { read, local };
}

describe('the settings.env contract', () => {
  const all = scripts(SCRIPTS).map(variables);
  const contract = new Set<string>([...OS_IMAGE_SETTINGS, ...STEMCELL_SETTINGS]);
  const local = new Set(all.flatMap((v) => [...v.local]));

  it('holds every variable a stage reads', () => {
    const read = new Set(all.flatMap((v) => [...v.read]));
    expect([...read].filter((v) => !contract.has(v) && !RUNNER.includes(v) && !local.has(v))).toEqual([]);
  });

  it('holds no variable that no stage reads', () => {
    const read = new Set(all.flatMap((v) => [...v.read]));
    expect([...contract].filter((v) => !read.has(v))).toEqual([]);
  });
});
