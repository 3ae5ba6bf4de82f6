import { expect, test } from '@playwright/test';
import { LogViewerPage } from '../pages/log-viewer.page';

const DEMO_PROCESSES = ['web', 'worker', 'db', 'api', 'migrate', 'flaky'];

test('the server renders the viewer before any script runs', async ({ request }) => {
  const response = await request.get('/');
  expect(response.ok()).toBeTruthy();
  const html = await response.text();
  expect(html).toContain('data-testid="log-table"');
  expect(html).toContain('data-testid="connection-status"');
  expect(html).toContain('connecting');
  expect(html).toContain('/pkg/logdeck.js');
});

test('rows from the demo processes appear live', async ({ page }) => {
  const viewer = new LogViewerPage(page);
  await viewer.openLive();

  await expect(viewer.rows.first()).toBeVisible({ timeout: 10_000 });
  const processes = await viewer.rowAttributes('data-process');
  expect(processes.some((name) => DEMO_PROCESSES.includes(name))).toBeTruthy();

  // More rows keep arriving while the page is open.
  const lastSeq = async () => Math.max(...(await viewer.rowAttributes('data-seq')).map(Number));
  const before = await lastSeq();
  await expect.poll(lastSeq, { timeout: 10_000 }).toBeGreaterThan(before);

  // Every row shows time, level, process and message.
  const first = viewer.rows.first();
  await expect(first.locator('.time')).toHaveText(/^\d\d:\d\d:\d\d\.\d{3}$/);
  await expect(first.locator('.level')).toHaveText(/^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$/);
});

test('the page opens its live socket before the viewer loads, and the viewer keeps it', async ({ page }) => {
  const sockets: string[] = [];
  page.on('websocket', (socket) => {
    if (new URL(socket.url()).pathname === '/ws/logs') sockets.push(socket.url());
  });
  const viewer = new LogViewerPage(page);
  await viewer.openLive();
  await viewer.expectStreaming();
  // One socket: the one the head's script opened, taken over by the viewer.
  expect(sockets).toHaveLength(1);
  expect(sockets[0]).toContain('/ws/logs?format=json&batch=1&tail=');

  // A page with filters loads its history first, then opens its one socket.
  sockets.length = 0;
  await viewer.openLive('/?level=ERROR');
  await expect.poll(() => sockets.length, { timeout: 10_000 }).toBe(1);
  await page.waitForTimeout(500);
  expect(sockets).toHaveLength(1);
});

test('the level filter shows only entries at or above the chosen level', async ({ page }) => {
  const viewer = new LogViewerPage(page);
  await viewer.openLive();

  await viewer.levelFilter.selectOption('ERROR');
  // The demo's worker, db and flaky print errors every few seconds.
  await expect(viewer.rows.first()).toBeVisible({ timeout: 20_000 });
  const levels = await viewer.rowAttributes('data-level');
  expect(levels.length).toBeGreaterThan(0);
  for (const level of levels) {
    expect(['ERROR', 'CRITICAL']).toContain(level);
  }

  // Back to all levels: the INFO rows kept in the buffer reappear.
  await viewer.levelFilter.selectOption('');
  await expect.poll(async () => (await viewer.rowAttributes('data-level')).includes('INFO')).toBeTruthy();
});

test('the process filter and the search box narrow the rows', async ({ page }) => {
  const viewer = new LogViewerPage(page);
  await viewer.openLive();

  await viewer.chooseProcesses('db');
  await expect(viewer.rows.first()).toBeVisible({ timeout: 15_000 });
  expect(new Set(await viewer.rowAttributes('data-process'))).toEqual(new Set(['db']));
  await expect(viewer.processPicker).toHaveText('db');

  await viewer.processPicker.click();
  await page.getByTestId('process-all').click();
  await viewer.search.fill('GET /api/items');
  await expect(viewer.rows.first()).toBeVisible({ timeout: 15_000 });
  for (const message of await viewer.messages()) {
    expect(message).toContain('GET /api/items');
  }

  await viewer.search.fill('no line contains this text 7f3a');
  await expect(viewer.rows).toHaveCount(0);
  await expect(viewer.empty).toHaveText('No lines match the filters.');
});
