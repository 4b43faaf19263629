// Drives the page's folders in headless chromium (e2e/web_daily_test.go): breadcrumbs into
// and out of folders, search in a folder and below, rename (a move), IEC sizes, at a desktop
// and a phone width, with screenshots. Settings come from COFFER_WEB_TEST; one JSON result
// line goes to stdout; a failed check exits non-zero with its step.
import { chromium } from 'playwright-core'
import { join } from 'node:path'

const cfg = JSON.parse(process.env.COFFER_WEB_TEST ?? '{}')
const timeout = 60_000
const result = { steps: [] }
let step = 'start'
function begin(name) {
  step = name
  result.steps.push(name)
  console.error(`daily.mjs: ${name}`)
}
function check(ok, message) {
  if (!ok) throw new Error(message)
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  timeout,
})

const rows = (page) => page.evaluate(() => [...document.querySelectorAll('table.files tbody tr')].map((r) => r.querySelector('th')?.textContent ?? ''))
async function waitRows(page, want, what) {
  await page.waitForFunction((w) => {
    const got = [...document.querySelectorAll('table.files tbody tr')].map((r) => r.querySelector('th')?.textContent ?? '')
    return JSON.stringify(got) === JSON.stringify(w)
  }, want, { timeout }).catch(async () => { throw new Error(`${what}: rows ${JSON.stringify(await rows(page))}, want ${JSON.stringify(want)}`) })
}

let page
try {
  for (const [label, viewport] of [['desktop', { width: 1100, height: 800 }], ['phone', { width: 390, height: 844 }]]) {
    const ctx = await browser.newContext({ viewport, isMobile: label === 'phone', hasTouch: label === 'phone' })
    ctx.setDefaultTimeout(timeout)
    page = await ctx.newPage()
    const problems = []
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))

    begin(`${label}: sign in`)
    await page.goto(cfg.web)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL((u) => u.href.startsWith(`${cfg.auth}/oauth2/authorize`), { timeout })
    await page.getByLabel('Username').fill(cfg.user)
    await page.getByLabel('Password').fill(cfg.pass)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL((u) => u.origin === new URL(cfg.web).origin && u.pathname === '/', { timeout })

    begin(`${label}: the top level shows folders beside files`)
    await waitRows(page, cfg.top, 'top level')
    const size = await page.locator('tr[data-id] td[data-label="Size"]').first().textContent()
    check(/KiB|MiB| B$/.test(size), `size in IEC units: ${size}`)
    await page.screenshot({ path: join(cfg.artifacts, `web-folders-${label}.png`), fullPage: true })

    begin(`${label}: into a folder and back by the breadcrumbs`)
    await page.getByRole('button', { name: 'Open folder reports/' }).click()
    await waitRows(page, cfg.reports, 'reports/')
    await page.getByRole('button', { name: 'Open folder 2026/' }).click()
    await waitRows(page, cfg.reports2026, 'reports/2026/')
    check(await page.locator('.crumbs [aria-current]').textContent() === '2026', 'the breadcrumb of the current folder')
    await page.locator('.crumbs').getByRole('button', { name: 'reports' }).click()
    await waitRows(page, cfg.reports, 'back to reports/')

    begin(`${label}: search in the folder and below`)
    await page.getByRole('searchbox', { name: 'Search by name' }).fill('q3')
    await waitRows(page, cfg.searchQ3, 'search q3 in reports/')
    await page.screenshot({ path: join(cfg.artifacts, `web-search-${label}.png`), fullPage: true })
    await page.getByRole('searchbox', { name: 'Search by name' }).fill('')
    await waitRows(page, cfg.reports, 'search cleared')

    if (label === 'desktop') {
      begin('desktop: rename moves a file to another folder')
      await page.getByRole('button', { name: 'More actions for reports/summary.txt', exact: true }).click()
      await page.getByRole('menuitem', { name: 'Rename or move' }).click()
      await page.getByLabel('New name').fill('archive/summary.txt')
      await page.getByRole('button', { name: 'Rename', exact: true }).click()
      await waitRows(page, cfg.reportsAfterMove, 'reports/ after the move')
      await page.locator('.crumbs').getByRole('button', { name: 'My files' }).click()
      await waitRows(page, cfg.topAfterMove, 'top after the move')
      cfg.top = cfg.topAfterMove // what the phone sees
      cfg.reports = cfg.reportsAfterMove
    }
    check(problems.length === 0, `page problems: ${problems.join('; ')}`)
    await ctx.close()
  }
  result.ok = true
} catch (e) {
  result.ok = false
  result.step = step
  result.error = String(e?.stack ?? e)
  if (page) await page.screenshot({ path: join(cfg.artifacts, 'web-daily-failed.png'), fullPage: true }).catch(() => {})
} finally {
  console.log(JSON.stringify(result))
  await browser.close()
}
process.exit(result.ok ? 0 : 1)
