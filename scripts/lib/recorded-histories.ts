/**
 * Where `npm run record-histories` (scripts/record-histories.ts) keeps the workflow histories that
 * test/replay.test.ts replays: test/fixtures/histories/<package version>/<name>.json, each as the
 * SDK's replayer reads it, and beside them WORKFLOW_IDS_FILE with the workflow id of each.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as workflows from '../../workflows';

const ROOT = join(__dirname, '..', '..');
export const HISTORIES_DIR = join(ROOT, 'test', 'fixtures', 'histories');
/** A replay must run under the recorded workflow id: child workflow ids are made from it. */
export const WORKFLOW_IDS_FILE = 'workflow-ids.json';

export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

export interface RecordedHistory {
  version: string;
  name: string;
  /** Relative to HISTORIES_DIR, e.g. `0.1.0/migration-completed.json`. */
  file: string;
  workflowId: string;
}

/** Every recorded history of every version, in file order. */
export function recordedHistories(): RecordedHistory[] {
  if (!existsSync(HISTORIES_DIR)) return [];
  const versions = readdirSync(HISTORIES_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name);
  return versions.sort().flatMap((version) => {
    const idsFile = join(HISTORIES_DIR, version, WORKFLOW_IDS_FILE);
    const ids = existsSync(idsFile) ? (JSON.parse(readFileSync(idsFile, 'utf8')) as Record<string, string>) : {};
    const names = readdirSync(join(HISTORIES_DIR, version))
      .filter((f) => f.endsWith('.json') && f !== WORKFLOW_IDS_FILE)
      .map((f) => f.slice(0, -'.json'.length))
      .sort();
    return names.map((name) => {
      const file = `${version}/${name}.json`;
      const workflowId = ids[name];
      if (workflowId === undefined) {
        throw new Error(`${file} has no workflow id in ${version}/${WORKFLOW_IDS_FILE}: record it again with npm run record-histories`);
      }
      return { version, name, file, workflowId };
    });
  });
}

/** A recorded history as JSON (what Worker.runReplayHistories takes), and the workflow type it starts. */
export function readRecordedHistory(h: RecordedHistory): { json: unknown; workflowType: string | undefined } {
  type StartedEvent = { workflowExecutionStartedEventAttributes?: { workflowType?: { name?: string } } };
  const json = JSON.parse(readFileSync(join(HISTORIES_DIR, h.file), 'utf8')) as { events?: StartedEvent[] };
  return { json, workflowType: json.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name };
}

/** Workflow types the workers register (workflows/index.ts) that no history of `version` starts. */
export function unrecordedWorkflowTypes(version: string): string[] {
  const recorded = new Set(
    recordedHistories()
      .filter((h) => h.version === version)
      .map((h) => readRecordedHistory(h).workflowType),
  );
  return Object.keys(workflows).filter((type) => !recorded.has(type));
}
