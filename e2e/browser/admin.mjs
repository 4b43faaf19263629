// Drives the web page's admin section in Debian's headless chromium with playwright-core, as
// an administrator would: sign in, invite someone (who signs up through the link in a fresh
// browser context and uploads a file), disable them (their page is signed out), set their
// quota, rotate a client's secret, revoke an invitation, delete the user with their files;
// and a non-admin is offered no admin section. Run by e2e/web_admin_test.go; settings come as JSON
// in COFFER_WEB_TEST, one JSON result line goes to stdout (findings under "extra"), and any
// failed check exits non-zero naming its step.
import { chromium } from 'playwright-core'
import { join } from 'node:path'

const cfg = JSON.parse(process.env.COFFER_WEB_TEST ?? '{}')
const timeout = 60_000
const result = { steps: [], extra: {} }
const problems = []
let step = 'start'
let current

function begin(name) {
  step = name
  result.steps.push(name)
  console.error(`admin.mjs: ${name}`)
}
function check(ok, message) {
  if (!ok) throw new Error(message)
}

const browser = await chromium.launch({
  executablePath: cfg.chromium || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
  timeout,
})

async function newPage() {
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 1000 } })
  ctx.setDefaultTimeout(timeout)
  const page = await ctx.newPage()
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
  page.on('console', (m) => {
    if (/Content.Security.Policy|Trusted Type/i.test(m.text())) problems.push(`console: ${m.text()}`)
  })
  current = page
  return page
}

// signIn goes through the auth service's authorization page from the web page.
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

// menuItems opens the header's user menu and returns its entries' names (then closes it).
async function menuItems(page) {
  await page.getByRole('button', { name: /^Account menu/ }).click()
  await page.getByRole('menuitem', { name: 'Sign out' }).waitFor()
  const names = await page.getByRole('menuitem').allInnerTexts()
  await page.keyboard.press('Escape')
  return names.map((n) => n.trim())
}

// userRow waits for the admin section's row of a user.
function userRow(page, name) {
  return page.locator(`#admin-users tr[data-user="${name}"]`)
}

async function searchUser(page, name) {
  await page.getByLabel('Search users').fill(name)
  await page.getByRole('button', { name: 'Search', exact: true }).click()
  await userRow(page, name).waitFor()
}

try {
  begin('the admin signs in and opens the admin section')
  const admin = await newPage()
  await signIn(admin, cfg.admin, cfg.adminPass)
  const items = await menuItems(admin)
  check(items.includes('Account settings') && items.includes('Administration'), `the admin's menu: ${items}`)
  await admin.getByRole('button', { name: /^Account menu/ }).click()
  await admin.getByRole('menuitem', { name: 'Administration' }).click()
  await admin.getByRole('heading', { name: 'Administration' }).waitFor()
  await userRow(admin, cfg.admin).waitFor()

  begin('the admin creates an invitation')
  await admin.getByRole('button', { name: 'Create invitation' }).click()
  const link = admin.locator('#invitation-url')
  await link.waitFor()
  result.extra.invitation = await link.inputValue()
  check(result.extra.invitation.startsWith(`${cfg.auth}/oauth2/invitation?token=`), `invitation link ${result.extra.invitation}`)

  begin('a fresh browser context accepts the invitation, signs in on the page and uploads')
  const invitee = await newPage()
  await invitee.goto(result.extra.invitation)
  await invitee.getByLabel('Username').fill(cfg.invitee)
  await invitee.getByLabel('Password').fill(cfg.inviteePass)
  await invitee.getByRole('button', { name: 'Create account' }).click()
  await invitee.getByText('Account created').waitFor()
  await signIn(invitee, cfg.invitee, cfg.inviteePass)
  check(!(await menuItems(invitee)).includes('Administration'), 'a non-admin is offered the admin section')
  await invitee.locator('#file-input').setInputFiles({ name: 'ivan.txt', mimeType: 'text/plain', buffer: Buffer.from('ivan was here') })
  await invitee.locator('table.files tbody th.name', { hasText: 'ivan.txt' }).waitFor()
  current = admin

  begin('the admin disables the invitee')
  await searchUser(admin, cfg.invitee)
  await admin.getByRole('button', { name: `Disable ${cfg.invitee}` }).click()
  await admin.waitForFunction((n) => document.querySelector(`#admin-users tr[data-user="${n}"] .status`)?.textContent?.startsWith('Disabled'), cfg.invitee)

  begin("the disabled invitee's page is signed out at its next renewal")
  current = invitee
  // Access tokens live 5 s in this stack: the page renews within 4 s and is refused.
  await invitee.getByText('You have been signed out').waitFor({ timeout: 20_000 })
  current = admin

  begin('the admin sets the invitee\'s quota')
  await admin.getByRole('button', { name: `Set quota of ${cfg.invitee}` }).click()
  await admin.getByLabel(`Quota of ${cfg.invitee} in MiB`).fill('5')
  await admin.getByRole('button', { name: 'Save quota' }).click()
  await admin.getByText(`Quota of ${cfg.invitee}: 5.0 MiB.`).waitFor()
  const storage = await userRow(admin, cfg.invitee).locator('td[data-label="Storage"]').innerText()
  check(storage === '13 B of 5.0 MiB', `storage column says ${storage}`)

  begin('the admin rotates a client secret')
  await admin.getByRole('button', { name: `Rotate the secret of client ${cfg.client}` }).click()
  const secret = admin.locator(`#admin-clients tr[data-client="${cfg.client}"] input.client-secret`)
  await secret.waitFor()
  result.extra.secret = await secret.inputValue()
  check(await admin.getByRole('button', { name: 'Disable client coffer-web' }).count() === 0, "the page offers to disable its own client")

  begin('the admin revokes a second invitation')
  await admin.getByLabel('Username for the invitee (optional)').fill('olga')
  await admin.getByRole('button', { name: 'Create invitation' }).click()
  await admin.locator('#invitation-url').waitFor()
  result.extra.revoked = await admin.locator('#invitation-url').inputValue()
  const revoke = admin.getByRole('button', { name: 'Revoke the invitation for olga' })
  await revoke.click()
  await revoke.waitFor({ state: 'detached' })
  await admin.screenshot({ path: join(cfg.artifacts, 'admin.png'), fullPage: true })

  begin('the admin deletes the invitee, the fate of their files stated')
  await admin.getByRole('button', { name: `Delete ${cfg.invitee}` }).click()
  const confirm = admin.getByRole('group', { name: `Delete ${cfg.invitee}` })
  check((await confirm.innerText()).includes('All their files are deleted too'), 'the delete confirmation does not say what becomes of the files')
  await admin.getByRole('button', { name: 'Delete user and files' }).click()
  await userRow(admin, cfg.invitee).waitFor({ state: 'detached' })
  result.extra.deleted = await admin.locator('#announcer').innerText()
  check(result.extra.deleted.includes('with 1 file (13 B)'), `announced: ${result.extra.deleted}`)
  await admin.context().close()
  await invitee.context().close()

  begin('a non-admin has no admin section; the menu leads to the account page')
  const plain = await newPage()
  await signIn(plain, cfg.plain, cfg.plainPass)
  const plainItems = await menuItems(plain)
  check(plainItems.includes('Account settings') && !plainItems.includes('Administration'), `the non-admin's menu: ${plainItems}`)
  await plain.getByRole('button', { name: /^Account menu/ }).click()
  await plain.getByRole('menuitem', { name: 'Account settings' }).click()
  await plain.waitForURL((u) => u.href.startsWith(`${cfg.auth}/oauth2/account`), { timeout })
  result.extra.accountHref = plain.url()
  check((await plain.locator('#account-username').innerText()) === cfg.plain, 'the account page names another user')
  await plain.context().close()

  check(problems.length === 0, `page problems: ${problems.join('; ')}`)
  console.log(JSON.stringify({ ok: true, ...result }))
} catch (e) {
  await current?.screenshot({ path: join(cfg.artifacts, 'admin-failure.png'), fullPage: true }).catch(() => {})
  const text = await current?.locator('main').innerText().catch(() => '')
  console.error(`admin.mjs: page text:\n${text}`)
  console.log(JSON.stringify({ ok: false, step, error: String(e?.stack ?? e), ...result }))
  process.exitCode = 1
} finally {
  await browser.close()
}
