#!/usr/bin/env node
import { qdelMain } from './qdel-main.js';
import { runCommand } from './run-command.js';

runCommand('qdel', (argv) => qdelMain(argv));
