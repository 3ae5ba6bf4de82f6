import { expect, test } from '@playwright/test';
import { LogViewerPage } from '../pages/log-viewer.page';

test('filters live in the URL: a link reopens the view, back and forward move between views', async ({ page }) => {
  const viewer = new LogViewerPage(page);
  await viewer.openLive();
  await viewer.chooseProcesses('ticker');
  await viewer.levelFilter.selectOption('INFO');
  await viewer.search.fill('tick \\d+5$');
  await viewer.searchRegex.click();
  await expect(page).toHaveURL(/process=ticker/);
  const url = new URL(page.url());
  expect(url.searchParams.get('level')).toBe('INFO');
  expect(url.searchParams.get('q')).toBe('tick \\d+5$');
  expect(url.searchParams.get('regex')).toBe('1');

  // A fresh page on that link shows the same view, rendered by the server.
  const other = new LogViewerPage(await page.context().newPage());
  await other.openLive(url.pathname + url.search);
  await expect(other.processPicker).toHaveText('ticker');
  await expect(other.levelFilter).toHaveValue('INFO');
  await expect(other.search).toHaveValue('tick \\d+5$');
  await expect(other.searchRegex).toHaveAttribute('aria-pressed', 'true');
  await expect(other.rowsOf('ticker').first()).toBeVisible();
  expect(new Set(await other.rowAttributes('data-process'))).toEqual(new Set(['ticker']));
  await other.page.close();

  // Back undoes the last change (the regex toggle), forward redoes it.
  await page.goBack();
  await expect(viewer.searchRegex).toHaveAttribute('aria-pressed', 'false');
  await page.goForward();
  await expect(viewer.searchRegex).toHaveAttribute('aria-pressed', 'true');
});

test('typing filters the rows at once and the URL catches up when typing pauses', async ({ page }) => {
  const viewer = new LogViewerPage(page);
  await viewer.openLive();
  await viewer.chooseProcesses('ticker');
  await expect(viewer.rowsOf('ticker').first()).toBeVisible();
  // A line that is kept, whatever else the server printed before.
  const typed = `tick ${Math.max(...(await viewer.ticks()))}`;
  // Keys as fast as they come: the URL is written after the rows, once
  // the keys stop, with the last text.
  await viewer.search.pressSequentially(typed, { delay: 0 });
  await expect(viewer.search).toHaveValue(typed);
  await expect.poll(() => new URL(page.url()).searchParams.get('q')).toBe(typed);
  await expect(viewer.rowsOf('ticker').first()).toBeVisible();
  for (const text of await viewer.messages()) {
    expect(text).toContain(typed);
  }
  // Typing replaced the history entry the process choice made: back goes
  // to the view before that, not to a half-typed search.
  await page.goBack();
  await expect(viewer.processPicker).not.toHaveText('ticker');
  expect(new URL(page.url()).searchParams.get('q')).toBeNull();
});
