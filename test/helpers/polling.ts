/** Waiting for what real workers, servers and emulators do in the background. */

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 100 ms until it holds; fails after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(100);
  }
}

/** Like waitFor, for a check that queries a workflow: a throw counts as not yet (it may not have run its first task). */
export async function waitForWorkflow(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // The workflow may not have started its first task yet.
    }
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(100);
  }
}
