import { Command } from 'commander';
import { InvalidStemcellError } from '../stemcell/errors';
import { StemcellSummary, summarizeStemcell } from '../stemcell/summary';
import { readStemcellTarball } from '../stemcell/tarball';
import type { CliIo } from './main';

function table(rows: [string, string | undefined][]): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${k.padEnd(width)}  ${v}\n`)
    .join('');
}

export function formatSummary(s: StemcellSummary): string {
  const sizeWidth = Math.max(...s.files.map((f) => String(f.size).length));
  const nameWidth = Math.max(...s.files.map((f) => f.name.length));
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
  text += 'Files\n';
  for (const f of s.files) text += `  ${f.name.padEnd(nameWidth)}  ${String(f.size).padStart(sizeWidth)} bytes\n`;
  if (s.amis) {
    text += 'AMIs\n';
    for (const [region, ami] of Object.entries(s.amis)) text += `  ${region}  ${ami}\n`;
  }
  return text;
}

export function inspectCommand(io: CliIo): Command {
  return new Command('inspect')
    .description('Show what a stemcell tarball holds and check that its image matches the manifest sha1.')
    .argument('<tarball>', 'a heavy or light stemcell .tgz')
    .option('--json', 'print a JSON object instead of a table')
    .addHelpText('after', '\nExits 1 when the tarball is unsafe or malformed, or the image does not match the sha1.')
    .action(async (tarball: string, options: { json?: boolean }) => {
      const summary = summarizeStemcell(await readStemcellTarball(tarball));
      io.out(options.json ? `${JSON.stringify(summary, null, 2)}\n` : formatSummary(summary));
      if (!summary.sha1.matches) throw new InvalidStemcellError(`${tarball}: image does not match the manifest's sha1`);
    });
}
