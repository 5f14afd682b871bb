#!/usr/bin/env node
import { qstatMain } from './qstat-main.js';
import { runCommand } from './run-command.js';

runCommand('qstat', (argv) => qstatMain(argv));
