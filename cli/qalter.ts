#!/usr/bin/env node
import { qalterMain } from './qalter-main.js';
import { runCommand } from './run-command.js';

runCommand('qalter', (argv) => qalterMain(argv));
