/** Tests show worker warnings and errors only, like the CLI. */
import { installQuietWorkerLogging } from '../workers/logging';

installQuietWorkerLogging();
