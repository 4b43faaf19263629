// File requests: upload-only links into the owner's space. The owner's panel makes them (a
// dialog that shows the short page to send), lists them with what arrived, closes and deletes
// them. The public page (/r/{id}) is what someone without an account sees: the request's
// title and message, its password and their name if asked, a drop zone and a progress bar per
// file. It shows nothing of the owner's files, not even what the uploader sent before.

import type { Files, FileInfo } from './api'
import type { Config } from './config'
import { dialog, cancel, copyField } from './dialog'
import { h, replace, append, announce } from './dom'
import { ApiError, apiError, explain } from './errors'
import { bytes, date } from './format'
import { Uploads } from './uploads'

// RequestInfo is a file request as its owner sees it.
export interface RequestInfo {
  id: string
  title: string
  message: string
  url: string
  page_url?: string
  expires_at: string
  max_files?: number
  max_bytes?: number
  require_name: boolean
  password: boolean
  files_used: number
  bytes_used: number
  open: boolean
  closed_at?: string
  created_at: string
}

// requestPageURL is the public page of a request, on this web page's origin.
export function requestPageURL(r: { url: string }): string {
  return `${location.origin}/r/${r.url.slice(r.url.lastIndexOf('/') + 1)}`
}

// RequestsPanel is the owner's list of file requests, with the button that makes one.
export class RequestsPanel {
  readonly element: HTMLElement
  private readonly list = h('ul', { class: 'requests', 'aria-label': 'File requests' })
  private readonly status = h('p', { class: 'list-status', role: 'status' })
  private readonly error = h('p', { class: 'error', role: 'alert' })
  private readonly more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Show more requests')
  private cursor: string | null = null

  constructor(private readonly files: Files) {
    const create = h('button', { type: 'button', class: 'primary' }, 'Request files')
    create.addEventListener('click', () => this.createDialog())
    this.more.addEventListener('click', () => void this.load(true))
    this.element = h('section', { class: 'requests-area', 'aria-labelledby': 'requests-title' },
      h('div', { class: 'section-head' }, h('h2', { id: 'requests-title' }, 'File requests'), create),
      h('p', { class: 'note' }, 'A file request is a link through which anyone can send you files, without an account. They cannot see any of your files.'),
      this.error, this.list, this.status, this.more)
  }

  async load(more = false): Promise<void> {
    try {
      const q = new URLSearchParams({ limit: '20' })
      if (more && this.cursor) q.set('cursor', this.cursor)
      const p = (await (await this.files.call(`/v1/requests?${q}`)).json()) as { requests: RequestInfo[]; next_cursor: string | null }
      if (!more) this.list.replaceChildren()
      for (const r of p.requests) this.list.appendChild(this.item(r))
      this.cursor = p.next_cursor
      this.more.hidden = !p.next_cursor
      replace(this.error)
      replace(this.status, this.list.children.length === 0 ? 'No file requests yet.' : '')
    } catch (e) {
      replace(this.error, explain(e, { action: 'list your file requests' }))
    }
  }

  private item(r: RequestInfo): HTMLElement {
    const state = r.open ? 'Open' : r.closed_at ? 'Closed' : 'Expired'
    const limits = [
      `${r.files_used}${r.max_files ? ` of ${r.max_files}` : ''} file${(r.max_files ?? r.files_used) === 1 ? '' : 's'}`,
      `${bytes(r.bytes_used)}${r.max_bytes ? ` of ${bytes(r.max_bytes)}` : ''}`,
    ].join(' · ')
    const arrivals = h('ul', { class: 'arrivals', 'aria-label': `Files sent to ${r.title}`, hidden: true })
    const msg = h('p', { class: 'error', role: 'alert' })
    const show = h('button', { type: 'button', class: 'secondary', 'aria-expanded': 'false', 'aria-label': `Files sent to ${r.title}` }, 'Files sent')
    const close = h('button', { type: 'button', class: 'secondary', 'aria-label': `Close request ${r.title}`, disabled: !r.open }, 'Close')
    const del = h('button', { type: 'button', class: 'danger', 'aria-label': `Delete request ${r.title}` }, 'Delete')
    const li = h('li', { class: 'request', 'data-request': r.id, 'data-state': state.toLowerCase() },
      h('div', { class: 'request-head' },
        h('span', { class: 'request-title' }, r.title),
        h('span', { class: 'badge' }, state)),
      h('p', { class: 'request-detail' },
        `${limits} · ${r.open ? 'until' : 'was open until'} ${date(r.expires_at)}${r.password ? ' · password' : ''}${r.require_name ? ' · name asked' : ''}`),
      r.open ? copyField(`request-link-${r.id}`, 'Page to send', requestPageURL(r)) : null,
      h('div', { class: 'actions' }, show, close, del),
      msg, arrivals)

    show.addEventListener('click', async () => {
      const open = show.getAttribute('aria-expanded') === 'true'
      show.setAttribute('aria-expanded', String(!open))
      arrivals.hidden = open
      if (open) return
      try {
        const p = (await (await this.files.call(`/v1/requests/${r.id}/files?limit=100`)).json()) as { files: FileInfo[] }
        replace(arrivals, ...(p.files.length === 0 ? [h('li', {}, 'Nothing has arrived yet.')] : p.files.map((f) =>
          h('li', { 'data-id': f.id },
            h('span', { class: 'name' }, f.name), ' ',
            h('span', { class: 'access-detail' }, `${bytes(f.size)} · from ${f.uploader_name || 'someone who gave no name'} · ${date(f.created_at)}`)))))
      } catch (e) {
        replace(msg, explain(e, { action: 'list what arrived' }))
      }
    })
    close.addEventListener('click', async () => {
      close.disabled = true
      try {
        await this.files.call(`/v1/requests/${r.id}/close`, { method: 'POST' })
        announce(`“${r.title}” is closed: it takes no more files.`)
        void this.load()
      } catch (e) {
        close.disabled = false
        replace(msg, explain(e, { action: 'close the request' }))
      }
    })
    del.addEventListener('click', () => {
      dialog(`Delete the request “${r.title}”?`, (d, closeDialog) => {
        const err = h('p', { class: 'error', role: 'alert' })
        const yes = h('button', { type: 'button', class: 'danger' }, 'Delete request')
        yes.addEventListener('click', async () => {
          yes.disabled = true
          try {
            await this.files.call(`/v1/requests/${r.id}`, { method: 'DELETE' })
            closeDialog()
            announce(`The request “${r.title}” is deleted.`)
            void this.load()
          } catch (e) {
            yes.disabled = false
            replace(err, explain(e, { action: 'delete the request' }))
          }
        })
        append(d, h('p', {}, 'Its link stops working at once. The files that arrived through it stay in your files.'), err,
          h('div', { class: 'dialog-actions' }, yes, cancel(closeDialog)))
        return yes
      })
    })
    return li
  }

  private createDialog(): void {
    dialog('Request files', (d, close) => {
      const field = (id: string, label: string, input: HTMLElement) => [h('label', { for: id }, label), input]
      const title = h('input', { type: 'text', id: 'request-title', name: 'title', required: true, maxlength: 200 })
      const message = h('textarea', { id: 'request-message', name: 'message', rows: 3, maxlength: 2000 })
      const expiry = h('select', { id: 'request-expiry', name: 'expiry' },
        h('option', { value: '86400' }, '1 day'),
        h('option', { value: '604800', selected: true }, '7 days'),
        h('option', { value: '2592000' }, '30 days'))
      const maxFiles = h('input', { type: 'number', id: 'request-max-files', name: 'max_files', min: 1, step: 1, inputmode: 'numeric' })
      const maxMiB = h('input', { type: 'number', id: 'request-max-bytes', name: 'max_bytes', min: 0.001, step: 'any', inputmode: 'decimal' })
      const password = h('input', { type: 'password', id: 'request-password', name: 'password', autocomplete: 'new-password' })
      const needName = h('input', { type: 'checkbox', id: 'request-name', name: 'require_name' })
      const msg = h('p', { class: 'error', role: 'alert' })
      const result = h('div', { class: 'link-result' })
      const submit = h('button', { type: 'submit', class: 'primary' }, 'Create request')
      const form = h('form', {},
        ...field('request-title', 'Title (what you ask for)', title),
        ...field('request-message', 'Message to the people who send (optional)', message),
        ...field('request-expiry', 'Takes files for', expiry),
        ...field('request-max-files', 'Most files (empty: no limit)', maxFiles),
        ...field('request-max-bytes', 'Most MiB in total (empty: no limit)', maxMiB),
        ...field('request-password', 'Password (optional)', password),
        h('div', { class: 'check' }, needName, h('label', { for: 'request-name' }, 'Senders must give their name')),
        msg,
        h('div', { class: 'dialog-actions' }, submit, cancel(close, 'Close')),
        result)
      form.addEventListener('submit', async (e) => {
        e.preventDefault()
        replace(msg)
        const body: Record<string, unknown> = {
          title: title.value.trim(), message: message.value.trim(), expires_in: Number(expiry.value), require_name: needName.checked,
        }
        if (maxFiles.value) body.max_files = Number(maxFiles.value)
        if (maxMiB.value) body.max_bytes = Math.max(1, Math.round(Number(maxMiB.value) * 1048576))
        if (password.value) body.password = password.value
        submit.disabled = true
        try {
          const r = (await (await this.files.call('/v1/requests', this.files.json('POST', body))).json()) as RequestInfo
          form.querySelectorAll('input, textarea, select').forEach((el) => ((el as HTMLInputElement).disabled = true))
          replace(result,
            h('p', { role: 'status' }, `“${r.title}” takes files until ${date(r.expires_at)}. Send this link to the people who should send you files${r.password ? ', and the password separately' : ''}:`),
            copyField('request-link', 'Page to send', requestPageURL(r)))
          const out = result.querySelector('input')
          out?.focus()
          out?.select()
          password.value = ''
          void this.load()
        } catch (err) {
          submit.disabled = false
          replace(msg, explain(err, { action: 'create the request' }))
        }
      })
      append(d, form)
      return title
    })
  }
}

// PublicRequest is what /v1/r/{id} tells an uploader.
interface PublicRequest {
  title: string
  message: string
  expires_at: string
  require_name: boolean
  files_left?: number
  bytes_left?: number
  max_file_size: number
  upload_url: string
}

// requestPage is the public page of the file request with that short id (/r/{id}).
export async function requestPage(cfg: Config, main: HTMLElement, id: string): Promise<void> {
  const info = `${cfg.files_url}/v1/r/${encodeURIComponent(id)}`
  const ask = async (password: string): Promise<PublicRequest> => {
    const res = await fetch(info, { headers: password ? { 'Coffer-Link-Password': password } : {}, credentials: 'omit', cache: 'no-store' })
    if (!res.ok) throw await apiError(res)
    return (await res.json()) as PublicRequest
  }
  if (!/^[A-Za-z0-9]{1,64}$/.test(id)) {
    replace(main, h('section', { class: 'welcome' }, h('h2', {}, 'This link does not work'),
      h('p', { class: 'error', role: 'alert' }, 'This link is incomplete. Ask for the whole link again.')))
    return
  }
  try {
    uploadView(cfg, main, id, '', await ask(''))
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) {
      replace(main, h('section', { class: 'welcome' }, h('h2', {}, 'Send files'), h('p', { class: 'error', role: 'alert' }, explain(e, { action: 'open the request' }))))
      return
    }
    // Closed, expired, unknown and password-protected requests all answer 404 (so requests
    // cannot be probed): ask for a password, and say what else it may be.
    const pw = h('input', { type: 'password', id: 'request-pass', name: 'password', autocomplete: 'off', required: true })
    const msg = h('p', { class: 'error', role: 'alert' })
    const form = h('form', { class: 'password-form' },
      h('p', { class: 'note' }, 'This request has been closed or has expired.'),
      h('p', {}, 'Or it asks for a password: if you were given one, type it here.'),
      h('label', { for: 'request-pass' }, 'Password'), pw, msg,
      h('button', { type: 'submit', class: 'primary' }, 'Continue'))
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault()
      replace(msg)
      try {
        uploadView(cfg, main, id, pw.value, await ask(pw.value))
      } catch (err) {
        replace(msg, explain(err, { action: 'open request' }))
        pw.select()
      }
    })
    replace(main, h('section', { class: 'welcome' }, h('h2', {}, 'Send files'), form))
    pw.focus()
  }
}

function uploadView(cfg: Config, main: HTMLElement, id: string, password: string, r: PublicRequest): void {
  const list = h('ul', { class: 'uploads', 'aria-label': 'Files you send' })
  const headers: Record<string, string> = { 'Coffer-Request': id }
  if (password) headers['Coffer-Link-Password'] = password
  const endpoint = new URL(r.upload_url, cfg.files_url + '/').href
  const uploads = new Uploads(async () => headers, endpoint, list, () => {}, 'send')
  const name = h('input', { type: 'text', id: 'uploader-name', name: 'name', autocomplete: 'name', maxlength: 100, required: r.require_name })
  const msg = h('p', { class: 'error', role: 'alert' })
  const limits = [
    r.files_left !== undefined ? `${r.files_left} more file${r.files_left === 1 ? '' : 's'}` : '',
    r.bytes_left !== undefined ? `${bytes(r.bytes_left)} in total` : '',
    `files up to ${bytes(r.max_file_size)} each`,
  ].filter((s) => s !== '').join(', ')

  const send = (picked: File[]) => {
    replace(msg)
    const who = name.value.trim()
    if (r.require_name && who === '') {
      replace(msg, 'Type your name first: the person who asked for these files wants to know who sent them.')
      name.focus()
      return
    }
    const big = picked.find((f) => f.size > r.max_file_size)
    if (big) replace(msg, `“${big.name}” is too large: files can be at most ${bytes(r.max_file_size)}.`)
    uploads.add(picked.filter((f) => f.size <= r.max_file_size), '', who ? { uploader: who } : {})
  }
  const input = h('input', { type: 'file', id: 'send-input', multiple: true, class: 'visually-hidden' })
  input.addEventListener('change', () => {
    if (input.files) send(Array.from(input.files))
    input.value = ''
  })
  const drop = h('div', { class: 'drop' },
    h('p', {}, 'Drop files here, or '),
    h('label', { for: 'send-input', class: 'button primary' }, 'Choose files'),
    input)
  drop.addEventListener('dragover', (e) => {
    e.preventDefault()
    drop.classList.add('over')
  })
  drop.addEventListener('dragleave', () => drop.classList.remove('over'))
  drop.addEventListener('drop', (e) => {
    e.preventDefault()
    drop.classList.remove('over')
    if (e.dataTransfer?.files.length) send(Array.from(e.dataTransfer.files))
  })
  replace(main, h('section', { class: 'send-area', 'aria-labelledby': 'send-title' },
    h('h2', { id: 'send-title' }, r.title),
    r.message ? h('p', { class: 'request-message' }, r.message) : null,
    h('p', { class: 'note' }, `You can send ${limits}, until ${date(r.expires_at)}. You will not see anything else here, not even the files once sent.`),
    h('label', { for: 'uploader-name' }, r.require_name ? 'Your name' : 'Your name (optional)'), name,
    msg, drop, list))
  ;(r.require_name ? name : input).focus()
}
