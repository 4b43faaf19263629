// Drives the page's daily work in headless chromium (e2e/web_daily_test.go): the user menu
// and the quota bar, breadcrumbs into and out of folders, search in a folder and below, sort
// by name, size and date, an image preview, multi-select zip download and delete, a dropped
// folder uploaded with its structure into the current folder, dismissible upload cards,
// rename (a move), the link dialog and IEC sizes, at a desktop and a phone width, with
// screenshots. Settings come from COFFER_WEB_TEST; one JSON result
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

// dropFolder drops a folder from disk onto the upload area as a person's drag from a file
// manager does (Chromium's own drag input, through the DevTools protocol), so the page reads
// it through the File and Directory Entries API.
async function dropFolder(page, dir) {
  const box = await page.locator('.drop').boundingBox()
  const x = box.x + box.width / 2
  const y = box.y + box.height / 2
  const cdp = await page.context().newCDPSession(page)
  const data = { items: [], files: [dir], dragOperationsMask: 1 }
  for (const type of ['dragEnter', 'dragOver', 'drop']) {
    await cdp.send('Input.dispatchDragEvent', { type, x, y, data })
  }
  await cdp.detach()
}

const sortBy = async (page, column) => page.locator('thead').getByRole('button', { name: column, exact: true }).click()
const rowMenu = async (page, name, action) => {
  await page.getByRole('button', { name: `More actions for ${name}`, exact: true }).click()
  await page.getByRole('menuitem', { name: action, exact: true }).click()
}

let page
try {
  for (const [label, viewport] of [['desktop', { width: 1100, height: 800 }], ['phone', { width: 390, height: 844 }]]) {
    // The phone prefers a dark colour scheme: the sign-in page and the app follow it alike.
    const dark = label === 'phone'
    const ctx = await browser.newContext({ viewport, isMobile: label === 'phone', hasTouch: label === 'phone', colorScheme: dark ? 'dark' : 'light' })
    const background = () => page.evaluate(() => [document.body, document.documentElement].map((e) => getComputedStyle(e).backgroundColor).find((c) => c !== 'rgba(0, 0, 0, 0)'))
    const want = dark ? 'rgb(18, 22, 28)' : 'rgb(247, 248, 250)' // the app's --bg (style.css)
    ctx.setDefaultTimeout(timeout)
    page = await ctx.newPage()
    const problems = []
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))

    begin(`${label}: sign in`)
    await page.goto(cfg.web)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL((u) => u.href.startsWith(`${cfg.auth}/oauth2/authorize`), { timeout })
    await page.getByLabel('Password').waitFor()
    check(await background() === want, `the sign-in page's background ${await background()}, want the app's ${want}`)
    await page.screenshot({ path: join(cfg.artifacts, `web-signin-${label}.png`) })
    await page.getByLabel('Username').fill(cfg.user)
    await page.getByLabel('Password').fill(cfg.pass)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL((u) => u.origin === new URL(cfg.web).origin && u.pathname === '/', { timeout })

    begin(`${label}: the top level shows folders beside files`)
    await waitRows(page, cfg.top, 'top level')
    check(await background() === want, `the page's background ${await background()}, want ${want}`)
    const size = await page.locator('tr[data-id] td[data-label="Size"]').first().textContent()
    check(/KiB|MiB| B$/.test(size), `size in IEC units: ${size}`)
    await page.screenshot({ path: join(cfg.artifacts, `web-folders-${label}.png`), fullPage: true })

    begin(`${label}: the user menu says who is signed in`)
    const userButton = page.getByRole('button', { name: `Account menu of ${cfg.user}` })
    await userButton.click()
    const menu = page.getByRole('menu', { name: /Account menu/ })
    await menu.getByText(`Signed in as ${cfg.user}`).waitFor()
    check(await menu.getByRole('menuitem', { name: 'Sign out' }).isVisible(), 'the user menu has no Sign out')
    check(await menu.getByRole('menuitem').first().evaluate((e) => e === document.activeElement), 'the open menu does not focus its first entry')
    if (label === 'desktop') await page.screenshot({ path: join(cfg.artifacts, 'web-user-menu-desktop.png') })
    await page.keyboard.press('Escape')
    await menu.waitFor({ state: 'hidden' })
    check(await userButton.evaluate((e) => e === document.activeElement), 'Escape did not return focus to the menu button')

    begin(`${label}: the quota bar`)
    const meter = page.locator('.quota meter')
    await meter.waitFor()
    check(Number(await meter.getAttribute('max')) === cfg.quota, `quota bar max ${await meter.getAttribute('max')}, want ${cfg.quota}`)
    const used = Number(await meter.getAttribute('value'))
    if (label === 'desktop') check(used === cfg.used, `quota bar value ${used}, want ${cfg.used}`)
    else check(used > cfg.used, `quota bar value ${used} after the desktop's uploads, want more than ${cfg.used}`)

    begin(`${label}: sort by name, size and date`)
    await page.getByRole('button', { name: 'Open folder photos/' }).click()
    await waitRows(page, cfg.photosByName, 'photos/ by name')
    await sortBy(page, 'Size')
    await waitRows(page, cfg.photosBySize, 'photos/ by size')
    check(await page.locator('th[aria-sort=ascending] button').getAttribute('data-key') === 'size', 'the Size heading does not say it sorts ascending')
    await sortBy(page, 'Size')
    await waitRows(page, [...cfg.photosBySize].reverse(), 'photos/ by size, descending')
    await sortBy(page, 'Date')
    await waitRows(page, cfg.photosNewestFirst, 'photos/ newest first')
    await sortBy(page, 'Name')
    await waitRows(page, cfg.photosByName, 'photos/ by name again')

    if (label === 'desktop') {
      // many/ has 105 files, a page is 100: the server sorts them all (the largest file is
      // f-something not on the first page by name), and "Show more" goes on in that order.
      // Each click waits for its rows, so no two listings are in flight at once.
      begin('desktop: a folder of more than a page sorts on the server')
      await page.locator('.crumbs').getByRole('button', { name: 'My files' }).click()
      await page.getByRole('button', { name: 'Open folder many/' }).click()
      await waitRows(page, cfg.manyByName.slice(0, 100), 'many/ by name, first page')
      await sortBy(page, 'Size')
      await waitRows(page, cfg.manyBySize.slice(0, 100), 'many/ smallest first, first page')
      await sortBy(page, 'Size')
      await waitRows(page, cfg.manyBySizeDesc.slice(0, 100), 'many/ largest first, first page')
      await page.getByRole('button', { name: 'Show more' }).click()
      await waitRows(page, cfg.manyBySizeDesc, 'many/ largest first, both pages')
      await sortBy(page, 'Name')
      await waitRows(page, cfg.manyByName.slice(0, 100), 'many/ by name again, first page')
      await page.locator('.crumbs').getByRole('button', { name: 'My files' }).click()
      await waitRows(page, cfg.top, 'back at the top')
      await page.getByRole('button', { name: 'Open folder photos/' }).click()
      await waitRows(page, cfg.photosByName, 'photos/ again')
    }

    if (label === 'desktop') {
      begin('desktop: an image preview')
      await rowMenu(page, 'photos/dog.png', 'Preview')
      const img = page.getByRole('dialog').getByRole('img', { name: 'Preview of photos/dog.png' })
      await img.waitFor()
      await page.waitForFunction(() => document.querySelector('img.preview')?.naturalWidth > 0, null, { timeout })
      check((await img.getAttribute('src')).startsWith('blob:'), 'the preview is not an object URL')
      await page.getByRole('dialog').getByRole('button', { name: 'Close' }).click()
      await page.getByRole('dialog').waitFor({ state: 'detached' })

      begin('desktop: multi-select and download as zip')
      for (const n of cfg.zipPick) await page.getByRole('checkbox', { name: `Select ${n}`, exact: true }).check()
      const bar = page.getByRole('region', { name: 'Selected files' })
      await bar.getByText(`${cfg.zipPick.length} selected`).waitFor()
      await page.screenshot({ path: join(cfg.artifacts, 'web-select-desktop.png') })
      const [zip] = await Promise.all([page.waitForEvent('download'), bar.getByRole('button', { name: 'Download as zip' }).click()])
      result.zip = join(cfg.artifacts, 'selection.zip')
      await zip.saveAs(result.zip)
      await bar.getByRole('button', { name: 'Clear selection' }).click()
      await bar.waitFor({ state: 'hidden' })

      begin('desktop: drop a folder into the current folder')
      await page.locator('.crumbs').getByRole('button', { name: 'My files' }).click()
      await waitRows(page, cfg.top, 'top before the drop')
      await page.getByRole('button', { name: 'Open folder reports/' }).click()
      await waitRows(page, cfg.reports, 'reports/ before the drop')
      await dropFolder(page, cfg.dropDir)
      await page.waitForFunction((n) => document.querySelectorAll('.upload[data-state=done]').length === n, cfg.dropped.length, { timeout })
        .catch(async () => { throw new Error(`uploads: ${JSON.stringify(await page.locator('.upload').allTextContents())}`) })
      await page.screenshot({ path: join(cfg.artifacts, 'web-upload-desktop.png'), fullPage: true })
      await waitRows(page, cfg.reportsAfterDrop, 'reports/ after the drop')
      cfg.reports = cfg.reportsAfterDrop

      begin('desktop: upload cards can be dismissed')
      while (await page.locator('.upload').count() > 0) await page.locator('.upload').first().getByRole('button', { name: /^Dismiss / }).click()

      begin('desktop: multi-select delete')
      await page.getByRole('button', { name: `Open folder ${cfg.dropTop}` }).click()
      for (const n of cfg.deletePick) await page.getByRole('checkbox', { name: `Select ${n}`, exact: true }).check()
      await page.getByRole('region', { name: 'Selected files' }).getByRole('button', { name: 'Delete' }).click()
      await page.getByRole('dialog').getByRole('button', { name: 'Delete', exact: true }).click()
      await waitRows(page, cfg.dropAfterDelete, 'the dropped folder after the delete')
      await page.locator('.crumbs').getByRole('button', { name: 'reports' }).click()
    }

    begin(`${label}: into a folder and back by the breadcrumbs`)
    await page.locator('.crumbs').getByRole('button', { name: 'My files' }).click()
    await waitRows(page, cfg.top, 'top again')
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

      begin('desktop: the link dialog')
      await rowMenu(page, 'notes.txt', 'Create a link')
      await page.getByRole('button', { name: 'Create link' }).click()
      await page.locator('#link-url').waitFor()
      await page.screenshot({ path: join(cfg.artifacts, 'web-link-desktop.png') })
      await page.keyboard.press('Escape')
      await page.getByRole('dialog').waitFor({ state: 'detached' })
    } else {
      await page.screenshot({ path: join(cfg.artifacts, 'web-list-phone.png'), fullPage: true })
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
