#!/usr/bin/env node
import { qacctMain } from './qacct-main.js';
import { runCommand } from './run-command.js';

runCommand('qacct', (argv) => qacctMain(argv));
