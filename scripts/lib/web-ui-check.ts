/**
 * Opens a migration's page in the Temporal Web UI with Debian's Chromium (playwright-core; no
 * browser download) and confirms the progress table (the workflow's current details) is shown.
 * Saves a screenshot for the README.
 */
import { existsSync } from 'node:fs';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export interface WebUiCheck {
  url: string;
  found: boolean;
  screenshot: string;
}

export async function checkProgressInWebUi(opts: {
  uiUrl: string;
  namespace: string;
  workflowId: string;
  /** Text that must appear on the page: a row label of the progress table. */
  expectText: string;
  screenshot: string;
  timeoutMs?: number;
}): Promise<WebUiCheck> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM_PATH}: install Debian's chromium package (apt-get install chromium) or set CHROMIUM_PATH`,
    );
  }
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const url = `${opts.uiUrl}/namespaces/${encodeURIComponent(opts.namespace)}/workflows/${encodeURIComponent(opts.workflowId)}`;
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
    await page.goto(url, { waitUntil: 'networkidle', timeout: opts.timeoutMs ?? 30_000 });
    // The UI shows a workflow's current details (our progress table) on its User Metadata tab.
    const metadataTab = page.getByText('User Metadata', { exact: true }).first();
    if (await metadataTab.isVisible().catch(() => false)) await metadataTab.click();
    // The Markdown is rendered in a sandboxed frame: look in every frame until the text shows.
    const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
    let found = false;
    while (!found && Date.now() < deadline) {
      for (const frame of page.frames()) {
        if ((await frame.content().catch(() => '')).includes(opts.expectText)) found = true;
      }
      if (!found) await page.waitForTimeout(500);
    }
    await page.screenshot({ path: opts.screenshot, fullPage: true });
    return { url, found, screenshot: opts.screenshot };
  } finally {
    await browser.close();
  }
}
