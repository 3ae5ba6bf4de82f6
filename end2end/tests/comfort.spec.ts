import { expect, test } from '@playwright/test';
import { LogViewerPage } from '../pages/log-viewer.page';

test('a row opens its details: fields, pretty JSON and a copy button', async ({ page, context }) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  const viewer = new LogViewerPage(page);
  await viewer.openLive('/?process=json');
  await viewer.rowsOf('json').first().click();
  await expect(viewer.details).toBeVisible();
  await expect(page.getByTestId('detail-seq')).toHaveText(/^\d+$/);
  await expect(page.getByTestId('detail-pid')).toHaveText(/^\d+$/);
  await expect(page.getByTestId('detail-stream')).toHaveText('stdout');
  await expect(page.getByTestId('detail-json')).toContainText('"name": "ada"');
  await page.getByTestId('copy-line').click();
  await expect(page.getByTestId('copy-line')).toHaveText('copied');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toContain('"msg":"structured entry"');
  await page.keyboard.press('Escape');
  await expect(viewer.details).toBeHidden();
});

test('times are local by default, UTC on request, relative on hover', async ({ page }) => {
  await page.emulateMedia({ colorScheme: 'dark' });
  const viewer = new LogViewerPage(page);
  await viewer.openLive('/?process=json');
  const row = viewer.rowsOf('json').first();
  const entry = (await viewer.apiJson('/api/logs?process=json&limit=1'))[0];
  const utcTime = (entry.timestamp as string).slice(11, 23);
  await viewer.utc.click();
  await expect(row.locator('.time')).toHaveText(utcTime);
  await row.locator('.time').hover();
  await expect(row.locator('.time')).toHaveAttribute('title', /ago|just now/);
});

test('keyboard: / focuses search, Esc clears it, Space pauses, End follows', async ({ page }) => {
  const viewer = new LogViewerPage(page);
  await viewer.openLive();
  await page.keyboard.press('/');
  await expect(viewer.search).toBeFocused();
  await page.keyboard.type('tick');
  await expect(viewer.search).toHaveValue('tick');
  await page.keyboard.press('Escape');
  await expect(viewer.search).toHaveValue('');
  await page.locator('body').click({ position: { x: 5, y: 5 } });
  await page.keyboard.press(' ');
  await expect(viewer.pausedBanner).toBeVisible();
  await page.keyboard.press(' ');
  await expect(viewer.pausedBanner).toBeHidden();
  await viewer.follow.click();
  await expect(viewer.follow).toHaveAttribute('aria-pressed', 'false');
  await page.keyboard.press('End');
  await expect(viewer.follow).toHaveAttribute('aria-pressed', 'true');
});

test('the theme follows the system until chosen, and the choice sticks', async ({ page }) => {
  const viewer = new LogViewerPage(page);
  await viewer.openLive();
  const theme = () => page.evaluate(() => document.documentElement.getAttribute('data-theme'));
  await expect(viewer.themeToggle).toHaveText('theme: auto');
  expect(await theme()).toBeNull();
  await viewer.themeToggle.click();
  await expect(viewer.themeToggle).toHaveText('theme: light');
  await viewer.themeToggle.click();
  await expect(viewer.themeToggle).toHaveText('theme: dark');
  expect(await theme()).toBe('dark');
  const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  expect(background).toBe('rgb(17, 19, 23)');
  await page.reload();
  await viewer.waitUntilLive();
  await expect(viewer.themeToggle).toHaveText('theme: dark');
  await viewer.themeToggle.click();
  await expect(viewer.themeToggle).toHaveText('theme: auto');
});

test('usable at phone width', async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 800 });
  const viewer = new LogViewerPage(page);
  await viewer.openLive();
  await expect(viewer.rows.first()).toBeVisible({ timeout: 10_000 });
  await expect(viewer.search).toBeVisible();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(1);
});
