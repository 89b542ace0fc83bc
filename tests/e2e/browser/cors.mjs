// Opens PAGE_URL (a page on a second local origin) whose script calls the API cross-origin, and prints what its
// fetches got: {usage: {status, by} | {rejected}, stream: {status, done} | {rejected}}.
import { run } from './lib.mjs';

await run(async ({ page }) => {
  await page.goto(process.env.PAGE_URL);
  await page.waitForFunction(() => window.__results !== undefined);
  return page.evaluate(() => window.__results);
});
