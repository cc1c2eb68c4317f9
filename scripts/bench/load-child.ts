/** The load alone, in its own process: prints rows, seconds and peak RSS as one JSON line. */
import { StagingStore } from '../../legacy/store';

async function main(): Promise<void> {
  const [bundle, storePath] = process.argv.slice(2);
  const store = new StagingStore(storePath);
  const summary = await store.load(bundle, { onIssue: (i) => console.error(i) });
  store.close();
  const rows = Object.values(summary.loaded).reduce((a, b) => a + b, 0);
  console.log(JSON.stringify({ rows, seconds: summary.seconds, maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024) }));
}

void main();
