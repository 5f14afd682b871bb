import { ApiClient } from './api-client.js';
import { locateMaster } from './master-location.js';

/** The API client of the farm this shell points at (QFARM_MASTER/QFARM_TOKEN or QFARM_HOME). */
export function connect(environment: NodeJS.ProcessEnv = process.env): ApiClient {
  return new ApiClient(locateMaster(environment));
}
