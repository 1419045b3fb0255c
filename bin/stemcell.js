#!/usr/bin/env node
// Runs the TypeScript sources directly, so there is no build step to forget.
require('tsx/cjs');
require('../lib/cli/entry');
