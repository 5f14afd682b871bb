#!/usr/bin/env node
import './deferred-ca.js'; // first: puts the user's NODE_EXTRA_CA_CERTS back (see there)
import { qacctMain } from './qacct-main.js';
import { runCommand } from './run-command.js';

runCommand('qacct', (argv) => qacctMain(argv));
