#!/usr/bin/env node
import { qmodMain } from './qmod-main.js';
import { runCommand } from './run-command.js';

runCommand('qmod', (argv) => qmodMain(argv));
