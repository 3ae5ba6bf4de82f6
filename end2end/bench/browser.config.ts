import { defineConfig } from '@playwright/test';
import base from '../playwright.config';

// The browser scenario of the benchmark (issue #7): the viewer in Chromium
// while Logdeck streams 10 000 lines/s into it. Not part of `make e2e`
// (whose testDir is ./tests); `make bench-browser` runs it through
// scripts/bench-browser.sh. The spec starts its own server, so there is no
// global setup here.
const seconds = Number(process.env.BENCH_BROWSER_SECONDS ?? 30) + Number(process.env.BENCH_BROWSER_HIGH_SECONDS ?? 20);

export default defineConfig({
  // One worker, no retries, `.only` refused: as in the e2e tests.
  ...base,
  globalSetup: undefined,
  testDir: '.',
  testMatch: 'browser.spec.ts',
  outputDir: '../test-results/bench',
  // The streams, the waits for the page to catch up, the timed filters and
  // the profiles; every wait inside has its own, shorter deadline.
  timeout: (seconds + 300) * 1000,
  use: {
    viewport: { width: 1280, height: 800 },
    trace: 'off',
    video: 'off',
    screenshot: 'off',
    launchOptions: {
      ...base.use?.launchOptions,
      // The same Chromium and flags as the e2e tests, plus exact (not
      // bucketed) `performance.memory` figures.
      args: [...(base.use?.launchOptions?.args ?? []), '--enable-precise-memory-info'],
    },
  },
});
