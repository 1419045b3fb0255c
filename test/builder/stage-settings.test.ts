/**
 * settings.env is the typed contract between the TypeScript side and the
 * stages (lib/builder/stage-settings.ts): every variable a stage reads is in
 * its build's contract (or set by run.sh, or by the script itself), and every
 * variable in a contract is read by some stage.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { collectionStages } from '../../lib/builder/os-image-settings';
import { OS_IMAGE_SETTINGS, STEMCELL_SETTINGS } from '../../lib/builder/stage-settings';

const SCRIPTS = path.join(__dirname, '..', '..', 'stage-scripts');
const RUNNER = ['STEMCELL_WORK', 'STEMCELL_CHROOT', 'STEMCELL_SETTINGS', 'STEMCELL_STAGE', 'STEMCELL_STAGE_DIR', 'STEMCELL_LIB', 'STEMCELL_STAGES_PATH', 'STEMCELL_DRY_RUN'];

/** Variables a script reads, less those it sets itself for a command it runs (`NAME=value command`). */
function reads(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const local = new Set([...text.matchAll(/(?:^|\s)(STEMCELL_[A-Z0-9_]+)=/gm)].map((m) => m[1]));
  return [...new Set([...text.matchAll(/\$\{?((?:STEMCELL_|SOURCE_DATE_EPOCH)[A-Z0-9_]*)/g)].map((m) => m[1]))].filter((v) => !local.has(v));
}

function collections(kind: 'os-image' | 'stemcell'): { name: string; stages: string[] }[] {
  const dir = path.join(SCRIPTS, 'collections', kind);
  return fs.readdirSync(dir).map((name) => ({ name, stages: collectionStages(fs.readFileSync(path.join(dir, name), 'utf8')) }));
}

describe('the settings.env contract', () => {
  const kinds: ['os-image' | 'stemcell', readonly string[]][] = [
    ['os-image', OS_IMAGE_SETTINGS],
    ['stemcell', STEMCELL_SETTINGS],
  ];

  it.each(kinds)('a stage of a %s collection reads only what that build renders', (kind, contract) => {
    const extra = kind === 'os-image' ? ['customize'] : [];
    const outside: string[] = [];
    for (const { name, stages } of collections(kind)) {
      for (const stage of [...stages, ...extra]) {
        for (const variable of reads(path.join(SCRIPTS, 'stages', stage, 'apply.sh'))) {
          if (!contract.includes(variable) && !RUNNER.includes(variable)) outside.push(`${name}/${stage}: ${variable}`);
        }
      }
    }
    expect(outside).toEqual([]);
  });

  it('the shared helpers read only what some build renders', () => {
    const known = new Set([...OS_IMAGE_SETTINGS, ...STEMCELL_SETTINGS, ...RUNNER]);
    expect(reads(path.join(SCRIPTS, 'lib', 'common.sh')).filter((v) => !known.has(v))).toEqual([]);
  });

  it.each(kinds)('every variable of the %s contract is read by one of its stages (or the helpers)', (kind, contract) => {
    const stages = new Set(collections(kind).flatMap((c) => c.stages));
    const read = new Set([...stages].flatMap((stage) => reads(path.join(SCRIPTS, 'stages', stage, 'apply.sh'))).concat(reads(path.join(SCRIPTS, 'lib', 'common.sh'))));
    if (kind === 'os-image') reads(path.join(SCRIPTS, 'stages', 'customize', 'apply.sh')).forEach((v) => read.add(v));
    expect(contract.filter((v) => !read.has(v))).toEqual([]);
  });
});
