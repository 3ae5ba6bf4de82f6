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

test('a selected line stays marked on its own entry while new lines move the rows', async ({ page }) => {
  const viewer = new LogViewerPage(page);
  await viewer.openLive();
  await viewer.chooseProcesses('ticker');
  await expect(viewer.follow).toHaveAttribute('aria-pressed', 'true');
  // A row in the middle of those shown, so it stays in view a while.
  await expect.poll(async () => (await viewer.ticks()).length, { timeout: 20_000 }).toBeGreaterThan(6);
  await viewer.rowsOf('ticker').nth(-4).click();
  await expect(viewer.details).toBeVisible();
  // The marked rows, and the entry the details show (the one selected),
  // read at once: rows move ten times a second.
  const marked = () =>
    page.evaluate(() => ({
      rows: [...document.querySelectorAll('[data-testid="log-row"].selected')].map(
        (row) => `${row.getAttribute('data-seq')} ${row.querySelector('.message')?.textContent}`,
      ),
      details: document.querySelector('[data-testid="detail-seq"]')?.textContent,
    }));
  const before = await marked();
  expect(before.rows).toHaveLength(1);
  expect(before.rows[0].split(' ')[0]).toBe(before.details);
  const newest = Math.max(...(await viewer.ticks()));
  // The rows move as new lines arrive: the mark must stay with the
  // selected entry, not with a place in the list.
  await expect.poll(async () => Math.max(...(await viewer.ticks())), { timeout: 10_000 }).toBeGreaterThan(newest + 2);
  const after = await marked();
  expect(after.rows).toHaveLength(1);
  expect(after.rows[0].split(' ')[0]).toBe(after.details);
});

test('a page opened on a busy server keeps the whole replayed tail, newest first on screen, none twice', async ({ page }) => {
  const viewer = new LogViewerPage(page);
  // Hundreds of entries replayed over the WebSocket when the page opens.
  await expect
    .poll(async () => (await viewer.apiJson('/api/logs?limit=600')).length, { timeout: 90_000 })
    .toBe(600);
  await viewer.openLive();
  await expect
    .poll(async () => Number(/of (\d+) lines/.exec((await viewer.rowCount.textContent()) ?? '')?.[1] ?? 0), {
      timeout: 20_000,
    })
    .toBeGreaterThanOrEqual(600);
  // A couple of hundred rows up from the newest, the entries run on one
  // by one.
  await viewer.scroller.hover();
  await page.mouse.wheel(0, -22 * 210);
  await expect(viewer.follow).toHaveAttribute('aria-pressed', 'false');
  const seqs = (await viewer.rowAttributes('data-seq')).map(Number);
  expect(seqs.length).toBeGreaterThan(10);
  for (let i = 1; i < seqs.length; i++) {
    expect(seqs[i]).toBe(seqs[i - 1] + 1);
  }
});
