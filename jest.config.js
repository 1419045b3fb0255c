// The AWS SDK warns on Node.js 20 about releases we do not use (see lib/cli/entry.ts).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  // Synthesizing the stack and spawning the CLI take seconds; builds in
  // test/e2e set their own, longer limits.
  testTimeout: 60_000,
  // Unit suites run beside the long end-to-end build instead of after it.
  maxWorkers: 2,
};
