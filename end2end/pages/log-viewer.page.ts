import { expect, type Locator, type Page } from '@playwright/test';

/** The log viewer at `/`, addressed through its data-testid attributes. */
export class LogViewerPage {
  readonly rows: Locator;
  readonly status: Locator;
  readonly processFilter: Locator;
  readonly levelFilter: Locator;
  readonly search: Locator;
  readonly rowCount: Locator;
  readonly empty: Locator;

  constructor(readonly page: Page) {
    this.rows = page.getByTestId('log-row');
    this.status = page.getByTestId('connection-status');
    this.processFilter = page.getByTestId('process-filter');
    this.levelFilter = page.getByTestId('level-filter');
    this.search = page.getByTestId('search');
    this.rowCount = page.getByTestId('row-count');
    this.empty = page.getByTestId('empty');
  }

  async open(): Promise<void> {
    await this.page.goto('/');
  }

  /** The badge only turns "live" once the wasm has hydrated and connected. */
  async waitUntilLive(): Promise<void> {
    await expect(this.status).toHaveText('live', { timeout: 20_000 });
  }

  async rowAttributes(name: string): Promise<string[]> {
    return this.rows.evaluateAll(
      (rows, attribute) => rows.map((row) => row.getAttribute(attribute) ?? ''),
      name,
    );
  }

  async messages(): Promise<string[]> {
    return this.rows.locator('td.message').allTextContents();
  }
}
