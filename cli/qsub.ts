#!/usr/bin/env node
import './deferred-ca.js'; // first: puts the user's NODE_EXTRA_CA_CERTS back (see there)
import { qsubMain } from './qsub-main.js';
import { runCommand } from './run-command.js';

runCommand('qsub', (argv) => qsubMain(argv));
