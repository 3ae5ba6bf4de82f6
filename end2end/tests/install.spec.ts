import { expect, test } from '@playwright/test';
import { LogViewerPage } from '../pages/log-viewer.page';

// The global setup runs target/release/logdeck copied alone into an empty
// directory (no Leptos.toml, no LEPTOS_SITE_ROOT): the page, its script and
// its styles come from the binary itself.

test('the installed binary alone serves a page that hydrates and streams', async ({ page }) => {
  const bundle: { encoding?: string; type?: string }[] = [];
  page.on('response', (response) => {
    if (response.url().endsWith('/pkg/logdeck.wasm')) {
      const headers = response.headers();
      bundle.push({ encoding: headers['content-encoding'], type: headers['content-type'] });
    }
  });
  const viewer = new LogViewerPage(page);
  await viewer.openLive();
  // Hydrated (the badge turns live only then) and streaming.
  await viewer.expectStreaming();
  // The bundle came compressed, as the browser asked.
  expect(bundle).toEqual([{ encoding: 'br', type: 'application/wasm' }]);
});

test('an unchanged bundle is not sent again', async ({ request }) => {
  const first = await request.get('/pkg/logdeck.js', { headers: { 'Accept-Encoding': 'gzip' } });
  expect(first.status()).toBe(200);
  expect(first.headers()['content-encoding']).toBe('gzip');
  const etag = first.headers()['etag'];
  expect(etag).toBeTruthy();
  const again = await request.get('/pkg/logdeck.js', {
    headers: { 'Accept-Encoding': 'gzip', 'If-None-Match': etag },
  });
  expect(again.status()).toBe(304);
});
