// Drives the page's receiving and sharing in headless chromium (e2e/web_receive_test.go):
// the owner creates a file request (password, limits, name asked); in a fresh context, with
// no account, someone opens its page, gives the password and their name, and sends files by
// the picker and by drag-and-drop with a progress bar each, until the file limit refuses one
// in words; the owner sees what arrived and from whom, and closes the request, whose page
// then refuses; the owner links a file with a password and shares it, the row says so, the
// link page asks the password and serves the bytes, the recipient sees who shared it, and
// the access dialog lists and revokes both, after which the link no longer works. Settings
// come from COFFER_WEB_TEST; one JSON result line goes to stdout; a failed check exits
// non-zero with its step.
import { chromium } from 'playwright-core'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

const cfg = JSON.parse(process.env.COFFER_WEB_TEST ?? '{}')
const timeout = 60_000
const result = { steps: [] }
let step = 'start'
let current
const problems = []
function begin(name) {
  step = name
  result.steps.push(name)
  console.error(`receive.mjs: ${name}`)
}
function check(ok, message) {
  if (!ok) throw new Error(message)
}
function watch(page, label) {
  page.on('pageerror', (e) => problems.push(`${label}: page error: ${e.message}`))
  page.on('console', (m) => {
    if (m.text().startsWith('Failed to load resource')) return // an error answer the page handles
    if (m.type() === 'error' || /Content.Security.Policy|Trusted Type/i.test(m.text())) problems.push(`${label}: console: ${m.text()}`)
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

// rowAction picks an action from a file row's menu (the row's one button is Download).
async function rowAction(page, name, action) {
  await page.getByRole('button', { name: `More actions for ${name}`, exact: true }).click()
  await page.getByRole('menuitem', { name: action, exact: true }).click()
}

// rowMarks is the text of the marks in the row of the file called name.
async function rowMarks(page, name) {
  return page.evaluate((n) => {
    const row = [...document.querySelectorAll('table.files tbody tr')].find((r) => r.querySelector('th.name')?.textContent === n)
    return row ? (row.querySelector('.marks')?.textContent ?? '') : null
  }, name)
}
async function waitMarks(page, name, want, what) {
  await page.waitForFunction(({ n, w }) => {
    const row = [...document.querySelectorAll('table.files tbody tr')].find((r) => r.querySelector('th.name')?.textContent === n)
    return row !== undefined && (row.querySelector('.marks')?.textContent ?? '') === w
  }, { n: name, w: want }, { timeout }).catch(async () => {
    throw new Error(`${what}: marks ${JSON.stringify(await rowMarks(page, name))}, want ${JSON.stringify(want)}`)
  })
}

try {
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 900 } })
  ctx.setDefaultTimeout(timeout)
  const page = await ctx.newPage()
  current = page
  watch(page, 'owner')

  begin('owner signs in')
  await signIn(page, cfg.user, cfg.pass)
  await page.getByText('No file requests yet.').waitFor()

  begin('owner creates a file request')
  await page.getByRole('button', { name: 'Request files' }).click()
  const dlg = page.getByRole('dialog')
  await dlg.getByLabel('Title').fill(cfg.title)
  await dlg.getByLabel('Message to the people who send').fill('Scans of the signed pages, please.')
  await dlg.getByLabel('Most files').fill('3')
  await dlg.getByLabel('Most MiB in total').fill('2')
  await dlg.getByLabel('Password (optional)').fill(cfg.requestPass)
  await dlg.getByLabel('Senders must give their name').check()
  await dlg.getByRole('button', { name: 'Create request' }).click()
  const requestLink = await dlg.getByLabel('Page to send', { exact: true }).inputValue()
  check(requestLink.startsWith(`${cfg.web}/r/`) && requestLink.length > `${cfg.web}/r/`.length + 20, `request page ${requestLink}`)
  result.requestLink = requestLink
  await page.keyboard.press('Escape')
  await dlg.waitFor({ state: 'detached' })
  const item = page.locator('li.request', { hasText: cfg.title })
  await item.locator('.badge', { hasText: 'Open' }).waitFor()
  check((await item.textContent()).includes('0 of 3 files'), `request item: ${await item.textContent()}`)
  await page.screenshot({ path: join(cfg.artifacts, 'web-requests.png'), fullPage: true })

  begin('an uploader without an account opens the request page')
  const anon = await browser.newContext({ viewport: { width: 900, height: 900 } })
  anon.setDefaultTimeout(timeout)
  const pub = await anon.newPage()
  current = pub
  watch(pub, 'uploader')
  const calls = []
  pub.on('request', (r) => {
    if (r.url().startsWith(cfg.files_url)) calls.push(`${r.method()} ${new URL(r.url()).pathname}`)
    if (r.headers()['authorization']) problems.push(`uploader: a request with Authorization: ${r.url()}`)
  })
  await pub.goto(requestLink)
  await pub.getByLabel('Password').fill('not-the-password')
  await pub.getByRole('button', { name: 'Continue' }).click()
  await pub.getByText('This request has been closed or has expired, or the password is not right.').waitFor()
  await pub.getByLabel('Password').fill(cfg.requestPass)
  await pub.getByRole('button', { name: 'Continue' }).click()
  await pub.getByRole('heading', { name: cfg.title }).waitFor()
  await pub.getByText('Scans of the signed pages, please.').waitFor()

  begin('the name is asked before a file is sent')
  await pub.locator('#send-input').setInputFiles(cfg.files)
  await pub.getByText('Type your name first').waitFor()
  check(await pub.locator('li.upload').count() === 0, 'an upload began without the required name')

  begin('files sent by the picker, with a progress bar each')
  await pub.getByLabel('Your name').fill(cfg.uploader)
  await pub.locator('#send-input').setInputFiles(cfg.files)
  await pub.waitForFunction((n) => document.querySelectorAll('li.upload[data-state=done]').length === n, cfg.files.length, { timeout })
  const bars = await pub.locator('li.upload progress').evaluateAll((ps) => ps.map((p) => [p.value, p.max]))
  check(bars.length === cfg.files.length && bars.every(([v, m]) => v === m && m > 1000), `progress bars at the end: ${JSON.stringify(bars)}`)

  begin('a drop past the file limit: one more is sent, the next refused in words')
  const dt = await pub.evaluateHandle(() => {
    const d = new DataTransfer()
    d.items.add(new File(['a'.repeat(3000)], 'dropped-1.txt', { type: 'text/plain' }))
    d.items.add(new File(['b'.repeat(3000)], 'dropped-2.txt', { type: 'text/plain' }))
    return d
  })
  await pub.dispatchEvent('.drop', 'drop', { dataTransfer: dt })
  await pub.waitForFunction(() => document.querySelectorAll('li.upload[data-state=done]').length === 3 &&
    document.querySelectorAll('li.upload[data-state=failed]').length === 1, null, { timeout })
  const refused = await pub.locator('li.upload[data-state=failed] .upload-message').textContent()
  check(/this request takes no more files/.test(refused), `the refused upload says: ${refused}`)
  result.sentNames = await pub.locator('li.upload[data-state=done] .name').allTextContents()
  await pub.screenshot({ path: join(cfg.artifacts, 'web-request-page.png'), fullPage: true })

  begin('the uploader saw nothing of the owner')
  const text = await pub.locator('body').textContent()
  check(!text.includes(cfg.ownerFile), 'the request page shows an owner file name')
  const bad = calls.filter((c) => !/^(GET \/v1\/r\/|POST \/v1\/uploads\/?$|PATCH \/v1\/uploads\/|HEAD \/v1\/uploads\/|OPTIONS )/.test(c))
  check(bad.length === 0, `the request page called: ${bad.join(', ')}`)
  result.uploaderCalls = calls.length

  begin('the owner sees what arrived, and from whom')
  current = page
  await page.getByRole('tab', { name: 'My files' }).click() // lists again
  await page.locator('li.request', { hasText: cfg.title }).getByRole('button', { name: `Files sent to ${cfg.title}` }).click()
  const arrivals = page.locator('li.request', { hasText: cfg.title }).locator('.arrivals li')
  await page.waitForFunction((n) => document.querySelectorAll('.arrivals li[data-id]').length === n, 3, { timeout })
  const arrived = await arrivals.allTextContents()
  check(arrived.every((a) => a.includes(`from ${cfg.uploader}`)), `arrivals: ${JSON.stringify(arrived)}`)
  for (const n of result.sentNames) check(arrived.some((a) => a.startsWith(n)), `arrivals lack ${n}: ${JSON.stringify(arrived)}`)
  await waitMarks(page, result.sentNames[0], `From ${cfg.uploader}`, 'a sent file in My files')

  begin('closing the request: its page refuses at once')
  await page.getByRole('button', { name: `Close request ${cfg.title}` }).click()
  await page.locator('li.request', { hasText: cfg.title }).locator('.badge', { hasText: 'Closed' }).waitFor()
  await pub.goto(requestLink)
  await pub.getByLabel('Password').fill(cfg.requestPass)
  await pub.getByRole('button', { name: 'Continue' }).click()
  await pub.getByText('This request has been closed or has expired, or the password is not right.').waitFor()
  await anon.close()

  begin('the owner links a file with a password and shares it; the row says so')
  current = page
  await waitMarks(page, cfg.ownerFile, '', 'before sharing')
  await rowAction(page, cfg.ownerFile, 'Create a link')
  await page.getByLabel('Downloads (empty: no limit)').fill('2')
  await page.getByLabel('Password (optional)').fill(cfg.linkPass)
  await page.getByRole('button', { name: 'Create link' }).click()
  const linkPage = await page.locator('#link-page').inputValue()
  check(linkPage.startsWith(`${cfg.web}/s/`), `link page ${linkPage}`)
  await page.keyboard.press('Escape')
  await page.getByRole('dialog').waitFor({ state: 'detached' })
  await rowAction(page, cfg.ownerFile, 'Share')
  await page.getByLabel('Username of the person to share with').fill(cfg.user2)
  await page.getByRole('dialog').getByRole('button', { name: 'Share', exact: true }).click()
  await page.getByText(`Shared with ${cfg.user2}.`).waitFor()
  await page.keyboard.press('Escape')
  await page.getByRole('dialog').waitFor({ state: 'detached' })
  await page.getByRole('tab', { name: 'My files' }).click()
  await waitMarks(page, cfg.ownerFile, 'SharedLinked', 'after linking and sharing')
  await page.screenshot({ path: join(cfg.artifacts, 'web-shared-row.png'), fullPage: true })

  begin('the link page asks the password, then serves the file')
  const visitor = await browser.newContext({ acceptDownloads: true })
  visitor.setDefaultTimeout(timeout)
  const vis = await visitor.newPage()
  current = vis
  watch(vis, 'visitor')
  await vis.goto(linkPage)
  await vis.getByText('This link has expired, was revoked, or has no downloads left.').waitFor()
  await vis.getByLabel('Password').fill('wrong-link-password')
  await vis.getByRole('button', { name: 'Continue' }).click()
  await vis.getByText('That password is not right, or the link no longer works.').waitFor()
  await vis.getByLabel('Password').fill(cfg.linkPass)
  await vis.getByRole('button', { name: 'Continue' }).click()
  await vis.getByRole('heading', { name: cfg.ownerFile }).waitFor()
  const [download] = await Promise.all([vis.waitForEvent('download'), vis.getByRole('button', { name: 'Download' }).click()])
  const saved = join(cfg.artifacts, 'receive-link-download.bin')
  await download.saveAs(saved)
  check(readFileSync(saved).equals(readFileSync(cfg.ownerPath)), 'the link page served other bytes')

  begin('the recipient sees who shared the file')
  const other = await browser.newContext()
  other.setDefaultTimeout(timeout)
  const bob = await other.newPage()
  current = bob
  watch(bob, 'recipient')
  await signIn(bob, cfg.user2, cfg.pass2)
  await bob.getByRole('tab', { name: 'Shared with me' }).click()
  await waitMarks(bob, cfg.ownerFile, `Shared by ${cfg.sharedBy}`, 'shared with me')
  await other.close()

  begin('the access dialog lists the link and the share, and revokes both')
  current = page
  await rowAction(page, cfg.ownerFile, 'Links and shares')
  const access = page.getByRole('dialog')
  const links = access.getByRole('list', { name: 'Links' }).locator('li')
  const people = access.getByRole('list', { name: 'People' }).locator('li')
  await links.first().waitFor()
  await people.first().waitFor()
  check(await links.count() === 1 && await people.count() === 1, `listed ${await links.count()} links, ${await people.count()} people`)
  const linkText = await links.first().textContent()
  const short = linkPage.slice(linkPage.lastIndexOf('/') + 1)
  check(linkText.includes(`/s/${short}`) && linkText.includes('password') && linkText.includes('2 downloads'), `link item: ${linkText}`)
  check((await people.first().textContent()).includes(cfg.user2), `share item: ${await people.first().textContent()}`)
  await page.screenshot({ path: join(cfg.artifacts, 'web-access-dialog.png'), fullPage: true })
  await access.getByRole('button', { name: `Revoke link ${short}` }).click()
  await access.getByText('No links.').waitFor()
  await access.getByRole('button', { name: `Stop sharing with ${cfg.user2}` }).click()
  await access.getByText('Not shared with anyone.').waitFor()
  await page.keyboard.press('Escape')
  await access.waitFor({ state: 'detached' })
  await waitMarks(page, cfg.ownerFile, '', 'after revoking both')

  begin('the revoked link no longer works')
  current = vis
  await vis.goto(linkPage)
  await vis.getByLabel('Password').fill(cfg.linkPass)
  await vis.getByRole('button', { name: 'Continue' }).click()
  await vis.getByText('That password is not right, or the link no longer works.').waitFor()
  const direct = await visitor.request.get(`${cfg.files_url}/v1/s/${short}`, { headers: { 'Coffer-Link-Password': cfg.linkPass } })
  check(direct.status() === 404, `the revoked short link answered ${direct.status()}`)
  result.short = short
  await visitor.close()

  check(problems.length === 0, `page problems: ${problems.join('; ')}`)
  result.ok = true
} catch (e) {
  result.ok = false
  result.step = step
  result.error = String(e?.stack ?? e)
  if (problems.length) result.error += `\npage problems: ${problems.join('; ')}`
  if (current) await current.screenshot({ path: join(cfg.artifacts, 'web-receive-failed.png'), fullPage: true }).catch(() => {})
} finally {
  console.log(JSON.stringify(result))
  await browser.close()
}
process.exit(result.ok ? 0 : 1)
