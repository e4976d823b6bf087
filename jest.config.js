/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: [
    '<rootDir>/contract',
    '<rootDir>/workflows',
    '<rootDir>/activities',
    '<rootDir>/artifacts',
    '<rootDir>/worker',
    '<rootDir>/config',
    '<rootDir>/codec',
    '<rootDir>/telemetry',
    '<rootDir>/web',
    '<rootDir>/tests',
    '<rootDir>/devstack',
    '<rootDir>/scripts',
    '<rootDir>/cli',
  ],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/web/build/'],
  transform: { '^.+\\.tsx?$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  // One Temporal dev server and one workflow bundle for the whole run.
  globalSetup: '<rootDir>/tests/setup/globalSetup.ts',
  globalTeardown: '<rootDir>/tests/setup/globalTeardown.ts',
  testTimeout: 120000,
  verbose: true,
};
