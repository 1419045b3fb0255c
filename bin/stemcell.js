#!/usr/bin/env node
// Runs the TypeScript sources directly, so there is no build step to forget.
// The AWS SDK warns on Node.js 20 about releases we do not use; the versions
// pinned in package.json support it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
require('tsx/cjs');
const { installExitHandlers } = require('../lib/scratch');
const { printable } = require('../lib/cli/text');
const { ExitCode, exitCodeForSignal } = require('../lib/cli/exit-codes');
// Scratch space and partial outputs go on every way out: signals, crashes, exit.
installExitHandlers({
  report: (line) => process.stderr.write(`stemcell: ${printable(line)}\n`),
  signalExitCode: exitCodeForSignal,
  crashExitCode: ExitCode.INTERNAL,
});
// A closed pipe (stemcell ... | head) is not an error worth a message.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});
require('../lib/cli/main')
  .main(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  });
