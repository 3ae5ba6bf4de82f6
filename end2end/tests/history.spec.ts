import { expect, test } from '@playwright/test';
import * as fs from 'node:fs';
import { LogViewerPage } from '../pages/log-viewer.page';

test('the download holds exactly the filtered lines', async ({ page }) => {
  const viewer = new LogViewerPage(page);
  await viewer.openLive('/?process=colors');
  await viewer.search.fill('colour');
  await expect(viewer.rows).toHaveCount(1);

  const [download] = await Promise.all([page.waitForEvent('download'), viewer.downloadTxt.click()]);
  expect(download.suggestedFilename()).toMatch(/^logdeck-\d{8}-\d{6}\.txt$/);
  const text = fs.readFileSync(await download.path(), 'utf8');
  const lines = text.split('\n').filter((l) => l.length > 0);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/ - INFO - colors: third line with no colour$/);
});

test('load older pages back through the server history', async ({ page }) => {
  const viewer = new LogViewerPage(page);
  await viewer.openLive();
  await viewer.chooseProcesses('ticker');
  await expect(viewer.rows.first()).toBeVisible();
  // Forget what is shown, then fetch it again from the server.
  await page.getByTestId('clear').click();
  await viewer.follow.click();
  await expect(viewer.follow).toHaveAttribute('aria-pressed', 'false');
  const kept = async () => Number(/of (\d+) lines/.exec((await viewer.rowCount.textContent()) ?? '')?.[1]);
  await expect.poll(kept).toBeGreaterThan(0);
  const before = await kept();
  await viewer.loadOlder.click();
  await expect.poll(kept, { timeout: 10_000 }).toBeGreaterThan(before + 100);
  await viewer.scrollTo('top');
  const ticks = await viewer.ticks();
  expect(ticks.length).toBeGreaterThan(5);
  for (let i = 1; i < ticks.length; i++) {
    expect(ticks[i]).toBe(ticks[i - 1] + 1);
  }
});

test('fifty thousand rows keep the page small: only visible rows are rendered', async ({ page }) => {
  const viewer = new LogViewerPage(page);
  await viewer.openLive();
  await viewer.chooseProcesses('burst');
  const started = await page.request.post('/api/processes/burst/start');
  expect(started.status()).toBe(202);
  await expect(viewer.rowCount).toHaveText(/^50000 of \d+ lines$/, { timeout: 60_000 });
  const rendered = await viewer.rows.count();
  expect(rendered).toBeGreaterThan(10);
  expect(rendered).toBeLessThan(150);
  await expect(viewer.rows.last()).toContainText('burst line 50000');

  // Scrolled to the middle, the middle rows are the ones in the page.
  await viewer.follow.click();
  await viewer.scroller.evaluate((el) => (el.scrollTop = el.scrollHeight / 2));
  await expect
    .poll(async () => {
      const texts = await viewer.messages();
      return texts.some((t) => /burst line 2\d{4}$/.test(t));
    })
    .toBeTruthy();
  expect(await viewer.rows.count()).toBeLessThan(150);
});
