import { expect, test } from '@playwright/test';
import { LogViewerPage } from '../pages/log-viewer.page';

test('a firing alert shows a banner and a badge on its process, and its link opens the line', async ({ page }) => {
  const viewer = new LogViewerPage(page);
  await viewer.openLive();
  await expect(page.getByTestId('alert-banner')).toHaveCount(0);
  await viewer.processButton('start', 'alarm').click();
  // The page asks for alerts every few seconds.
  const banner = page.getByTestId('alert-banner');
  await expect(banner).toBeVisible({ timeout: 20_000 });
  await expect(banner).toContainText('disk fire');
  await expect(banner).toContainText('alarm');
  const badge = viewer.processCard('alarm').getByTestId('alert-badge');
  await expect(badge).toHaveText('alert');
  await expect(badge).toHaveAttribute('title', 'disk fire is firing');
  // The link is to the line that fired it.
  const link = banner.getByTestId('alert-link');
  const href = await link.getAttribute('href');
  expect(href).toMatch(/^\/\?seq=\d+$/);
  await link.click();
  await expect(page).toHaveURL(new RegExp(href!.replace('?', '\\?') + '$'));
  const seq = href!.split('=')[1];
  const line = page.locator(`[data-testid="log-row"][data-seq="${seq}"]`);
  await expect(line).toHaveClass(/linked/);
  await expect(line).toContainText('ERROR disk on fire');
});
