import { Command } from 'commander';
import { CheckReport, checkTarget } from '../check/run-checks';
import { InvalidStemcellError } from '../errors';
import type { CliIo } from './main';
import { jsonText, printable } from './text';

export function formatReport(report: CheckReport): string {
  const width = Math.max(...report.results.map((r) => r.id.length));
  const rows = report.results.map((r) => `${r.ok ? 'PASS' : 'FAIL'}  ${r.id.padEnd(width)}  ${printable(r.ok ? r.title : `${r.title}: ${r.detail}`)}`);
  return `${rows.join('\n')}\n\n${report.passed} passed, ${report.failed} failed\n`;
}

export function checkCommand(io: CliIo): Command {
  return new Command('check')
    .description('Check the hardening of an OS image, a stemcell (its disk mounted read-only, as root) or a root directory.')
    .argument('<target>', 'an OS image .tgz, a stemcell .tgz or a directory')
    .option('--json', 'print a JSON report instead of a table')
    .option('--install-host-packages', 'apt-get install missing host packages (to mount a stemcell\'s disk) first')
    .addHelpText('after', '\nA .tgz with a stemcell.MF is a stemcell, any other an OS image. Exits 1 when any check fails.')
    .action(async (target: string, options: { json?: boolean; installHostPackages?: boolean }) => {
      const report = await checkTarget(target, options.installHostPackages);
      io.out(options.json ? jsonText(report) : formatReport(report));
      if (report.failed > 0) throw new InvalidStemcellError(`${report.failed} of ${report.results.length} checks failed on ${target}`);
    });
}
