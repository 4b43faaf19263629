// The page a person opening a download link sees: a short link (/s/{id}) or the long signed
// form (/l#<token>, the token in the fragment, which browsers never send to the web service).
// It shows the file's name and size and a download button, asks for the link's password when
// it has one, or says in words that the link no longer works.

import type { Config } from './config'
import { h, replace, announce } from './dom'
import { ApiError, apiError, explain } from './errors'
import { bytes } from './format'

// Target is the link to show: its short id or its signed token.
export type Target = { short: string } | { token: string }

interface Shown {
  name: string
  size: number
  download: string
}

export async function linkPage(cfg: Config, main: HTMLElement, target: Target): Promise<void> {
  const bad = 'short' in target ? !/^[A-Za-z0-9]{1,64}$/.test(target.short) : !/^[A-Za-z0-9._~-]+$/.test(target.token)
  if (bad) {
    broken(main, 'This link is incomplete. Ask for the whole link again.')
    return
  }
  const look = (password: string) => describe(cfg, target, password)
  try {
    show(main, await look(''), '')
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) {
      broken(main, explain(e, { action: 'link' }))
      return
    }
    // A wrong or missing password answers like an unknown link (so links cannot be probed):
    // ask for one, and say what else it may be.
    const pw = h('input', { type: 'password', id: 'link-pass', name: 'password', autocomplete: 'off', required: true })
    const msg = h('p', { class: 'error', role: 'alert' })
    const form = h('form', { class: 'password-form' },
      h('p', { class: 'note' }, 'This link has expired, was revoked, or has no downloads left.'),
      h('p', {}, 'Or it asks for a password: if you were given one, type it here.'),
      h('label', { for: 'link-pass' }, 'Password'), pw, msg,
      h('button', { type: 'submit', class: 'primary' }, 'Continue'))
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault()
      replace(msg)
      try {
        show(main, await look(pw.value), pw.value)
      } catch (err) {
        replace(msg, explain(err, { action: 'link password' }))
        pw.select()
      }
    })
    replace(main, h('section', { class: 'welcome' }, h('h2', {}, 'This link does not open'), form))
    pw.focus()
  }
}

// describe asks the file service what the link serves, without taking from its budget.
async function describe(cfg: Config, target: Target, password: string): Promise<Shown> {
  const headers: Record<string, string> = password ? { 'Coffer-Link-Password': password } : {}
  if ('short' in target) {
    const res = await fetch(`${cfg.files_url}/v1/s/${encodeURIComponent(target.short)}/info`, { headers, credentials: 'omit', cache: 'no-store' })
    if (!res.ok) throw await apiError(res)
    const j = (await res.json()) as { name: string; size: number; download_url: string }
    return { name: j.name, size: j.size, download: new URL(j.download_url, cfg.files_url + '/').href }
  }
  const url = `${cfg.files_url}/v1/links/${encodeURIComponent(target.token)}`
  const res = await fetch(url, { method: 'HEAD', headers, credentials: 'omit', cache: 'no-store' })
  if (!res.ok) throw await apiError(res)
  return {
    name: filename(res.headers.get('Content-Disposition') ?? '') || 'file',
    size: Number(res.headers.get('Content-Length') ?? '-1'),
    download: url,
  }
}

function show(main: HTMLElement, f: Shown, password: string): void {
  let button: HTMLElement
  if (!password) {
    // The browser saves it straight from the file service, streaming to disk.
    button = h('a', { href: f.download, class: 'button primary', download: f.name }, 'Download')
  } else {
    // A password travels in a header, which a plain link cannot send: fetch, then save.
    const msg = h('p', { class: 'error', role: 'alert' })
    const b = h('button', { type: 'button', class: 'primary' }, 'Download')
    b.addEventListener('click', async () => {
      b.disabled = true
      replace(msg)
      try {
        const res = await fetch(f.download, { headers: { 'Coffer-Link-Password': password }, credentials: 'omit', cache: 'no-store' })
        if (!res.ok) throw await apiError(res)
        const url = URL.createObjectURL(new Blob([await res.blob()], { type: 'application/octet-stream' }))
        const a = h('a', { href: url, download: f.name, class: 'visually-hidden' })
        document.body.appendChild(a)
        a.click()
        a.remove()
        setTimeout(() => URL.revokeObjectURL(url), 60_000)
        announce(`${f.name} downloaded.`)
      } catch (e) {
        replace(msg, explain(e, { action: 'link' }))
      } finally {
        b.disabled = false
      }
    })
    button = h('div', {}, b, msg)
  }
  replace(main, h('section', { class: 'welcome' },
    h('h2', {}, f.name),
    h('p', {}, f.size >= 0 ? bytes(f.size) : ''),
    button))
}

function broken(main: HTMLElement, why: string): void {
  replace(main, h('section', { class: 'welcome' },
    h('h2', {}, 'This link does not work'),
    h('p', { class: 'error', role: 'alert' }, why)))
}

// filename reads the name from a Content-Disposition header (RFC 6266, preferring filename*).
function filename(cd: string): string {
  const star = /filename\*\s*=\s*UTF-8''([^;]+)/i.exec(cd)
  if (star) {
    try {
      return decodeURIComponent(star[1].trim())
    } catch {
      // fall through to the plain form
    }
  }
  const plain = /filename\s*=\s*"((?:[^"\\]|\\.)*)"/i.exec(cd)
  return plain ? plain[1].replace(/\\(.)/g, '$1') : ''
}
