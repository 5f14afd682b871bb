#!/usr/bin/env node
import './deferred-ca.js'; // first: puts the user's NODE_EXTRA_CA_CERTS back (see there)
import { qdelMain } from './qdel-main.js';
import { runCommand } from './run-command.js';

runCommand('qdel', (argv) => qdelMain(argv));
