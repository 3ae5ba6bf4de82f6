import { expect, test, type WebSocketRoute } from '@playwright/test';
import { LogViewerPage } from '../pages/log-viewer.page';

test('a dropped connection reconnects and resumes with no gap and no duplicate', async ({ page }) => {
  const sockets: WebSocketRoute[] = [];
  const urls: string[] = [];
  await page.routeWebSocket(/\/ws\/logs/, (ws) => {
    urls.push(ws.url());
    sockets.push(ws);
    ws.connectToServer();
  });
  const viewer = new LogViewerPage(page);
  await viewer.openLive();
  await viewer.chooseProcesses('ticker');
  await expect.poll(async () => (await viewer.ticks()).length).toBeGreaterThan(5);

  // Cut the connection from the page's side.
  await sockets[sockets.length - 1].close({ code: 1011, reason: 'test cut' });
  await expect(viewer.status).toHaveText(/reconnecting \(\d+\)/, { timeout: 10_000 });
  await expect(viewer.status).toHaveText('live', { timeout: 20_000 });
  expect(urls.length).toBeGreaterThanOrEqual(2);
  expect(urls[urls.length - 1]).toMatch(/[?&]since=\d+/);

  const before = Math.max(...(await viewer.ticks()));
  await expect.poll(async () => Math.max(...(await viewer.ticks())), { timeout: 10_000 }).toBeGreaterThan(before + 10);
  const ticks = await viewer.ticks();
  expect(ticks[0]).toBeLessThanOrEqual(before);
  for (let i = 1; i < ticks.length; i++) {
    expect(ticks[i]).toBe(ticks[i - 1] + 1);
  }
});
