import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ROOT } from '../helpers/farm.js';

/** Debian's chromium (scripts/install-test-deps.sh), never a downloaded browser. */
export const CHROMIUM = '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/install-test-deps.sh (installs the Debian package chromium)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/** Everything a page did that a test about script injection must see: dialogs, errors, console. */
export interface PageWatch {
  dialogs: string[];
  errors: string[];
  console: string[];
}

export function watchPage(page: Page): PageWatch {
  const watch: PageWatch = { dialogs: [], errors: [], console: [] };
  page.on('dialog', (d) => {
    watch.dialogs.push(`${d.type()}: ${d.message()}`);
    void d.dismiss();
  });
  page.on('pageerror', (e) => watch.errors.push(e.message));
  page.on('console', (m) => watch.console.push(`${m.type()}: ${m.text()}`));
  return watch;
}

/** Screenshots go to .tap/screenshots (test artefacts); with QFARM_UPDATE_DOCS=1 also to docs/. */
export async function screenshot(page: Page, name: string): Promise<string> {
  const dir = path.join(ROOT, '.tap', 'screenshots');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.png`);
  await page.screenshot({ path: file });
  if (process.env['QFARM_UPDATE_DOCS'] === '1') fs.copyFileSync(file, path.join(ROOT, 'docs', `dashboard-${name}.png`));
  return file;
}
