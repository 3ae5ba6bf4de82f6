import { expect, type Locator, type Page } from '@playwright/test';

/** The log viewer at `/` (or `/processes/{name}`), through its data-testid attributes. */
export class LogViewerPage {
  readonly rows: Locator;
  readonly markers: Locator;
  readonly status: Locator;
  readonly processPicker: Locator;
  readonly levelFilter: Locator;
  readonly search: Locator;
  readonly searchRegex: Locator;
  readonly searchCase: Locator;
  readonly searchHighlight: Locator;
  readonly searchError: Locator;
  readonly rowCount: Locator;
  readonly empty: Locator;
  readonly follow: Locator;
  readonly pause: Locator;
  readonly pausedBanner: Locator;
  readonly newLines: Locator;
  readonly utc: Locator;
  readonly details: Locator;
  readonly scroller: Locator;
  readonly loadOlder: Locator;
  readonly downloadTxt: Locator;
  readonly themeToggle: Locator;

  constructor(readonly page: Page) {
    this.rows = page.getByTestId('log-row');
    this.markers = page.getByTestId('marker-row');
    this.status = page.getByTestId('connection-status');
    this.processPicker = page.getByTestId('process-filter');
    this.levelFilter = page.getByTestId('level-filter');
    this.search = page.getByTestId('search');
    this.searchRegex = page.getByTestId('search-regex');
    this.searchCase = page.getByTestId('search-case');
    this.searchHighlight = page.getByTestId('search-highlight');
    this.searchError = page.getByTestId('search-error');
    this.rowCount = page.getByTestId('row-count');
    this.empty = page.getByTestId('empty');
    this.follow = page.getByTestId('follow');
    this.pause = page.getByTestId('pause');
    this.pausedBanner = page.getByTestId('paused-banner');
    this.newLines = page.getByTestId('new-lines');
    this.utc = page.getByTestId('utc');
    this.details = page.getByTestId('log-details');
    this.scroller = page.getByTestId('log-table');
    this.loadOlder = page.getByTestId('load-older');
    this.downloadTxt = page.getByTestId('download-txt');
    this.themeToggle = page.getByTestId('theme-toggle');
  }

  async open(path = '/'): Promise<void> {
    await this.page.goto(path);
  }

  /** The badge only turns "live" once the wasm has hydrated and connected. */
  async waitUntilLive(): Promise<void> {
    await expect(this.status).toHaveText('live', { timeout: 20_000 });
  }

  async openLive(path = '/'): Promise<void> {
    await this.open(path);
    await this.waitUntilLive();
  }

  processOption(name: string): Locator {
    return this.page.getByTestId(`process-option-${name}`);
  }

  streamToggle(stream: 'stdout' | 'stderr' | 'system'): Locator {
    return this.page.getByTestId(`stream-${stream}`);
  }

  processCard(name: string): Locator {
    return this.page.getByTestId(`process-card-${name}`);
  }

  processButton(action: 'start' | 'stop' | 'restart', name: string): Locator {
    return this.page.getByTestId(`process-${action}-${name}`);
  }

  /** Shows only `names` through the process picker. */
  async chooseProcesses(...names: string[]): Promise<void> {
    await this.processPicker.click();
    for (const name of names) {
      await this.processOption(name).check();
    }
    await this.processPicker.click();
  }

  rowsOf(process: string): Locator {
    return this.page.locator(`[data-testid="log-row"][data-process="${process}"]`);
  }

  // The reads below take the rows in one step inside the page. A locator's
  // `evaluateAll` / `allTextContents` finds the rows first and reads them in
  // a second call: rows reused or dropped by a frame between the two would
  // mix two frames' rows in one reading.

  /** Waits for rows, then for newer ones: the page is streaming. */
  async expectStreaming(): Promise<void> {
    await expect(this.rows.first()).toBeVisible({ timeout: 10_000 });
    const lastSeq = async () => Math.max(...(await this.rowAttributes('data-seq')).map(Number));
    const before = await lastSeq();
    await expect.poll(lastSeq, { timeout: 10_000 }).toBeGreaterThan(before);
  }

  async rowAttributes(name: string): Promise<string[]> {
    return this.page.evaluate(
      (attribute) =>
        Array.from(document.querySelectorAll('[data-testid="log-row"]'), (row) => row.getAttribute(attribute) ?? ''),
      name,
    );
  }

  /** The message texts of the rendered rows (of one process if given), in page order. */
  async messages(process?: string): Promise<string[]> {
    const selector = process ? `[data-testid="log-row"][data-process="${process}"]` : '[data-testid="log-row"]';
    return this.page.evaluate(
      (rows) => Array.from(document.querySelectorAll(`${rows} .message`), (message) => message.textContent ?? ''),
      selector,
    );
  }

  /** The numbers of the rendered `tick N` rows, in page order. */
  async ticks(): Promise<number[]> {
    const texts = await this.messages('ticker');
    return texts.map((t) => Number(/tick (\d+)/.exec(t)?.[1] ?? NaN));
  }

  async scrollTo(position: 'top' | 'bottom' | number): Promise<void> {
    await this.scroller.evaluate((el, pos) => {
      el.scrollTop = pos === 'top' ? 0 : pos === 'bottom' ? el.scrollHeight : (pos as number);
    }, position);
  }

  async apiJson(path: string): Promise<any> {
    const response = await this.page.request.get(path);
    expect(response.ok()).toBeTruthy();
    return response.json();
  }

  /** Waits for a process to reach `state` according to the API. */
  async waitForState(name: string, state: string): Promise<void> {
    await expect
      .poll(async () => (await this.apiJson(`/api/processes/${name}`)).state, { timeout: 20_000 })
      .toBe(state);
  }
}
