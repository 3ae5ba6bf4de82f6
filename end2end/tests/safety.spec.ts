import { expect, test } from '@playwright/test';
import { LogViewerPage } from '../pages/log-viewer.page';

test('markup in a log line is shown as text and never runs', async ({ page }) => {
  const viewer = new LogViewerPage(page);
  // Opened on a link with the filter: its history loads, however old.
  await viewer.openLive('/?process=html');
  const row = viewer.rowsOf('html').first();
  await expect(row).toBeVisible({ timeout: 10_000 });
  await expect(row.locator('.message')).toHaveText(
    '<img src=x onerror="window.__xss=1"> <script>window.__xss=2</script> <b>not bold</b>',
  );
  await expect(row.locator('img, script, b')).toHaveCount(0);
  expect(await page.evaluate(() => (window as any).__xss)).toBeUndefined();

  // The details pane shows it as text too.
  await row.click();
  await expect(viewer.details.locator('img, script, b')).toHaveCount(0);
  await expect(page.getByTestId('detail-message')).toContainText('<script>window.__xss=2</script>');
  expect(await page.evaluate(() => (window as any).__xss)).toBeUndefined();
});

test('ANSI colours become styled spans', async ({ page }) => {
  const viewer = new LogViewerPage(page);
  await viewer.openLive('/?process=colors');
  const first = viewer.rowsOf('colors').first();
  await expect(first).toBeVisible({ timeout: 10_000 });
  const message = first.locator('.message');
  await expect(message).toHaveText('red alert then bold green and indexed');
  await expect(message.locator('span.ansi-fg-1')).toHaveText('red alert');
  await expect(message.locator('span.ansi-fg-2.ansi-bold')).toHaveText('bold green');
  await expect(message.locator('span[style*="rgb(255,135,0)"]')).toHaveText('indexed');
  const red = await message.locator('span.ansi-fg-1').evaluate((el) => getComputedStyle(el).color);
  const plain = await first.locator('.time').evaluate((el) => getComputedStyle(el).color);
  expect(red).not.toBe(plain);
  await expect(viewer.rowsOf('colors').nth(1).locator('span.ansi-underline')).toHaveText('underlined');
});
