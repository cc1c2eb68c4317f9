import { Worker } from '@temporalio/worker';
import { connectTestTemporal, TestTemporal, uniqueId } from './helpers/temporal';

describe('the suite dev server', () => {
  let temporal: TestTemporal;
  beforeAll(async () => {
    temporal = await connectTestTemporal();
  });
  afterAll(async () => temporal?.close());

  test('runs a real workflow whose activity runs on a worker', async () => {
    const taskQueue = uniqueId('smoke');
    const worker = await Worker.create({
      connection: temporal.nativeConnection,
      namespace: temporal.namespace,
      taskQueue,
      workflowsPath: require.resolve('./fixtures/smoke-workflows'),
      activities: { describeAddition: async (a: number, b: number) => `${a} + ${b} = ${a + b}` },
    });
    const result = await worker.runUntil(
      temporal.client.workflow.execute('smokeWorkflow', { taskQueue, workflowId: uniqueId('smoke-wf'), args: [2, 3] }),
    );
    expect(result).toBe('2 + 3 = 5');
  });
});
