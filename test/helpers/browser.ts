/**
 * A real headless browser for tests: Debian's `chromium` (installed by scripts/setup.sh
 * --test), driven with playwright-core over the DevTools protocol. One page per call, with
 * every console error and uncaught page error collected, so a test can assert there were none.
 */
import { execFileSync } from 'node:child_process';
import { chromium, type Browser, type Page } from 'playwright-core';

/** The Chromium executable: $CHROMIUM_PATH, else `chromium` on PATH. */
export function chromiumPath(): string {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  try {
    return execFileSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('no chromium on PATH: run `bash scripts/setup.sh --test` (installs Debian\'s chromium) or set CHROMIUM_PATH');
  }
}

export interface BrowserPage {
  page: Page;
  /** Console messages of type error and uncaught exceptions, in order. */
  errors: string[];
}

/**
 * Runs `fn` with a fresh page of a headless Chromium (viewport `width`×`height`, device scale
 * 1) and closes the browser afterwards, whatever happens.
 */
export async function withPage<T>(fn: (p: BrowserPage) => Promise<T>, opts: { width?: number; height?: number } = {}): Promise<T> {
  // --no-sandbox: the tests may run as root (CI containers), where Chromium's sandbox refuses to start.
  const browser: Browser = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  try {
    const page = await browser.newPage({ viewport: { width: opts.width ?? 1280, height: opts.height ?? 900 }, deviceScaleFactor: 1 });
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`page: ${e.message}`));
    return await fn({ page, errors });
  } finally {
    await browser.close();
  }
}
