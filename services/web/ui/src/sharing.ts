// Links and shares of one file, as its owner makes and manages them: the link dialog (expiry,
// downloads, password; it shows the short page for people), and the access dialog that lists
// the file's links and the people it is shared with, page by page as the API pages them, and
// revokes either at once.

import type { Files, FileInfo } from './api'
import { dialog, cancel, copyField } from './dialog'
import { h, replace, append, announce } from './dom'
import { explain } from './errors'
import { bytes, date } from './format'

// LinkInfo is a link as GET /v1/files/{id}/links lists it (the signed URL only when made).
export interface LinkInfo {
  id: string
  file_id: string
  file_name: string
  url?: string
  short_url?: string
  page_url?: string
  expires_at: string
  max_downloads?: number
  budget_bytes?: number
  served_bytes: number
  password: boolean
  created_at: string
}

export interface ShareInfo {
  file_id: string
  user_id: string
  username?: string
  created_at: string
}

type LinkPage = { links: LinkInfo[]; next_cursor: string | null }
type SharePage = { shares: ShareInfo[]; next_cursor: string | null }

const pageSize = 20

function fileURL(id: string, rest = ''): string {
  return `/v1/files/${encodeURIComponent(id)}${rest}`
}

function paged(cursor?: string): string {
  const q = new URLSearchParams({ limit: String(pageSize) })
  if (cursor) q.set('cursor', cursor)
  return q.toString()
}

// shortID is the last path segment of a short link (…/v1/s/{id}).
function shortID(l: { short_url?: string }): string {
  return l.short_url ? l.short_url.slice(l.short_url.lastIndexOf('/') + 1) : ''
}

// linkPageURL is the page for people of a short link, on this web page's origin.
export function linkPageURL(l: { short_url?: string; page_url?: string }): string {
  const id = shortID(l)
  return id ? `${location.origin}/s/${id}` : (l.page_url ?? '')
}

// marks is what a row of mine shows about how the file is given out.
export function marks(f: FileInfo): HTMLElement | null {
  if (!f.shared && !f.linked && !f.shared_by && !f.uploader_name) return null
  const el = h('span', { class: 'marks' })
  if (f.shared) append(el, h('span', { class: 'badge', title: 'Shared with people' }, 'Shared'))
  if (f.linked) append(el, h('span', { class: 'badge', title: 'Has a download link' }, 'Linked'))
  if (f.uploader_name) append(el, h('span', { class: 'badge', title: 'Arrived through a file request' }, `From ${f.uploader_name}`))
  // By name when the service knows it (the owner's username when they shared), else by id;
  // the id stays in the tooltip, since a name is what it was at share time.
  if (f.shared_by) append(el, h('span', { class: 'shared-by', title: `User id ${f.shared_by}` }, `Shared by ${f.shared_by_name || f.shared_by}`))
  return el
}

// linkDialog makes a link to f: how long it works, how many downloads it serves (as bytes:
// that many times the file's size, see the README), and an optional password.
export function linkDialog(files: Files, f: FileInfo, changed: () => void): void {
  dialog(`Link to “${f.name}”`, (d, close) => {
    const expiry = h('select', { id: 'link-expiry', name: 'expiry' },
      h('option', { value: '3600' }, '1 hour'),
      h('option', { value: '86400', selected: true }, '1 day'),
      h('option', { value: '604800' }, '7 days'))
    const downloads = h('input', { type: 'number', id: 'link-downloads', name: 'downloads', min: 1, step: 1, inputmode: 'numeric' })
    const password = h('input', { type: 'password', id: 'link-password', name: 'password', autocomplete: 'new-password' })
    const msg = h('p', { class: 'error', role: 'alert' })
    const result = h('div', { class: 'link-result' })
    const form = h('form', {},
      h('p', {}, 'Anyone with the link (and its password, if you set one) can download this file until it expires.'),
      h('label', { for: 'link-expiry' }, 'Link expires after'), expiry,
      h('label', { for: 'link-downloads' }, 'Downloads (empty: no limit)'), downloads,
      h('label', { for: 'link-password' }, 'Password (optional)'), password, msg,
      h('div', { class: 'dialog-actions' }, h('button', { type: 'submit', class: 'primary' }, 'Create link'), cancel(close, 'Close')),
      result)
    form.addEventListener('submit', async (e) => {
      e.preventDefault()
      replace(msg)
      const body: Record<string, unknown> = { expires_in: Number(expiry.value) }
      if (downloads.value) body.max_downloads = Number(downloads.value)
      if (password.value) body.password = password.value
      try {
        const l = (await (await files.call(fileURL(f.id, '/links'), files.json('POST', body))).json()) as LinkInfo
        const page = linkPageURL(l)
        replace(result,
          page ? copyField('link-page', 'Link for people', page) : null,
          l.url ? copyField('link-url', 'Direct download link (for programs)', new URL(l.url, files.base + '/').href) : null,
          h('p', {}, `Expires ${date(l.expires_at)}.${l.password ? ' People will be asked for the password.' : ''}`))
        const first = result.querySelector('input')
        first?.focus()
        first?.select()
        password.value = ''
        changed()
      } catch (err) {
        replace(msg, explain(err, { fileName: f.name, action: 'create a link' }))
      }
    })
    append(d, form)
    return expiry
  })
}

// accessDialog lists f's links and shares, each with a button that revokes it.
export function accessDialog(files: Files, f: FileInfo, changed: () => void): void {
  dialog(`Links and shares of “${f.name}”`, (d, close) => {
    const msg = h('p', { class: 'error', role: 'alert' })
    const linkList = h('ul', { class: 'access-list', 'aria-label': 'Links' })
    const shareList = h('ul', { class: 'access-list', 'aria-label': 'People' })
    const moreLinks = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Show more links')
    const moreShares = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Show more people')
    const linkStatus = h('p', { class: 'list-status', role: 'status' })
    const shareStatus = h('p', { class: 'list-status', role: 'status' })
    let linkCursor: string | null = null
    let shareCursor: string | null = null

    const count = (list: HTMLElement, status: HTMLElement, none: string) =>
      replace(status, list.children.length === 0 ? none : '')

    const linkItem = (l: LinkInfo): HTMLElement => {
      const id = shortID(l)
      const used = l.budget_bytes !== undefined
        ? `${bytes(l.served_bytes)} of ${bytes(l.budget_bytes)} served (${l.max_downloads} download${l.max_downloads === 1 ? '' : 's'})`
        : `${bytes(l.served_bytes)} served, no limit`
      const revoke = h('button', { type: 'button', class: 'danger', 'aria-label': `Revoke link ${id || l.id}` }, 'Revoke')
      const li = h('li', { 'data-link': l.id },
        h('div', { class: 'access-what' },
          h('span', { class: 'access-name' }, id ? `/s/${id}` : 'Link'),
          h('span', { class: 'access-detail' }, `Expires ${date(l.expires_at)} · ${used}${l.password ? ' · password' : ''}`)),
        revoke)
      revoke.addEventListener('click', async () => {
        revoke.disabled = true
        try {
          await files.call(fileURL(f.id, `/links/${encodeURIComponent(l.id)}`), { method: 'DELETE' })
          li.remove()
          count(linkList, linkStatus, 'No links.')
          announce('Link revoked. It no longer works.')
          changed()
        } catch (err) {
          revoke.disabled = false
          replace(msg, explain(err, { fileName: f.name, action: 'revoke the link' }))
        }
      })
      return li
    }

    const shareItem = (s: ShareInfo): HTMLElement => {
      const who = s.username || s.user_id
      const stop = h('button', { type: 'button', class: 'danger', 'aria-label': `Stop sharing with ${who}` }, 'Stop sharing')
      const li = h('li', { 'data-user': s.user_id },
        h('div', { class: 'access-what' },
          h('span', { class: 'access-name' }, who),
          h('span', { class: 'access-detail' }, `Since ${date(s.created_at)}`)),
        stop)
      stop.addEventListener('click', async () => {
        stop.disabled = true
        try {
          await files.call(fileURL(f.id, `/shares/${encodeURIComponent(s.user_id)}`), { method: 'DELETE' })
          li.remove()
          count(shareList, shareStatus, 'Not shared with anyone.')
          announce(`${who} can no longer see “${f.name}”.`)
          changed()
        } catch (err) {
          stop.disabled = false
          replace(msg, explain(err, { fileName: f.name, action: 'stop sharing' }))
        }
      })
      return li
    }

    const loadLinks = async (more: boolean) => {
      try {
        const p = (await (await files.call(`${fileURL(f.id, '/links')}?${paged(more ? (linkCursor ?? undefined) : undefined)}`)).json()) as LinkPage
        if (!more) linkList.replaceChildren()
        for (const l of p.links) linkList.appendChild(linkItem(l))
        linkCursor = p.next_cursor
        moreLinks.hidden = !p.next_cursor
        count(linkList, linkStatus, 'No links.')
      } catch (err) {
        replace(msg, explain(err, { fileName: f.name, action: 'list the links' }))
      }
    }
    const loadShares = async (more: boolean) => {
      try {
        const p = (await (await files.call(`${fileURL(f.id, '/shares')}?${paged(more ? (shareCursor ?? undefined) : undefined)}`)).json()) as SharePage
        if (!more) shareList.replaceChildren()
        for (const s of p.shares) shareList.appendChild(shareItem(s))
        shareCursor = p.next_cursor
        moreShares.hidden = !p.next_cursor
        count(shareList, shareStatus, 'Not shared with anyone.')
      } catch (err) {
        replace(msg, explain(err, { fileName: f.name, action: 'list the shares' }))
      }
    }
    moreLinks.addEventListener('click', () => void loadLinks(true))
    moreShares.addEventListener('click', () => void loadShares(true))

    const done = cancel(close, 'Close')
    append(d, msg,
      h('h3', {}, 'Links'), linkList, linkStatus, moreLinks,
      h('h3', {}, 'People'), shareList, shareStatus, moreShares,
      h('div', { class: 'dialog-actions' }, done))
    void loadLinks(false)
    void loadShares(false)
    return done
  })
}
