import { expect, test } from '@playwright/test';
import { LogViewerPage } from '../pages/log-viewer.page';

test('regex and case toggles change what the search matches', async ({ page }) => {
  const viewer = new LogViewerPage(page);
  await viewer.openLive();

  await viewer.search.fill('^tick [0-9]*5$');
  await expect(viewer.rows).toHaveCount(0); // a plain substring: nothing contains it
  await viewer.searchRegex.click();
  await expect(viewer.searchRegex).toHaveAttribute('aria-pressed', 'true');
  await expect(viewer.rowsOf('ticker').first()).toBeVisible({ timeout: 10_000 });
  for (const message of await viewer.messages()) {
    expect(message).toMatch(/^tick \d*5$/);
  }

  // Case: "TICK" matches "tick" until case matters.
  await viewer.search.fill('^TICK \\d+$');
  await expect(viewer.rowsOf('ticker').first()).toBeVisible();
  await viewer.searchCase.click();
  await expect(viewer.rows).toHaveCount(0);
  // The browser reads the server's syntax: an inline flag turns case off.
  await viewer.search.fill('(?i)^TICK [[:digit:]]+$');
  await expect(viewer.rowsOf('ticker').first()).toBeVisible();
  // What could take the browser's engine exponential time is refused.
  await viewer.search.fill('^tick (\\d+)+$');
  await expect(viewer.searchError).toContainText('repetition of a repetition');

  // An invalid regex says so instead of failing silently.
  await viewer.search.fill('tick (');
  await expect(viewer.searchError).toContainText('invalid regex');
});

test('highlight-only marks matches without hiding other rows', async ({ page }) => {
  const viewer = new LogViewerPage(page);
  await viewer.openLive();
  await viewer.chooseProcesses('ticker', 'web');
  await viewer.search.fill('tick');
  await expect.poll(async () => new Set(await viewer.rowAttributes('data-process'))).toEqual(new Set(['ticker']));

  await viewer.searchHighlight.click();
  await expect.poll(async () => new Set(await viewer.rowAttributes('data-process')), { timeout: 15_000 }).toEqual(
    new Set(['ticker', 'web']),
  );
  await expect(viewer.rowsOf('ticker').first().locator('mark')).toHaveText('tick');
  await expect(viewer.rowsOf('web').locator('mark')).toHaveCount(0);
});

test('stream toggles hide stdout or stderr', async ({ page }) => {
  const viewer = new LogViewerPage(page);
  await viewer.openLive();
  await viewer.streamToggle('stdout').uncheck();
  await viewer.streamToggle('system').uncheck();
  // flaky and db write errors to stderr every few seconds.
  await expect(viewer.rows.first()).toBeVisible({ timeout: 20_000 });
  expect(new Set(await viewer.rowAttributes('data-stream'))).toEqual(new Set(['stderr']));
  await viewer.streamToggle('stdout').check();
  await expect.poll(async () => (await viewer.rowAttributes('data-stream')).includes('stdout')).toBeTruthy();
});

test('the regex toggle can be turned on before typing, and stays on', async ({ page }) => {
  const viewer = new LogViewerPage(page);
  await viewer.openLive();

  await viewer.searchRegex.click();
  await expect(viewer.searchRegex).toHaveAttribute('aria-pressed', 'true');
  await expect(page).toHaveURL(/[?&]regex=1/);
  await viewer.search.fill('^tick [0-9]*3$');
  await expect(viewer.rowsOf('ticker').first()).toBeVisible({ timeout: 10_000 });
  for (const message of await viewer.messages()) {
    expect(message).toMatch(/^tick \d*3$/);
  }
  // Emptying the box keeps the toggle for the next search.
  await viewer.search.fill('');
  await expect(viewer.searchRegex).toHaveAttribute('aria-pressed', 'true');
});
