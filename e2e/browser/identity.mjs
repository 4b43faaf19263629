// Drives the identity pages of Coffer's auth service in Debian's headless chromium with
// playwright-core, as a person would: create an account from the sign-in page, set up a TOTP
// second factor on the account page (the code computed here from the secret the page shows,
// RFC 6238), sign in again with password and code, and accept an invitation link. Run by
// e2e/web_identity_test.go; settings come as JSON in COFFER_WEB_TEST, one JSON result line
// goes to stdout, and any failed check exits non-zero naming its step.
import { chromium } from 'playwright-core'
import { createHmac } from 'node:crypto'
import { join } from 'node:path'

const cfg = JSON.parse(process.env.COFFER_WEB_TEST ?? '{}')
const timeout = 60_000
const result = { steps: [] }
let step = 'start'
let current

function begin(name) {
  step = name
  result.steps.push(name)
  console.error(`identity.mjs: ${name}`)
}
function check(ok, message) {
  if (!ok) throw new Error(message)
}

// totp is RFC 6238 (HMAC-SHA1, 6 digits, 30 s steps) of a base32 secret at time t (ms).
function totp(secret, t) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
  let bits = ''
  for (const ch of secret.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(ch).toString(2).padStart(5, '0')
  const key = Buffer.alloc(Math.floor(bits.length / 8))
  for (let i = 0; i < key.length; i++) key[i] = parseInt(bits.slice(i * 8, i * 8 + 8), 2)
  const counter = Buffer.alloc(8)
  counter.writeBigUInt64BE(BigInt(Math.floor(t / 1000 / 30)))
  const mac = createHmac('sha1', key).update(counter).digest()
  const off = mac[mac.length - 1] & 0xf
  const n = (mac.readUInt32BE(off) & 0x7fffffff) % 1_000_000
  return String(n).padStart(6, '0')
}

const browser = await chromium.launch({
  executablePath: cfg.chromium || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
  timeout,
})

async function newPage() {
  const ctx = await browser.newContext({ viewport: { width: 900, height: 900 } })
  ctx.setDefaultTimeout(timeout)
  const page = await ctx.newPage()
  page.on('console', (m) => {
    if (/Content.Security.Policy/i.test(m.text())) result.csp = (result.csp ?? []).concat(m.text())
  })
  current = page
  return page
}

// toAuthorizePage opens the web page and follows its Sign in button to the auth service.
async function toAuthorizePage(page) {
  await page.goto(cfg.web)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.waitForURL((u) => u.href.startsWith(`${cfg.auth}/oauth2/authorize`), { timeout })
}

async function signedInToWeb(page) {
  await page.waitForURL((u) => u.origin === new URL(cfg.web).origin && u.pathname === '/', { timeout })
  await page.getByRole('tab', { name: 'My files' }).waitFor({ timeout })
}

try {
  begin('create an account from the sign-in page')
  const page = await newPage()
  await toAuthorizePage(page)
  await page.getByRole('link', { name: 'Create account' }).click()
  await page.getByLabel('Username').fill(cfg.user)
  await page.getByLabel('Password').fill(cfg.pass)
  await page.getByRole('button', { name: 'Create account' }).click()
  await signedInToWeb(page)

  begin('set up two-factor authentication on the account page')
  await page.goto(`${cfg.auth}/oauth2/account`)
  check((await page.locator('#account-username').innerText()) === cfg.user, 'the account page names another user')
  check((await page.locator('#totp-status').innerText()).startsWith('Off'), 'two-factor authentication is on before set-up')
  await page.getByRole('button', { name: 'Set up two-factor authentication' }).click()
  const qr = page.getByRole('img', { name: 'QR code of the authenticator secret' })
  await qr.waitFor()
  check(await qr.evaluate((img) => img.complete && img.naturalWidth > 0), 'the QR code did not load (CSP?)')
  const secret = (await page.locator('#totp-secret').innerText()).trim()
  check(/^[A-Z2-7]{16,}$/.test(secret), `secret ${secret} is not base32`)
  await page.screenshot({ path: join(cfg.artifacts, 'identity-totp.png'), fullPage: true })
  const enrolledAt = Date.now()
  await page.getByLabel('Authentication code').fill(totp(secret, enrolledAt))
  await page.getByRole('button', { name: 'Turn on' }).click()
  const codes = await page.locator('#recovery-codes li').allInnerTexts()
  check(codes.length === 10, `${codes.length} recovery codes shown, want 10`)
  result.secret = secret
  result.recovery = codes
  await page.goto(`${cfg.auth}/oauth2/account`)
  check((await page.locator('#totp-status').innerText()).startsWith('On'), 'the account page does not say two-factor authentication is on')
  await page.context().close()

  begin('sign in again: password, then the code')
  const again = await newPage()
  await toAuthorizePage(again)
  await again.getByLabel('Username').fill(cfg.user)
  await again.getByLabel('Password').fill(cfg.pass)
  await again.getByRole('button', { name: 'Sign in' }).click()
  await again.getByLabel('Authentication code').waitFor()
  // The enrolment used this step's code: the next step's is the one an app shows next.
  await again.getByLabel('Password').fill(cfg.pass)
  await again.getByLabel('Authentication code').fill(totp(secret, enrolledAt + 30_000))
  await again.getByRole('button', { name: 'Sign in' }).click()
  await signedInToWeb(again)
  await again.context().close()

  begin('accept an invitation through its link')
  const inv = await newPage()
  await inv.goto(cfg.invitation)
  await inv.getByLabel('Username').fill(cfg.invitee)
  await inv.getByLabel('Password').fill(cfg.inviteePass)
  await inv.getByRole('button', { name: 'Create account' }).click()
  await inv.getByText('Account created').waitFor()
  await inv.getByLabel('Password').fill(cfg.inviteePass)
  await inv.getByRole('button', { name: 'Sign in' }).click()
  await inv.waitForURL((u) => u.pathname.endsWith('/oauth2/account'), { timeout })
  check((await inv.locator('#account-username').innerText()) === cfg.invitee, 'the invitee is not signed in as themselves')
  await inv.screenshot({ path: join(cfg.artifacts, 'identity-account.png'), fullPage: true })
  begin('the used invitation link is refused')
  const used = await inv.goto(cfg.invitation)
  check(used.status() === 404, `used invitation answered ${used.status()}`)
  await inv.context().close()

  check(!result.csp, `CSP violations: ${result.csp}`)
  console.log(JSON.stringify({ ok: true, ...result }))
} catch (e) {
  await current?.screenshot({ path: join(cfg.artifacts, 'identity-failure.png'), fullPage: true }).catch(() => {})
  result.text = await current?.locator('main').innerText().catch(() => '')
  console.error(`identity.mjs: page text:\n${result.text}`)
  console.log(JSON.stringify({ ok: false, step, error: String(e?.stack ?? e), ...result }))
  process.exitCode = 1
} finally {
  await browser.close()
}
