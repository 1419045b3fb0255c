/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  // CDK synthesis of a whole stack takes a few seconds on 2 cores.
  testTimeout: 60_000,
};
