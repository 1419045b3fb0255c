#!/usr/bin/env node
import { createFarmApp } from '../lib/app';

try {
  createFarmApp().app.synth();
} catch (e) {
  // Bad configuration is the user's to fix, and the message says how (a cdk.json key, a
  // construct's prop); a stack trace would only bury it. `cdk --debug` shows it.
  const error = e instanceof Error ? e : new Error(String(e));
  console.error(process.env.CDK_DEBUG === 'true' ? error.stack : `Error: ${error.message}`);
  process.exitCode = 1;
}
