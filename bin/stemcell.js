#!/usr/bin/env node
// Runs the TypeScript sources directly, so there is no build step to forget.
require('tsx/cjs');
// A closed pipe (stemcell ... | head) is not an error worth a stack trace.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});
require('../lib/cli/main')
  .main(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  });
