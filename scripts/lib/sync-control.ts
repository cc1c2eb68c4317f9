/** Start, pause and resume the live sync through its control workflow (the CLI, the demo, tests and the benchmark share these). */
import { WorkflowIdConflictPolicy, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { pauseSignal, resumeSignal } from '../../workflows/api';
import { syncControlWorkflowId, syncStatusQuery, syncTaskQueue, type SyncRunStatus } from '../../workflows/sync-api';
import type { syncControlWorkflow } from '../../workflows/sync';

/** Idempotent: a sync already started is left as it is. */
export async function startSync(client: Client, taskQueuePrefix: string): Promise<{ workflowId: string; alreadyRunning: boolean }> {
  const workflowId = syncControlWorkflowId(taskQueuePrefix);
  try {
    if ((await client.workflow.getHandle(workflowId).describe()).status.name === 'RUNNING') return { workflowId, alreadyRunning: true };
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
  await client.workflow.start<typeof syncControlWorkflow>('syncControlWorkflow', {
    workflowId,
    taskQueue: syncTaskQueue(taskQueuePrefix),
    args: [{ taskQueuePrefix }],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    staticSummary: 'Live two-way sync: run state (pause / resume with signals)',
  });
  return { workflowId, alreadyRunning: false };
}

export async function signalSync(client: Client, taskQueuePrefix: string, action: 'pause' | 'resume'): Promise<void> {
  await client.workflow.getHandle(syncControlWorkflowId(taskQueuePrefix)).signal(action === 'pause' ? pauseSignal : resumeSignal);
}

export async function syncRunStatus(client: Client, taskQueuePrefix: string): Promise<SyncRunStatus> {
  try {
    return await client.workflow.getHandle(syncControlWorkflowId(taskQueuePrefix)).query(syncStatusQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'not-started';
    throw err;
  }
}
