import { Command } from 'commander';
import { Diff, diffSnapshots, FileAddedOrRemoved, FileChange, FileState, ManifestChange } from '../diff/diff';
import { readSnapshot, snapshotKind } from '../diff/snapshot';
import { EnvironmentError } from '../errors';
import type { CliIo } from './main';
import { inputTarball } from './options';
import { jsonText, printable } from './text';

const WHAT = 'stemcell or OS image';

function value(v: unknown): string {
  if (v === undefined) return '(absent)';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** `title: counts`, then the rows indented, or `title: none`. */
function section(title: string, counts: string, rows: readonly string[]): string {
  return `\n${title}: ${counts}\n${rows.map((r) => `  ${printable(r)}\n`).join('')}`;
}

function manifestSection(changes: readonly ManifestChange[]): string {
  const rows = changes.map((c) => `${c.field}: ${value(c.from)} -> ${value(c.to)}`);
  return section('Manifest', changes.length === 0 ? 'no changes' : `${changes.length} field${changes.length === 1 ? '' : 's'} changed`, rows);
}

function packagesSection(p: Diff['packages']): string {
  const width = 'downgraded'.length;
  const rows = [
    ...p.added.map((x) => `${'added'.padEnd(width)}  ${x.name} ${x.version}`),
    ...p.removed.map((x) => `${'removed'.padEnd(width)}  ${x.name} ${x.version}`),
    ...p.upgraded.map((x) => `${'upgraded'.padEnd(width)}  ${x.name} ${x.from} -> ${x.to}${x.architecture.includes(' -> ') ? ` (${x.architecture})` : ''}`),
    ...p.downgraded.map((x) => `${'downgraded'.padEnd(width)}  ${x.name} ${x.from} -> ${x.to}${x.architecture.includes(' -> ') ? ` (${x.architecture})` : ''}`),
  ];
  return section('Packages', `${p.added.length} added, ${p.removed.length} removed, ${p.upgraded.length} upgraded, ${p.downgraded.length} downgraded`, rows);
}

function describeState(s: FileState): string {
  return `${s.type} ${s.mode} ${s.owner}${s.linkTarget !== undefined ? ` -> ${s.linkTarget}` : ''}`;
}

const owned = (packages: readonly string[]): string => (packages.length === 0 ? '' : `  (package ${packages.join(', ')}, same version)`);

function describeChange(c: FileChange): string {
  const parts = c.changed.map((aspect) => {
    if (aspect === 'content') return 'content';
    if (aspect === 'type') return `type ${c.from.type} -> ${c.to.type}`;
    if (aspect === 'mode') return `mode ${c.from.mode} -> ${c.to.mode}`;
    if (aspect === 'owner') return `owner ${c.from.owner} -> ${c.to.owner}`;
    return `link target ${c.from.linkTarget} -> ${c.to.linkTarget}`;
  });
  return parts.join('; ');
}

function filesSection(files: Diff['files']): string {
  if (!files) return section('Files outside packages', 'not compared', []);
  const rows: [string, string][] = [
    ...files.added.map((f: FileAddedOrRemoved): [string, string] => [f.path, `added    ${f.path}  ${describeState(f)}${owned(f.packages)}`]),
    ...files.removed.map((f: FileAddedOrRemoved): [string, string] => [f.path, `removed  ${f.path}  ${describeState(f)}${owned(f.packages)}`]),
    ...files.changed.map((f): [string, string] => [f.path, `changed  ${f.path}  ${describeChange(f)}${owned(f.packages)}`]),
  ];
  rows.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return section('Files outside packages', `${files.added.length} added, ${files.removed.length} removed, ${files.changed.length} changed`, rows.map(([, row]) => row));
}

function topLevelSection(changes: NonNullable<Diff['topLevelFiles']>): string {
  const width = Math.max(0, ...changes.map((c) => c.name.length));
  const rows = changes.map((c) => {
    const lines = c.linesAdded === undefined ? '' : `: ${c.linesAdded} line${c.linesAdded === 1 ? '' : 's'} added, ${c.linesRemoved} removed`;
    return `${c.name.padEnd(width)}  ${c.change}${lines}`;
  });
  return section('Other files', changes.length === 0 ? 'no changes' : `${changes.length} changed`, rows);
}

export function formatDiff(d: Diff): string {
  let text = `Old  ${printable(d.a.label)}  (${printable(d.a.source)})\nNew  ${printable(d.b.label)}  (${printable(d.b.source)})\n`;
  text += d.notes.map((n) => `note: ${printable(n)}\n`).join('');
  if (d.manifest) text += manifestSection(d.manifest);
  text += packagesSection(d.packages);
  text += filesSection(d.files);
  if (d.topLevelFiles) text += topLevelSection(d.topLevelFiles);
  return text;
}

/** Comparing a stemcell's files mounts its disk; without root, say so before reading anything. */
function requireRootForFiles(): void {
  if (process.getuid?.() !== 0) {
    throw new EnvironmentError('comparing the files of a stemcell needs root, to mount its disk read-only; run it with sudo, or pass --no-files to compare manifests, packages and the other top-level files only');
  }
}

export function diffCommand(io: CliIo): Command {
  return new Command('diff')
    .description('Show what changed between two stemcells or two OS images: manifest fields, packages, files no package change explains, other top-level files.')
    .argument('<old>', 'a stemcell or OS image .tgz')
    .argument('<new>', 'a stemcell or OS image .tgz')
    .option('--json', 'print a JSON object instead of text')
    .option('--no-files', "do not read the files (a stemcell's disk is mounted as root to read them)")
    .option('--install-host-packages', "apt-get install missing host packages (to mount a stemcell's disk) first")
    .addHelpText(
      'after',
      '\nA .tgz with a stemcell.MF is a stemcell, any other an OS image. Packages come from packages.txt (stemcells) or\n' +
        'var/lib/dpkg/status (OS images); files owned by a package whose version changed are left out, and so is\n' +
        "dpkg's database. Exits 0 when compared, whether or not anything changed.",
    )
    .action(async (old: string, now: string, options: { json?: boolean; files: boolean; installHostPackages?: boolean }) => {
      const tarballs = [inputTarball(old, WHAT), inputTarball(now, WHAT)];
      const kinds = [await snapshotKind(tarballs[0]), await snapshotKind(tarballs[1])];
      if (options.files && kinds.includes('stemcell')) requireRootForFiles();
      const read = { files: options.files, installHostPackages: options.installHostPackages };
      // One after the other: a stemcell's disk is written out and mounted while it is read.
      const a = await readSnapshot(tarballs[0], kinds[0], read);
      const b = await readSnapshot(tarballs[1], kinds[1], read);
      const diff = diffSnapshots(a, b);
      io.out(options.json ? jsonText(diff) : formatDiff(diff));
    });
}
