#!/usr/bin/env node
import './deferred-ca.js'; // first: puts the user's NODE_EXTRA_CA_CERTS back (see there)
import { holdMain } from './hold-main.js';
import { runCommand } from './run-command.js';

runCommand('qrls', (argv) => holdMain('qrls', argv));
