// Headless Chromium from Debian, driven by playwright-core (never `playwright install`): what every browser
// script shares. Each script prints one JSON object on its last stdout line for pytest; any failure exits 1.
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR ?? 'test-output/screenshots';

/** A fresh browser (its own --user-data-dir, removed afterwards) with one 1280x900 page. */
export async function openBrowser({ width = 1280, height = 900 } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'airelay-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: FLAGS,
    viewport: { width, height },
    locale: 'en-US',
    timezoneId: 'UTC',
  });
  context.setDefaultTimeout(15_000);
  const page = context.pages()[0] ?? await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  const close = async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, page, problems, close };
}

export async function screenshot(target, name) {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  const fullPage = typeof target.goto === 'function' ? { fullPage: true } : {};
  await target.screenshot({ path, animations: 'disabled', ...fullPage });
  return path;
}

/** Runs `scenario(browser)`; prints its result as JSON; exits 1 with the error otherwise. */
export async function run(scenario, options) {
  let browser;
  try {
    browser = await openBrowser(options);
    const result = await scenario(browser);
    console.log(JSON.stringify(result ?? {}));
  } catch (error) {
    console.error(error?.stack ?? String(error));
    if (browser?.problems.length) console.error(browser.problems.join('\n'));
    process.exitCode = 1;
  } finally {
    await browser?.close();
  }
}

export function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}
