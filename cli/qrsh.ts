#!/usr/bin/env node
import { interactiveMain } from './interactive/qrsh-main.js';
import { runCommand } from './run-command.js';

runCommand('qrsh', (argv) => interactiveMain('qrsh', argv));
