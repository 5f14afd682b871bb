import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Entry points of the daemons, next to this file in dist/ (cli/admin → ../../master/main.js). */
const distRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const MASTER_ENTRY = path.join(distRoot, 'master', 'main.js');
export const AGENT_ENTRY = path.join(distRoot, 'agent', 'main.js');
