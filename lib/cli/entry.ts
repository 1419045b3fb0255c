/**
 * The `stemcell` process: exit handlers, then the command line. bin/stemcell.js
 * runs it from the TypeScript sources; the farm's code asset bundles it for
 * builder instances (lib/cli/stemcell.cjs there).
 */
import { installExitHandlers } from '../scratch';
import { ExitCode, exitCodeForSignal } from './exit-codes';
import { main } from './main';
import { printable } from './text';

// The AWS SDK warns on Node.js 20 about releases we do not use; the versions
// pinned in package.json support it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
// Scratch space and partial outputs go on every way out: signals, crashes, exit.
installExitHandlers({
  report: (line) => process.stderr.write(`stemcell: ${printable(line)}\n`),
  signalExitCode: exitCodeForSignal,
  crashExitCode: ExitCode.INTERNAL,
});
// A closed pipe (stemcell ... | head) is not an error worth a message.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});
void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
