// Drives previews in headless chromium (e2e/web_preview_test.go): a PNG shows in an <img> of
// an object URL, a real PDF in a frame of an object URL that the browser's PDF viewer takes;
// hostile files cannot run script in the page: HTML bytes named .pdf reach the PDF viewer,
// never the HTML parser; SVG bytes named .png fail to decode as an image; SVG and HTML files
// offer no preview at all. Then the recipient of two shares sees who shared each: by name,
// or by id for a share that has no name, and the header's user menu names the user from the
// token while the auth service's /v1/me does not answer. Settings come from COFFER_WEB_TEST; one JSON result
// line goes to stdout; a failed check exits non-zero with its step.
import { chromium } from 'playwright-core'
import { join } from 'node:path'

const cfg = JSON.parse(process.env.COFFER_WEB_TEST ?? '{}')
const timeout = 60_000
const result = { steps: [] }
let step = 'start'
const problems = []
function begin(name) {
  step = name
  result.steps.push(name)
  console.error(`preview.mjs: ${name}`)
}
function check(ok, message) {
  if (!ok) throw new Error(message)
}
function watch(page, label) {
  page.on('pageerror', (e) => problems.push(`${label}: page error: ${e.message}`))
  page.on('console', (m) => {
    if (/Content.Security.Policy|Trusted Type/i.test(m.text())) problems.push(`${label}: console: ${m.text()}`)
  })
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  timeout,
})

async function signIn(page, user, pass) {
  await page.goto(cfg.web)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.waitForURL((u) => u.href.startsWith(`${cfg.auth}/oauth2/authorize`), { timeout })
  await page.getByLabel('Username').fill(user)
  await page.getByLabel('Password').fill(pass)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.waitForURL((u) => u.origin === new URL(cfg.web).origin && u.pathname === '/', { timeout })
  await page.getByRole('tab', { name: 'My files' }).waitFor({ timeout })
}

// menuItems opens a row's menu and returns its entries (the menu is left open).
async function menuItems(page, name) {
  await page.getByRole('button', { name: `More actions for ${name}`, exact: true }).click()
  const menu = page.getByRole('menu', { name: `More actions for ${name}` })
  await menu.waitFor()
  return menu.getByRole('menuitem').allTextContents()
}

async function openPreview(page, name) {
  check((await menuItems(page, name)).includes('Preview'), `${name} offers no preview`)
  await page.getByRole('menuitem', { name: 'Preview', exact: true }).click()
  return page.getByRole('dialog', { name })
}

// closePreview uses the dialog's button: Escape would go to the PDF viewer when it has focus.
async function closePreview(page) {
  await page.getByRole('dialog').getByRole('button', { name: 'Close', exact: true }).click()
  await page.getByRole('dialog').waitFor({ state: 'detached' })
}

// pdfViewer waits for the browser's PDF viewer inside the preview frame: the frame's child
// is the viewer's extension page, so the browser took the bytes as a PDF document.
async function pdfViewer(page) {
  const src = await page.locator('dialog iframe.preview').getAttribute('src')
  const deadline = Date.now() + timeout
  for (;;) {
    const viewer = page.frames().find((f) => f.parentFrame()?.url() === src && f.url().startsWith('chrome-extension://'))
    if (viewer) return viewer
    check(Date.now() < deadline, `no PDF viewer in the preview frame ${src}; frames ${page.frames().map((f) => f.url()).join(', ')}`)
    await page.waitForEvent('frameattached', { timeout: 1000 }).catch(() => {})
  }
}

// The viewer's own page (Chromium's, as Debian ships it) says how the bytes parsed: its
// title becomes the document's once a PDF loaded; an error dialog appears when they are no PDF.
const pdfLoaded = (viewer) => viewer.waitForFunction(() => document.title !== '' && !document.querySelector('pdf-viewer')?.shadowRoot?.querySelector('viewer-error-dialog'), null, { timeout })
const pdfRefused = (viewer) => viewer.waitForFunction(() => !!document.querySelector('pdf-viewer')?.shadowRoot?.querySelector('viewer-error-dialog'), null, { timeout })

let page
try {
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 900 } })
  ctx.setDefaultTimeout(timeout)
  page = await ctx.newPage()
  watch(page, 'owner')
  begin('sign in')
  await signIn(page, cfg.user, cfg.pass)
  await page.getByRole('button', { name: `More actions for ${cfg.png}`, exact: true }).waitFor()
  // What a script that escaped into the page would leave: a message, a changed title.
  const title = await page.title()
  await page.evaluate(() => {
    window.previewMessages = []
    addEventListener('message', (e) => window.previewMessages.push(String(e.data)))
  })
  const untouched = async (what) => {
    const seen = await page.evaluate(() => window.previewMessages)
    check(seen.length === 0, `${what}: the page got messages ${JSON.stringify(seen)}`)
    check(await page.title() === title, `${what}: the page's title became ${await page.title()}`)
  }

  begin('a PNG previews in an image of an object URL')
  let d = await openPreview(page, cfg.png)
  const img = d.getByRole('img', { name: `Preview of ${cfg.png}` })
  await img.waitFor()
  await page.waitForFunction(() => document.querySelector('dialog img.preview')?.naturalWidth > 0, null, { timeout })
  check((await img.getAttribute('src')).startsWith('blob:'), 'the image preview is not an object URL')
  await closePreview(page)

  begin('a PDF previews in a frame the PDF viewer takes')
  d = await openPreview(page, cfg.pdf)
  const frame = d.locator('iframe.preview')
  await frame.waitFor()
  check((await frame.getAttribute('src')).startsWith('blob:'), 'the PDF preview is not an object URL')
  check(await frame.getAttribute('title') === `Preview of ${cfg.pdf}`, 'the PDF frame has no title')
  await pdfLoaded(await pdfViewer(page))
  await page.screenshot({ path: join(cfg.artifacts, 'web-preview-pdf.png') })
  await closePreview(page)

  begin('HTML bytes named .pdf reach the PDF viewer, not the HTML parser')
  d = await openPreview(page, cfg.trapPDF)
  await d.locator('iframe.preview').waitFor()
  await pdfRefused(await pdfViewer(page))
  const parsed = await page.evaluate(() => {
    const doc = document.querySelector('dialog iframe.preview').contentDocument
    return doc === null ? 'no document' : (doc.getElementById('trap') ? 'parsed as HTML' : 'not HTML')
  })
  check(parsed === 'not HTML', `the preview of ${cfg.trapPDF}: ${parsed}`)
  await untouched(cfg.trapPDF)
  await closePreview(page)

  begin('SVG bytes named .png do not decode as an image')
  d = await openPreview(page, cfg.trapPNG)
  await d.getByRole('img').waitFor()
  await page.waitForFunction(() => document.querySelector('dialog img.preview')?.complete, null, { timeout })
  check(await page.evaluate(() => document.querySelector('dialog img.preview').naturalWidth) === 0, `${cfg.trapPNG} decoded as an image`)
  await untouched(cfg.trapPNG)
  await closePreview(page)

  begin('SVG and HTML files offer no preview')
  for (const name of cfg.noPreview) {
    const items = await menuItems(page, name)
    check(items.length > 0 && !items.includes('Preview'), `${name}'s menu: ${JSON.stringify(items)}`)
    await page.keyboard.press('Escape')
    await page.getByRole('menu').waitFor({ state: 'hidden' })
  }
  await untouched('after every preview')
  check(problems.length === 0, `page problems: ${problems.join('; ')}`)
  await ctx.close()

  begin('the recipient signs in')
  const other = await browser.newContext({ viewport: { width: 1100, height: 900 } })
  other.setDefaultTimeout(timeout)
  page = await other.newPage()
  watch(page, 'recipient')
  // The auth service's /v1/me does not answer: the header names the user from the token.
  await page.route(`${cfg.auth}/v1/me`, (route) => route.abort())
  await signIn(page, cfg.user2, cfg.pass2)
  begin('the user menu names the user from the token')
  const userButton = page.getByRole('button', { name: `Account menu of ${cfg.user2}`, exact: true })
  await userButton.click()
  await page.getByRole('menu', { name: /Account menu/ }).getByText(`Signed in as ${cfg.user2}`, { exact: true }).waitFor()
  await page.keyboard.press('Escape')
  begin('the recipient sees who shared each file (by name, or by id when there is none)')
  await page.getByRole('tab', { name: 'Shared with me' }).click()
  for (const [name, want] of Object.entries(cfg.sharedBy)) {
    await page.waitForFunction(({ n, w }) => {
      const row = [...document.querySelectorAll('table.files tbody tr')].find((r) => r.querySelector('th.name')?.textContent === n)
      return row?.querySelector('.shared-by')?.textContent === w
    }, { n: name, w: want }, { timeout }).catch(async () => {
      throw new Error(`${name}: ${JSON.stringify(await page.locator('table.files tbody').textContent())}, want ${want}`)
    })
  }
  await page.screenshot({ path: join(cfg.artifacts, 'web-shared-with-me.png') })
  check(problems.length === 0, `page problems: ${problems.join('; ')}`)
  await other.close()
  result.ok = true
} catch (e) {
  result.ok = false
  result.step = step
  result.error = String(e?.stack ?? e)
  if (page) await page.screenshot({ path: join(cfg.artifacts, 'web-preview-failed.png'), fullPage: true }).catch(() => {})
} finally {
  console.log(JSON.stringify(result))
  await browser.close()
}
process.exit(result.ok ? 0 : 1)
