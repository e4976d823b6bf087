#!/usr/bin/env node
// The `buildstory` command: the CLI's TypeScript (cli/index.ts), run through tsx like the rest of
// the project's entry points.
require('tsx/cjs');
const { main } = require('./index.ts');
main(process.argv.slice(2)).then((code) => process.exit(code));
