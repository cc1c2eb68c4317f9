/** Tests show worker errors only: expected retries would bury the output. */
import { installQuietWorkerLogging } from '../workers/logging';

installQuietWorkerLogging('ERROR');
