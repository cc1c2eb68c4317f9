#!/usr/bin/env node
// Runs the TypeScript CLI directly, so a checkout and an install behave the same.
require('tsx/cjs');
require('../scripts/cli.ts');
