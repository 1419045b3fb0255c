import { Command } from 'commander';
import { InvalidStemcellError } from '../errors';
import { StemcellSummary, summarizeStemcell } from '../stemcell/summary';
import { readStemcellTarball } from '../stemcell/tarball';
import type { CliIo } from './main';
import { inputTarball } from './options';
import { jsonText, printable } from './text';

function table(rows: [string, string | undefined][]): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${k.padEnd(width)}  ${printable(v!)}\n`)
    .join('');
}

function files(title: string, entries: readonly { name: string; size: number; storedSize?: number; sparse?: boolean }[]): string {
  if (entries.length === 0) return '';
  const sizeWidth = Math.max(...entries.map((f) => String(f.size).length));
  const nameWidth = Math.max(...entries.map((f) => printable(f.name).length));
  const lines = entries.map((f) => {
    const stored = f.sparse ? ` (sparse, ${f.storedSize} bytes of data)` : '';
    return `  ${printable(f.name).padEnd(nameWidth)}  ${String(f.size).padStart(sizeWidth)} bytes${stored}\n`;
  });
  return `${title}\n${lines.join('')}`;
}

export function formatSummary(s: StemcellSummary): string {
  const sha1 = s.sha1.matches ? `${s.sha1.manifest} (matches image)` : `MISMATCH: manifest says ${s.sha1.manifest}, image is ${s.sha1.image}`;
  let text = table([
    ['Name', s.name],
    ['Kind', s.kind],
    ['Version', s.version],
    ['OS', s.operatingSystem],
    ['Infrastructure', s.infrastructure],
    ['Hypervisor', s.hypervisor],
    ['Formats', s.stemcellFormats.join(', ')],
    ['Disk', s.diskSizeMiB === undefined ? undefined : `${s.diskSizeMiB} MiB ${s.diskFormat ?? ''}`.trim()],
    ['Boot mode', s.bootMode],
    ['SHA1', sha1],
  ]);
  text += files('Files', s.files);
  text += files('In image', s.image);
  if (s.amis) text += `AMIs\n${Object.entries(s.amis).map(([region, ami]) => `  ${printable(region)}  ${printable(ami)}\n`).join('')}`;
  return text;
}

export function inspectCommand(io: CliIo): Command {
  return new Command('inspect')
    .description('Show what a stemcell tarball holds (and what its image holds), and check that its image matches the manifest sha1.')
    .argument('<tarball>', 'a heavy or light stemcell .tgz')
    .option('--json', 'print a JSON object instead of a table')
    .addHelpText('after', '\nExits 1 when the tarball or its image is unsafe or malformed, or the image does not match the sha1.')
    .action(async (tarball: string, options: { json?: boolean }) => {
      const summary = summarizeStemcell(await readStemcellTarball(inputTarball(tarball)));
      io.out(options.json ? jsonText(summary) : formatSummary(summary));
      if (!summary.sha1.matches) throw new InvalidStemcellError(`${tarball}: image does not match the manifest's sha1`);
    });
}
