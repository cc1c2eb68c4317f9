/**
 * `npm run bench -- <name>`: benchmarks. Each writes its figures to bench/results/<name>.json and
 * prints a Markdown snippet for docs/benchmarks.md. Figures are single runs on a shared machine:
 * compare ratios measured in the same run, not absolute numbers across runs. Flags after the name
 * go to the benchmark (`npm run bench -- scale --messages 20000 --group-messages 6000`).
 */
const BENCHMARKS: Record<string, () => Promise<unknown>> = {
  load: () => import('./bench/load'),
  import: () => import('./bench/import'),
  sync: () => import('./bench/sync'),
  scale: () => import('./bench/scale'),
};

const name = process.argv[2];
if (!name || !BENCHMARKS[name]) {
  console.error(`usage: npm run bench -- <${Object.keys(BENCHMARKS).join('|')}>`);
  process.exit(2);
}
BENCHMARKS[name]().catch((err) => {
  console.error(err);
  process.exit(1);
});
