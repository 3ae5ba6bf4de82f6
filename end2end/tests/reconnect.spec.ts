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

test('the live page opens its socket from the head and the viewer takes it over: one socket, the tail in order', async ({ page }) => {
  // The head opens it: with the page's code held back, the socket opens.
  const bare = await page.context().newPage();
  await bare.route(/\.wasm$/, (route) => route.abort());
  const opened = bare.waitForEvent('websocket', { timeout: 10_000 });
  await bare.goto('/');
  expect((await opened).url()).toMatch(/\/ws\/logs\?format=json&batch=1&tail=\d+$/);
  await bare.close();

  const urls: string[] = [];
  page.on('websocket', (ws) => {
    if (/\/ws\/logs/.test(ws.url())) urls.push(ws.url());
  });
  const viewer = new LogViewerPage(page);
  await viewer.openLive();
  await viewer.chooseProcesses('ticker');
  await expect.poll(async () => (await viewer.ticks()).length).toBeGreaterThan(5);
  // The head's socket, taken over: the viewer opened none of its own.
  expect(urls).toHaveLength(1);
  expect(urls[0]).toMatch(/\/ws\/logs\?format=json&batch=1&tail=\d+$/);
  expect(await page.evaluate(() => '__logdeckEarly' in window)).toBe(false);
  const ticks = await viewer.ticks();
  for (let i = 1; i < ticks.length; i++) {
    expect(ticks[i]).toBe(ticks[i - 1] + 1);
  }
  // A page with filters loads their history first and opens its own.
  const filtered: string[] = [];
  const other = await page.context().newPage();
  other.on('websocket', (ws) => {
    if (/\/ws\/logs/.test(ws.url())) filtered.push(ws.url());
  });
  const second = new LogViewerPage(other);
  await second.openLive('/?process=ticker');
  await expect.poll(async () => (await second.ticks()).length).toBeGreaterThan(5);
  expect(filtered).toHaveLength(1);
  expect(filtered[0]).toMatch(/[?&]since=\d+/);
  await other.close();
});
