/**
 * `npm run temporal-cli [-- --ensure]`: say which Temporal CLI this machine uses, building it from
 * its Go module when needed (--ensure). The test command runs this first, so tests never start
 * without a dev server binary.
 */
import { describeResolution, resolveTemporalCli, temporalCliVersion } from './lib/temporal-cli';

const build = process.argv.includes('--ensure');
const resolution = resolveTemporalCli({ build, log: (line) => console.error(line) });
console.error(describeResolution(resolution));
if (resolution.executable.type === 'existing-path') {
  console.error(temporalCliVersion(resolution.executable.path));
} else if (build) {
  console.error('No local Temporal CLI and no Go to build one: the SDK will try to download the dev server.');
}
