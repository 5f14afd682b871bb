#!/usr/bin/env node
import { holdMain } from './hold-main.js';
import { runCommand } from './run-command.js';

runCommand('qhold', (argv) => holdMain('qhold', argv));
