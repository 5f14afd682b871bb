#!/usr/bin/env node
import { interactiveMain } from './interactive/qrsh-main.js';
import { runCommand } from './run-command.js';

runCommand('qlogin', (argv) => interactiveMain('qlogin', argv));
