#!/usr/bin/env node
import { qsubMain } from './qsub-main.js';
import { runCommand } from './run-command.js';

runCommand('qsub', (argv) => qsubMain(argv));
