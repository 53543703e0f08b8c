// Loads the silo's dashboard in headless Chromium and reports what the page shows, as one JSON object on stdout, for
// DashboardTests to judge: console errors, failed requests, the sweeps listed, each sweep page's trials and charts.
// Usage: node check.mjs --chromium PATH --url http://127.0.0.1:PORT/ --out DIR --sweep ID [--sweep ID ...] [--select TRIAL]
//        [--live TRIAL]: after the last sweep's page is checked, print the line "release", for the caller to let that
//        sweep's trial TRIAL finish, and report whether the page, without a reload, comes to show it completed.
// A page that never finishes a refresh is noted in load_errors and the rest still checked; it exits non-zero only when
// it cannot do its job at all (no browser, say). Judging is the test's.
import puppeteer from 'puppeteer-core';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    chromium: { type: 'string' },
    url: { type: 'string' },
    out: { type: 'string' },
    sweep: { type: 'string', multiple: true, default: [] },
    select: { type: 'string' },
    live: { type: 'string' },
  },
});
for (const name of ['chromium', 'url', 'out']) {
  if (!args[name]) { console.error(`check.mjs: --${name} is required`); process.exit(2); }
}

const report = { console_errors: [], page_errors: [], failed_requests: [], load_errors: [], origins: [], list: null, sweeps: [] };
const origins = new Set();
const browser = await puppeteer.launch({
  executablePath: args.chromium,
  headless: true,
  // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});

try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1440, height: 1000 });
  page.on('console', (message) => {
    if (message.type() === 'error') report.console_errors.push(`${message.text()} (${message.location()?.url ?? ''})`);
  });
  page.on('pageerror', (error) => report.page_errors.push(String(error?.message ?? error)));
  // Where the page fetched anything from (data: URLs aside): the silo alone, nothing from a CDN.
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.protocol !== 'data:') origins.add(url.origin);
  });
  page.on('requestfailed', (request) => report.failed_requests.push(`${request.url()}: ${request.failure()?.errorText}`));
  page.on('response', (response) => {
    if (response.status() >= 400) report.failed_requests.push(`${response.url()}: HTTP ${response.status()}`);
  });

  // The page counts its completed refreshes on <body data-refreshes>.
  const refreshed = (count) => page.waitForFunction((n) => Number(document.body.dataset.refreshes || 0) >= n, { timeout: 20000 }, count);

  // Loads a page and waits for its first refresh; false, with the reason in load_errors, when it never comes.
  const load = async (address) => {
    try {
      await page.goto(new URL(address, args.url).href, { waitUntil: 'load' });
      await refreshed(1);
      return true;
    } catch (error) {
      report.load_errors.push(`${address}: ${error.message}`);
      return false;
    }
  };

  await load('/');
  report.list = {
    sweeps: await page.$$eval('#sweeps a[href^="/sweeps/"]', (links) => links.map((a) => a.textContent.trim())),
    screenshot: path.join(args.out, 'dashboard-sweeps.png'),
  };
  await page.screenshot({ path: report.list.screenshot, fullPage: true });

  for (const sweep of args.sweep) {
    if (!await load(`/sweeps/${encodeURIComponent(sweep)}`)) continue;
    const trialRows = () => page.$$eval('#trial-table tr.trial', (rows) => rows.map((row) => ({
      id: row.dataset.trial,
      status: row.querySelector('.status')?.textContent.trim(),
      eta: row.querySelector('td.eta')?.textContent.trim() ?? null,
      text: row.innerText,
    })));
    const trials = await trialRows();
    const select = args.select && trials.some((t) => t.id === args.select) ? args.select : trials[0]?.id;
    let details = null;
    if (select) {
      await page.click(`#trial-table tr.trial[data-trial="${select}"]`);
      await page.waitForSelector('#details:not([hidden]) h2', { timeout: 10000 });
      await page.waitForSelector('#chart-trial canvas', { timeout: 10000 }).catch(() => {});
      details = await page.$eval('#details', (panel) => panel.innerText);
    }
    const leaderboard = await page.$$eval('#leaderboard-table tbody tr', (rows) => rows.map((row) => row.innerText));
    const eta = await page.$eval('#sweep-eta', (e) => e.innerText).catch(() => null);
    const charts = await page.$$eval('[data-chart]', (elements) => elements.map((element) => {
      const chart = window.echarts.getInstanceByDom(element);
      const canvas = element.querySelector('canvas');
      const fact = { name: element.dataset.chart, instance: !!chart, series: [], width: 0, height: 0, coloured_pixels: 0, drawn_pixels: 0 };
      if (chart) {
        // What ECharts drew: each series' data as its model holds it after layout.
        fact.series = chart.getModel().getSeries().map((s) => ({ name: s.name, type: s.type, points: s.getData().count() }));
      }
      if (canvas) {
        fact.width = canvas.width;
        fact.height = canvas.height;
        const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        for (let i = 0; i < pixels.length; i += 4) {
          const [r, g, b, a] = [pixels[i], pixels[i + 1], pixels[i + 2], pixels[i + 3]];
          if (a < 128) continue;
          fact.drawn_pixels++;
          // Axes, grid lines and text are grey; series are drawn in colours.
          if (Math.max(r, g, b) - Math.min(r, g, b) > 60) fact.coloured_pixels++;
        }
      }
      return fact;
    }));
    const screenshot = path.join(args.out, `dashboard-${sweep}.png`);
    await page.screenshot({ path: screenshot, fullPage: true });
    report.sweeps.push({ id: sweep, trials, selected: select ?? null, details, leaderboard, eta, charts, screenshot });
  }

  if (args.live) {
    // A mark that a reload would wipe out.
    await page.evaluate(() => { window.notReloaded = true; });
    process.stdout.write('release\n');
    const row = `#trial-table tr.trial[data-trial="${args.live}"] .status`;
    const completed = await page.waitForFunction((selector) => document.querySelector(selector)?.textContent === 'completed', { timeout: 30000 }, row)
      .then(() => true, () => false);
    report.live = {
      trial: args.live,
      completed,
      status: await page.$eval(row, (e) => e.textContent).catch(() => null),
      reloaded: !await page.evaluate(() => window.notReloaded === true),
    };
  }
} finally {
  await browser.close();
}
report.origins = [...origins];
process.stdout.write(JSON.stringify(report) + '\n');
