#!/usr/bin/env node
import { qhostMain } from './qhost-main.js';
import { runCommand } from './run-command.js';

runCommand('qhost', (argv) => qhostMain(argv));
