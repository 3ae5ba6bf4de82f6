import { expect, test } from '@playwright/test';
import { LogViewerPage } from '../pages/log-viewer.page';

test('the process panel shows each process and its controls change its real state', async ({ page }) => {
  const viewer = new LogViewerPage(page);
  await viewer.openLive();
  const card = viewer.processCard('sleeper');
  await expect(card.getByTestId('process-state')).toHaveText('running', { timeout: 15_000 });
  await expect(card).toContainText(/pid \d+/);
  await expect(card.locator('svg.sparkline')).toBeVisible();
  await expect(viewer.processCard('migrate').getByTestId('process-state')).toHaveText('exited');

  // Stop asks first.
  page.once('dialog', (dialog) => {
    expect(dialog.message()).toContain('Stop sleeper?');
    dialog.accept();
  });
  await viewer.processButton('stop', 'sleeper').click();
  await viewer.waitForState('sleeper', 'stopped');
  await expect(card.getByTestId('process-state')).toHaveText('stopped');
  await expect(viewer.processButton('start', 'sleeper')).toBeEnabled();
  await expect(viewer.processButton('stop', 'sleeper')).toBeDisabled();

  await viewer.processButton('start', 'sleeper').click();
  await viewer.waitForState('sleeper', 'running');
  await expect(card.getByTestId('process-state')).toHaveText('running');

  // Restart gives it a new pid.
  const pid = (await viewer.apiJson('/api/processes/sleeper')).pid;
  await viewer.processButton('restart', 'sleeper').click();
  await expect.poll(async () => (await viewer.apiJson('/api/processes/sleeper')).pid, { timeout: 20_000 }).not.toBe(pid);

  // Declining the confirmation changes nothing.
  page.once('dialog', (dialog) => dialog.dismiss());
  await viewer.processButton('stop', 'sleeper').click();
  await page.waitForTimeout(500);
  expect((await viewer.apiJson('/api/processes/sleeper')).state).toBe('running');
});

test('clicking a process filters the logs to it', async ({ page }) => {
  const viewer = new LogViewerPage(page);
  await viewer.openLive();
  await viewer.processCard('ticker').locator('.card-name').click();
  await expect(page).toHaveURL(/process=ticker/);
  await expect(viewer.rowsOf('ticker').first()).toBeVisible();
  expect(new Set(await viewer.rowAttributes('data-process'))).toEqual(new Set(['ticker']));
  await viewer.processCard('ticker').locator('.card-name').click();
  await expect(page).not.toHaveURL(/process=ticker/);
});

test('a process page shows its logs since its last start, and its controls', async ({ page }) => {
  const viewer = new LogViewerPage(page);
  await viewer.openLive('/processes/json');
  await expect(page.getByTestId('process-header')).toContainText('json');
  await expect(page.getByTestId('process-header').getByTestId('process-state')).toHaveText('running');
  await expect(viewer.rows).toHaveCount(1);
  await expect(viewer.rows.first()).toHaveAttribute('data-process', 'json');
  await expect(viewer.processButton('restart', 'json')).toBeEnabled();
});
