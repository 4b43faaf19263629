// Drives Coffer's web page in Debian's headless chromium with playwright-core. Run by the Go
// test e2e/web_page_test.go against the real auth, files and web binaries; it reads its
// settings from the JSON in COFFER_WEB_TEST and prints one JSON result line on stdout. Any
// failed check throws, which exits non-zero with the step that failed.
import { chromium } from 'playwright-core'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

const cfg = JSON.parse(process.env.COFFER_WEB_TEST ?? '{}')
const timeout = 60_000
const result = { steps: [] }

let step = 'start'
let current // the page in use, for a screenshot when a step fails
const allProblems = [] // every page's problems, reported when a step fails
function begin(name) {
  step = name
  result.steps.push(name)
  console.error(`web.mjs: ${name}`)
}
function check(ok, message) {
  if (!ok) throw new Error(message)
}
// until polls cond (in this process) until it holds, for at most the test timeout.
async function until(cond, what) {
  const deadline = Date.now() + timeout
  while (!cond()) {
    check(Date.now() < deadline, `timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const browser = await chromium.launch({
  executablePath: cfg.chromium || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
  timeout,
})

// watch collects what must never happen on the page: script errors, CSP violations, console
// errors other than the expected failed fetches of the CORS probe.
function watch(page, problems) {
  page.on('pageerror', (e) => allProblems.push(`page error: ${e.message}`))
  page.on('console', (m) => allProblems.push(`console ${m.type()}: ${m.text()}`))
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
  page.on('console', (m) => {
    if (m.text().startsWith('Failed to load resource')) return // an error answer the page handles
    if (m.type() === 'error' || /Content.Security.Policy|Trusted Type/i.test(m.text())) problems.push(`console: ${m.text()}`)
  })
}

// signIn goes through the auth service's authorization page the way a person does.
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

// dumpStorage runs in a page: its localStorage, sessionStorage, document.cookie and every
// IndexedDB database (each store's keys and values, bytes as text), as one string.
async function dumpStorage() {
  const req = (r) => new Promise((resolve, reject) => { r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error) })
  const text = (_, v) => v instanceof ArrayBuffer || ArrayBuffer.isView(v) ? new TextDecoder().decode(v) : v instanceof Map ? Object.fromEntries(v) : v
  const out = { local: { ...localStorage }, session: { ...sessionStorage }, cookie: document.cookie, idb: {} }
  for (const { name } of await indexedDB.databases()) {
    const db = await req(indexedDB.open(name))
    out.idb[name] = {}
    for (const store of db.objectStoreNames) {
      const s = db.transaction(store, 'readonly').objectStore(store)
      out.idb[name][store] = { keys: await req(s.getAllKeys()), values: await req(s.getAll()) }
    }
    db.close()
  }
  return JSON.stringify(out, text)
}

// rowAction picks an action from a file row's menu (the row's one button is Download).
async function rowAction(page, name, action) {
  await page.getByRole('button', { name: `More actions for ${name}`, exact: true }).click()
  await page.getByRole('menuitem', { name: action, exact: true }).click()
}

async function rowNames(page) {
  return page.locator('table.files tbody th.name').allTextContents()
}

try {
  // --- the first user: sign in, upload, list, download, share, link ---
  const ctx = await browser.newContext({ acceptDownloads: true, viewport: { width: 1000, height: 760 } })
  ctx.setDefaultTimeout(timeout)
  const page = await ctx.newPage()
  current = page
  const problems = []
  watch(page, problems)
  const tokens = new Set()
  let refreshes = 0
  page.on('request', (r) => {
    const a = r.headers()['authorization']
    if (a?.startsWith('Bearer ')) tokens.add(a.slice(7))
    if (r.url() === `${cfg.auth}/oauth2/token` && /grant_type=refresh_token/.test(r.postData() ?? '')) refreshes++
  })

  let latestRefresh = ''
  const refreshTokens = new Set() // every refresh token the page was given
  page.on('response', async (r) => {
    if (r.url() === `${cfg.auth}/oauth2/token` && r.ok()) {
      latestRefresh = (await r.json().catch(() => ({}))).refresh_token ?? latestRefresh
      if (latestRefresh) refreshTokens.add(latestRefresh)
    }
  })

  begin('sign in through the authorization page')
  await signIn(page, cfg.user1, cfg.pass1)

  begin('upload two files through the file input')
  const names = cfg.files.map((f) => f.split('/').pop())
  // As a person does it: "Choose files" opens the picker of the file input.
  const [chooser] = await Promise.all([
    page.waitForEvent('filechooser'),
    page.getByText('Choose files').click(),
  ])
  check(chooser.isMultiple(), 'the file input does not take several files')
  await chooser.setFiles(cfg.files)
  for (const name of names) {
    const bar = page.getByRole('progressbar', { name: `Upload of ${name}` })
    await bar.waitFor()
    await page.waitForFunction((n) => {
      const p = document.querySelector(`progress[aria-label="Upload of ${n}"]`)
      return p && p.value === p.max && p.closest('li')?.dataset.state === 'done'
    }, name, { timeout })
    const [value, max] = await bar.evaluate((p) => [p.value, p.max])
    check(value === max && max > 1, `progress of ${name}: ${value} of ${max}`)
  }
  result.progressDone = names

  begin('both files listed')
  await page.waitForFunction((ns) => {
    const got = [...document.querySelectorAll('table.files tbody th.name')].map((e) => e.textContent)
    return ns.every((n) => got.includes(n))
  }, names, { timeout })
  result.listed = await rowNames(page)
  await page.screenshot({ path: join(cfg.artifacts, 'web-list.png'), fullPage: true })

  begin('an upload resumes after a dropped connection')
  // The first PATCH of the next upload is cut off as a reset connection; tus-js-client asks
  // the server for the offset (HEAD) and carries on from there.
  let cut = 0
  await page.route('**/v1/uploads/**', (route) => {
    if (route.request().method() === 'PATCH' && cut === 0) {
      cut++
      return route.abort('connectionreset')
    }
    return route.continue()
  })
  const third = cfg.resume.split('/').pop()
  await page.locator('#file-input').setInputFiles([cfg.resume])
  await page.waitForFunction((n) => {
    const p = document.querySelector(`progress[aria-label="Upload of ${n}"]`)
    return p && p.value === p.max && p.closest('li')?.dataset.state === 'done'
  }, third, { timeout })
  check(cut === 1, `the connection was cut ${cut} times, want 1`)
  await page.unroute('**/v1/uploads/**')
  result.resumed = third

  begin('drag and drop uploads')
  const dataTransfer = await page.evaluateHandle(() => {
    const dt = new DataTransfer()
    dt.items.add(new File(['dropped on the page\n'], 'dropped.txt', { type: 'text/plain' }))
    return dt
  })
  await page.locator('.drop').dispatchEvent('dragover', { dataTransfer })
  await page.locator('.drop').dispatchEvent('drop', { dataTransfer })
  await page.waitForFunction(() => document.querySelector('progress[aria-label="Upload of dropped.txt"]')?.closest('li')?.dataset.state === 'done', null, { timeout })

  begin('pause and resume, cancel')
  // The first PATCH after holdNext is set is held (never answered), so the upload is surely
  // in flight when the test clicks Pause or Cancel.
  const held = []
  let holdNext = false
  await page.route('**/v1/uploads/**', (route) => {
    if (route.request().method() === 'PATCH' && holdNext) {
      holdNext = false
      held.push(route)
      return
    }
    return route.continue()
  })
  const row = (name) => page.locator('li.upload', { has: page.getByText(name, { exact: true }) })
  const [later, never] = cfg.pauseCancel
  const laterName = later.split('/').pop()
  const neverName = never.split('/').pop()
  holdNext = true
  await page.locator('#file-input').setInputFiles([later])
  await until(() => held.length === 1, 'the first PATCH of later.txt')
  await row(laterName).getByRole('button', { name: 'Pause' }).click()
  check(await row(laterName).getAttribute('data-state') === 'paused', 'not paused')
  await row(laterName).getByRole('button', { name: 'Resume' }).click()
  await page.waitForFunction((n) => document.querySelector(`progress[aria-label="Upload of ${n}"]`)?.closest('li')?.dataset.state === 'done', laterName, { timeout })
  holdNext = true
  await page.locator('#file-input').setInputFiles([never])
  await until(() => held.length === 2, 'the first PATCH of never.txt')
  await row(neverName).getByRole('button', { name: 'Cancel' }).click()
  await row(neverName).getByText('Cancelled').waitFor()
  await page.unroute('**/v1/uploads/**')
  result.cancelled = neverName

  begin('errors in words: too large, storage full')
  await page.locator('#file-input').setInputFiles([cfg.tooLarge])
  await page.getByText(`“${cfg.tooLarge.split('/').pop()}” is too large`).waitFor({ timeout })
  await page.locator('#file-input').setInputFiles([cfg.overQuota])
  await page.getByText(`Your storage is full, so “${cfg.overQuota.split('/').pop()}” could not be uploaded.`).waitFor({ timeout })
  while (await page.getByRole('button', { name: 'Dismiss' }).count() > 0) await page.getByRole('button', { name: 'Dismiss' }).first().click()

  begin('download one file')
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: `Download ${names[0]}` }).click(),
  ])
  check(download.suggestedFilename() === names[0], `download name ${download.suggestedFilename()}, want ${names[0]}`)
  result.downloaded = join(cfg.artifacts, 'downloaded.bin')
  await download.saveAs(result.downloaded)
  check(readFileSync(result.downloaded).equals(readFileSync(cfg.files[0])), 'downloaded bytes differ from the uploaded file')

  begin('share one file with the second user')
  await rowAction(page, names[1], 'Share')
  await page.getByLabel('Username of the person to share with').fill(cfg.user2)
  await page.getByRole('dialog').getByRole('button', { name: 'Share', exact: true }).click()
  await page.getByText(`Shared with ${cfg.user2}.`).waitFor()
  await page.keyboard.press('Escape')
  await page.getByRole('dialog').waitFor({ state: 'detached' })

  begin('sharing with nobody says so in words')
  await rowAction(page, names[1], 'Share')
  await page.getByLabel('Username of the person to share with').fill('nobody-by-this-name')
  await page.getByRole('dialog').getByRole('button', { name: 'Share', exact: true }).click()
  await page.getByText('There is no one called “nobody-by-this-name”').waitFor()
  await page.keyboard.press('Escape')

  begin('create a link with an expiry')
  await rowAction(page, names[0], 'Create a link')
  await page.getByLabel('Link expires after').selectOption('3600')
  await page.getByRole('button', { name: 'Create link' }).click()
  result.link = await page.locator('#link-url').inputValue()
  result.linkPage = await page.locator('#link-page').inputValue()
  check(result.linkPage.startsWith(`${cfg.web}/s/`), `link page ${result.linkPage} is not a short page on the web page`)
  check(result.link.startsWith(`${cfg.files_url}/v1/links/`), `link ${result.link} is not on the file service`)
  await page.keyboard.press('Escape')

  begin('fetch the link from a fresh browser context')
  const fresh = await browser.newContext()
  const res = await fresh.request.get(result.link)
  check(res.status() === 200, `link answered ${res.status()}`)
  check(Buffer.from(await res.body()).equals(readFileSync(cfg.files[0])), 'link bytes differ from the uploaded file')
  check(/^attachment/.test(res.headers()['content-disposition'] ?? ''), `link Content-Disposition ${res.headers()['content-disposition']}`)
  const linkTab = await fresh.newPage()
  await linkTab.goto(result.linkPage)
  await linkTab.getByRole('heading', { name: names[0] }).waitFor({ timeout })
  const short = result.linkPage.slice(result.linkPage.lastIndexOf('/') + 1)
  check(await linkTab.getByRole('link', { name: 'Download' }).getAttribute('href') === `${cfg.files_url}/v1/s/${short}`, 'the short page does not download from the short link')
  // The long form's page (/l#token) too, which takes the token out of the address bar.
  const token = result.link.slice(result.link.lastIndexOf('/') + 1)
  await linkTab.goto(`${cfg.web}/l#${token}`)
  await linkTab.getByRole('heading', { name: names[0] }).waitFor({ timeout })
  check(await linkTab.getByRole('link', { name: 'Download' }).getAttribute('href') === result.link, 'the link page does not download from the link')
  check(!linkTab.url().includes(token), `the link token stays in the address bar: ${linkTab.url()}`)
  // Only the fragment changes: the page follows it and no longer shows the first file.
  await linkTab.evaluate(() => { location.hash = '#not*a*token' })
  await linkTab.getByText('This link is incomplete. Ask for the whole link again.').waitFor({ timeout })
  check(await linkTab.getByRole('heading', { name: names[0] }).count() === 0, 'the link page still shows the first file after the token changed')
  await fresh.close()

  begin('no token in localStorage, sessionStorage, IndexedDB or cookies')
  check(tokens.size > 0, 'the page sent no bearer token at all')
  check(refreshTokens.size > 0, 'the page received no refresh token at all')
  const stored = await page.evaluate(dumpStorage)
  const cookies = JSON.stringify(await ctx.cookies())
  for (const [what, t] of [...[...tokens].map((t) => ['an access token', t]), ...[...refreshTokens].map((t) => ['a refresh token', t])]) {
    check(!stored.includes(t), `${what} is in web storage, IndexedDB or document.cookie`)
    check(!cookies.includes(t), `${what} is in a cookie`)
  }
  check(!/eyJ[A-Za-z0-9_-]{10,}\./.test(stored), `a JWT is in web storage, IndexedDB or document.cookie: ${stored}`)
  result.storage = stored

  begin('a page on an origin not configured gets no CORS access to files or auth')
  const other = await ctx.newPage()
  await other.goto(cfg.other)
  // The storage dump sees what a page puts in IndexedDB (else the check above proves nothing).
  const canary = `canary-${Date.now()}`
  await other.evaluate((value) => new Promise((resolve, reject) => {
    const open = indexedDB.open('canary-db')
    open.onupgradeneeded = () => open.result.createObjectStore('canary-store')
    open.onerror = () => reject(open.error)
    open.onsuccess = () => {
      const tx = open.result.transaction('canary-store', 'readwrite')
      tx.objectStore('canary-store').put(new TextEncoder().encode(value).buffer, 'k')
      tx.oncomplete = () => { open.result.close(); resolve() }
      tx.onerror = () => reject(tx.error)
    }
  }), canary)
  const otherStored = await other.evaluate(dumpStorage)
  check(otherStored.includes(canary), `the storage dump missed a value in IndexedDB: ${otherStored}`)
  result.cors = await other.evaluate(async ({ files, auth, token }) => {
    const out = {}
    for (const [name, url, init] of [
      ['withToken', `${files}/v1/files`, { headers: { Authorization: `Bearer ${token}` } }],
      ['simple', `${files}/v1/files`, {}],
      // A refresh token that is none: the auth service answers 400, which the browser hides.
      ['authToken', `${auth}/oauth2/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'not-a-token', client_id: 'coffer-web' }) }],
      ['authDiscovery', `${auth}/.well-known/openid-configuration`, {}],
    ]) {
      try {
        const r = await fetch(url, init)
        out[name] = `read ${r.status}`
      } catch (e) {
        out[name] = `blocked: ${e.name}`
      }
    }
    return out
  }, { files: cfg.files_url, auth: cfg.auth, token: [...tokens][0] })
  for (const [name, got] of Object.entries(result.cors)) check(got.startsWith('blocked'), `other origin, ${name}: ${got}`)
  check(Object.keys(result.cors).length === 4, `other origin: ${JSON.stringify(result.cors)}`)
  await other.close()
  // The page's own origin reads the same auth answers: the probe above fails for the origin.
  result.corsOwn = await page.evaluate(async (auth) => {
    const out = {}
    for (const [name, url, init] of [
      ['authToken', `${auth}/oauth2/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'not-a-token', client_id: 'coffer-web' }) }],
      ['authDiscovery', `${auth}/.well-known/openid-configuration`, {}],
    ]) {
      try {
        out[name] = `read ${(await fetch(url, init)).status}`
      } catch (e) {
        out[name] = `blocked: ${e.name}`
      }
    }
    return out
  }, cfg.auth)
  check(result.corsOwn.authToken === 'read 400' && result.corsOwn.authDiscovery === 'read 200', `the page's own origin: ${JSON.stringify(result.corsOwn)}`)

  begin('keyboard: tabs switch with the arrow keys')
  await page.getByRole('tab', { name: 'My files' }).focus()
  await page.keyboard.press('ArrowRight')
  check(await page.getByRole('tab', { name: 'Shared with me' }).getAttribute('aria-selected') === 'true', 'ArrowRight did not select Shared with me')
  await page.keyboard.press('ArrowLeft')

  begin('delete with confirm')
  await rowAction(page, names[0], 'Delete')
  await page.getByRole('dialog').getByRole('button', { name: 'Delete', exact: true }).click()
  await page.waitForFunction((n) => ![...document.querySelectorAll('table.files tbody th.name')].some((e) => e.textContent === n), names[0], { timeout })
  result.afterDelete = await rowNames(page)
  const gone = await browser.newContext()
  const goneTab = await gone.newPage()
  await goneTab.goto(result.linkPage)
  await goneTab.getByText('This link has expired, was revoked, or has no downloads left.').waitFor({ timeout })
  await gone.close()

  begin('silent renewal keeps the session going')
  const deadline = Date.now() + timeout
  while (refreshes === 0 || tokens.size < 2) {
    check(Date.now() < deadline, `no silent renewal within ${timeout} ms (refreshes ${refreshes}, tokens ${tokens.size})`)
    await page.getByRole('tab', { name: 'My files' }).click()
    await page.waitForTimeout(500)
  }
  await page.getByRole('tab', { name: 'My files' }).click()
  await page.getByText(/^\d+ files?$/).waitFor()
  check(await page.getByRole('button', { name: 'Sign in' }).count() === 0, 'signed out after renewal')
  result.refreshes = refreshes

  begin('phone width: nothing wider than the screen')
  await page.setViewportSize({ width: 360, height: 740 })
  const widths = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth])
  check(widths[0] <= widths[1], `page is ${widths[0]}px wide at ${widths[1]}px`)
  await page.screenshot({ path: join(cfg.artifacts, 'web-phone.png'), fullPage: true })
  await page.setViewportSize({ width: 1000, height: 760 })

  begin('sign out ends the sign-in session too')
  await page.getByRole('button', { name: /^Account menu/ }).click()
  await page.getByRole('menuitem', { name: 'Sign out' }).click()
  // The auth service asks first: a GET never ends a session (another site could send one).
  await page.waitForURL((u) => u.href.startsWith(`${cfg.auth}/oauth2/logout`), { timeout })
  await page.getByRole('button', { name: 'Sign out' }).click()
  await page.waitForURL((u) => u.origin === new URL(cfg.web).origin && u.pathname === '/', { timeout })
  await page.getByText('You are signed out.').waitFor()
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.waitForURL((u) => u.href.startsWith(`${cfg.auth}/oauth2/authorize`), { timeout })
  await page.getByLabel('Password').waitFor() // the password again: the session is over
  await page.getByLabel('Username').fill(cfg.user1)
  await page.getByLabel('Password').fill(cfg.pass1)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('tab', { name: 'My files' }).waitFor({ timeout })

  begin('a session revoked elsewhere signs the page out, in words')
  check(latestRefresh !== '', 'no refresh token seen')
  const revoked = await fetch(`${cfg.auth}/oauth2/revoke`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: latestRefresh, client_id: 'coffer-web' }),
  })
  check(revoked.ok, `revoke answered ${revoked.status}`)
  // The next silent renewal (within the 5 s token lifetime) is refused.
  await page.getByText('You have been signed out. Sign in again to continue.').waitFor({ timeout })
  check(problems.length === 0, `problems on the page:\n${problems.join('\n')}`)
  await ctx.close()

  // --- the second user sees the shared file ---
  begin('the second user sees the shared file')
  const ctx2 = await browser.newContext({ viewport: { width: 1000, height: 760 } })
  ctx2.setDefaultTimeout(timeout)
  const page2 = await ctx2.newPage()
  current = page2
  const problems2 = []
  watch(page2, problems2)
  await signIn(page2, cfg.user2, cfg.pass2)
  await page2.getByRole('tab', { name: 'Shared with me' }).click()
  await page2.waitForFunction((n) => [...document.querySelectorAll('table.files tbody th.name')].some((e) => e.textContent === n), names[1], { timeout })
  result.sharedSeen = await rowNames(page2)
  check(problems2.length === 0, `problems on the page:\n${problems2.join('\n')}`)
  await ctx2.close()

  console.log(JSON.stringify({ ok: true, ...result }))
} catch (e) {
  await current?.screenshot({ path: join(cfg.artifacts, 'web-failure.png'), fullPage: true }).catch(() => {})
  result.text = await current?.locator('main').innerText().catch(() => '')
  console.error(`web.mjs: page text:\n${result.text}\nweb.mjs: console:\n${allProblems.join('\n')}`)
  console.log(JSON.stringify({ ok: false, step, error: String(e?.stack ?? e), ...result }))
  process.exitCode = 1
} finally {
  await browser.close()
}
