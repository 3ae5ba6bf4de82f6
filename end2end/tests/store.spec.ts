import { expect, test } from '@playwright/test';
import { LogViewerPage } from '../pages/log-viewer.page';

test('a time range shows the stored lines, and the histogram above them', async ({ page }) => {
  const viewer = new LogViewerPage(page);
  await viewer.openLive('/?process=colors');
  await expect(viewer.rows).toHaveCount(3);
  await page.getByTestId('range').selectOption('15m');
  await expect(page).toHaveURL(/range=15m/);
  await expect(page).toHaveURL(/process=colors/);
  // The rows are the store's answer now: the same three lines.
  await expect(viewer.rows).toHaveCount(3);
  await expect(viewer.rows.last()).toContainText('third line with no colour');
  // The histogram counts them, by level, through the filter.
  const histogram = page.getByTestId('histogram');
  await expect(histogram.locator('rect.bar').first()).toBeAttached();
  await expect(page.getByTestId('histogram-caption')).toContainText('3 lines');
  // Back to live.
  await page.getByTestId('range').selectOption('live');
  await expect(page).not.toHaveURL(/range=/);
  await expect(viewer.rows).toHaveCount(3);
});

test('dragging over the histogram zooms to that time', async ({ page }) => {
  const viewer = new LogViewerPage(page);
  await viewer.openLive('/?range=1h');
  const chart = page.getByTestId('histogram').locator('svg');
  await expect(chart.locator('rect.bar').first()).toBeAttached();
  const box = await chart.boundingBox();
  if (!box) throw new Error('the histogram has no box');
  await page.mouse.move(box.x + box.width * 0.2, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 5 });
  await page.mouse.move(box.x + box.width * 0.99, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  await expect(page).toHaveURL(/from=.*&to=/);
  const url = new URL(page.url());
  const from = Date.parse(url.searchParams.get('from') ?? '');
  const to = Date.parse(url.searchParams.get('to') ?? '');
  expect(to - from).toBeGreaterThan(0);
  expect(to - from).toBeLessThan(60 * 60 * 1000);
  await expect(page.getByTestId('range')).toHaveValue('custom');
});

test('a link to a line opens it in its context, every process around it', async ({ page }) => {
  const viewer = new LogViewerPage(page);
  await viewer.openLive('/?process=colors&q=third');
  await expect(viewer.rows).toHaveCount(1);
  const seq = await viewer.rows.first().getAttribute('data-seq');
  expect(Number(seq)).toBeGreaterThan(0);
  // Each row links to itself; the details offer "show in context".
  await expect(viewer.rows.first().getByTestId('row-link')).toHaveAttribute('href', `/?seq=${seq}`);
  await viewer.rows.first().click();
  const context = page.getByTestId('show-in-context');
  await expect(context).toHaveAttribute('href', `/?seq=${seq}&q=third&hl=1`);
  await context.click();
  await expect(page).toHaveURL(new RegExp(`seq=${seq}`));
  const linked = page.locator(`[data-testid="log-row"][data-seq="${seq}"]`);
  await expect(linked).toHaveClass(/linked/);
  await expect(linked).toBeInViewport();
  await expect(page.getByTestId('detail-seq')).toHaveText(String(seq));
  // The search is marked, not hiding: lines of other processes surround it.
  await expect(linked.locator('mark')).toHaveText('third');
  await expect
    .poll(async () => new Set(await viewer.rows.evaluateAll((rows) => rows.map((r) => r.getAttribute('data-process')))).size)
    .toBeGreaterThan(1);
});

test('a typed time range shows the lines stored in it, and says what is wrong with a bad one', async ({ page }) => {
  const viewer = new LogViewerPage(page);
  await viewer.openLive('/?process=colors');
  await expect(viewer.rows).toHaveCount(3);
  await page.getByTestId('utc').click();
  await page.getByTestId('range').selectOption('custom');
  const from = page.getByTestId('range-from');
  const to = page.getByTestId('range-to');
  // The fields start at the last hour.
  await expect(from).toHaveValue(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
  await expect(page).not.toHaveURL(/from=/);
  // A range before any line: nothing.
  await from.fill('2000-01-01T00:00');
  await to.fill('2000-01-02T00:00');
  await page.getByTestId('range-apply').click();
  await expect(page).toHaveURL(/from=2000-01-01T00(%3A|:)00(%3A|:)00/);
  await expect(viewer.rows).toHaveCount(0);
  await expect(page.getByTestId('range')).toHaveValue('custom');
  // Up to an hour from now (UTC, as the toggle says): the three lines.
  // (Minutes only: the browser drops a time's ":00" seconds, which
  // Playwright's fill reads as a changed value.)
  const later = new Date(Date.now() + 3600_000).toISOString().slice(0, 16);
  await to.fill(later);
  await page.getByTestId('range-apply').click();
  await expect(page).toHaveURL(/to=\d{4}/);
  await expect(viewer.rows).toHaveCount(3);
  // The start after the end is refused, and the view stays.
  const url = page.url();
  await from.fill(later);
  await to.fill('2000-01-02T00:00');
  await page.getByTestId('range-apply').click();
  await expect(page.getByTestId('range-error')).toHaveText('the start must be before the end');
  expect(page.url()).toBe(url);
  await expect(viewer.rows).toHaveCount(3);
});
