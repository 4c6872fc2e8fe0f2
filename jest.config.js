/** Unit tests (test/<layer>) and integration tests (test/integration) in one run, transpiled by swc; types are checked by `tsc --noEmit`. */
module.exports = {
  testEnvironment: 'node',
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2023' } }],
    // jose ships ES modules only: turned into CommonJS for Jest (Node runs it as it is).
    '/node_modules/jose/.+\\.js$': ['@swc/jest', { jsc: { target: 'es2023' } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!jose/)'],
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  testTimeout: 60000,
  maxWorkers: 2,
  globalSetup: '<rootDir>/test/support/global-setup.js',
};
