import { expect, test } from '@playwright/test';
import { LogViewerPage } from '../pages/log-viewer.page';

test('following keeps the newest row in view; scrolling up stops it and counts new lines', async ({ page }) => {
  const viewer = new LogViewerPage(page);
  await viewer.openLive();
  await expect(viewer.follow).toHaveAttribute('aria-pressed', 'true');
  // Enough rows to scroll through.
  await expect.poll(async () => viewer.scroller.evaluate((el) => el.scrollHeight > el.clientHeight * 2), {
    timeout: 30_000,
  }).toBeTruthy();
  const atBottom = () => viewer.scroller.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight < 30);
  await expect.poll(atBottom).toBeTruthy();

  // The reader scrolls up: the view stays where it is.
  await viewer.scroller.hover();
  await page.mouse.wheel(0, -600);
  await expect(viewer.follow).toHaveAttribute('aria-pressed', 'false');
  const firstSeq = await viewer.rows.first().getAttribute('data-seq');
  await expect(viewer.newLines).toBeVisible({ timeout: 10_000 });
  await expect(viewer.newLines).toHaveText(/^\d+ new lines ↓$/);
  expect(await viewer.rows.first().getAttribute('data-seq')).toBe(firstSeq);
  expect(await atBottom()).toBeFalsy();

  // The button jumps back and follows again.
  await viewer.newLines.click();
  await expect(viewer.follow).toHaveAttribute('aria-pressed', 'true');
  await expect(viewer.newLines).toBeHidden();
  await expect.poll(atBottom).toBeTruthy();
});

test('pause holds new lines back and loses none of them', async ({ page }) => {
  const viewer = new LogViewerPage(page);
  await viewer.openLive();
  await viewer.chooseProcesses('ticker');
  await expect(viewer.rows.first()).toBeVisible();

  await viewer.pause.click();
  await expect(viewer.pausedBanner).toBeVisible();
  const frozen = await viewer.ticks();
  // The ticker prints ten lines a second: wait for some to be held.
  await expect(viewer.pausedBanner).toContainText(/Paused — [1-9]\d* new lines held back/, { timeout: 10_000 });
  await page.waitForTimeout(1500);
  expect(await viewer.ticks()).toEqual(frozen);

  await viewer.pause.click();
  await expect(viewer.pausedBanner).toBeHidden();
  await expect.poll(async () => Math.max(...(await viewer.ticks()))).toBeGreaterThan(Math.max(...frozen) + 10);
  // Contiguous across the pause: nothing dropped, nothing twice.
  const ticks = await viewer.ticks();
  expect(ticks[0]).toBeLessThanOrEqual(Math.max(...frozen));
  for (let i = 1; i < ticks.length; i++) {
    expect(ticks[i]).toBe(ticks[i - 1] + 1);
  }
});
