// Coffer's web page: sign in, upload, list, download, share, link.

import './style.css'
import { Session } from './auth'
import { Files, type FileInfo } from './api'
import { loadConfig, type Config } from './config'
import { h, replace, append, announce } from './dom'
import { explain } from './errors'
import { bytes, date, kind } from './format'
import { Uploads } from './uploads'
import { FolderNav } from './folders'
import { dialog, cancel } from './dialog'
import { linkPage } from './linkpage'
import { RequestsPanel, requestPage } from './receive'
import { accessDialog, linkDialog, marks } from './sharing'

const main = document.getElementById('main')!
const account = document.getElementById('account')!

// Files up to this size download through memory (fetch with the token); larger ones of your
// own go through a one-use signed link, so the browser streams them to disk.
const memoryDownloadLimit = 256 << 20

async function boot(): Promise<void> {
  let cfg: Config
  try {
    cfg = await loadConfig()
  } catch {
    replace(main, h('p', { class: 'error', role: 'alert' }, 'Coffer could not start. Reload the page to try again.'))
    return
  }
  const url = new URL(location.href)
  if (url.pathname === '/l') {
    // The token leaves the address bar and the history at once (a shoulder, a screen share
    // or a synced history would show it); another #token pasted later shows that file.
    const show = async (): Promise<void> => {
      const token = location.hash.slice(1)
      if (token === '') return
      history.replaceState(null, '', location.pathname)
      await linkPage(cfg, main, { token })
    }
    window.addEventListener('hashchange', () => void show())
    await show()
    return
  }
  // Public pages of short links (/s/{id}) and file requests (/r/{id}): no account.
  const pub = /^\/([sr])\/([^/]+)$/.exec(url.pathname)
  if (pub) {
    await (pub[1] === 's' ? linkPage(cfg, main, { short: pub[2] }) : requestPage(cfg, main, pub[2]))
    return
  }
  const session = new Session(cfg)
  session.onSignedOut = () => signedOutView(session, 'You have been signed out. Sign in again to continue.')
  if (url.pathname === '/callback') {
    try {
      const back = await session.finishSignIn(url)
      history.replaceState(null, '', back)
    } catch (e) {
      history.replaceState(null, '', '/')
      signedOutView(session, e instanceof Error && e.message.endsWith('.') ? e.message : 'Sign-in did not complete. Try again.')
      return
    }
    new App(session, new Files(session, cfg.files_url)).show()
    return
  }
  if (url.pathname === '/signed-out') {
    history.replaceState(null, '', '/')
    signedOutView(session, 'You are signed out.')
    return
  }
  signedOutView(session)
}

function signedOutView(session: Session, message?: string): void {
  replace(account)
  const btn = h('button', { type: 'button', class: 'primary' }, 'Sign in')
  btn.addEventListener('click', () => {
    btn.disabled = true
    session.signIn(location.pathname).catch(() => {
      btn.disabled = false
      replace(msg, 'The sign-in service cannot be reached. Try again in a moment.')
    })
  })
  const msg = h('p', { class: message === 'You are signed out.' ? 'note' : 'error', role: 'alert' }, message ?? '')
  replace(main,
    h('section', { class: 'welcome' },
      h('h2', {}, 'Your files, kept safe'),
      h('p', {}, 'Sign in to upload, download and share your files.'),
      msg,
      btn))
  btn.focus()
}

type Tab = 'mine' | 'shared'

class App {
  private tab: Tab = 'mine'
  private tableBody = h('tbody')
  private status = h('p', { class: 'list-status', role: 'status' })
  private error = h('p', { class: 'error', role: 'alert' })
  private more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Show more')
  private cursor: string | null = null
  private tabs: Record<Tab, HTMLButtonElement>
  private uploadList = h('ul', { class: 'uploads', 'aria-label': 'Uploads' })
  private uploads: Uploads
  private nav = new FolderNav(() => void this.load())
  private requests: RequestsPanel

  constructor(
    private readonly session: Session,
    private readonly files: Files,
  ) {
    this.uploads = new Uploads(async () => ({ Authorization: `Bearer ${await session.token()}` }), `${files.base}/v1/uploads/`, this.uploadList, () => {
      if (this.tab === 'mine') void this.load()
    })
    this.requests = new RequestsPanel(files)
    this.tabs = {
      mine: h('button', { type: 'button', role: 'tab', id: 'tab-mine', 'aria-controls': 'file-panel' }, 'My files'),
      shared: h('button', { type: 'button', role: 'tab', id: 'tab-shared', 'aria-controls': 'file-panel' }, 'Shared with me'),
    }
    this.more.addEventListener('click', () => void this.load(true))
  }

  show(): void {
    const signOut = h('button', { type: 'button', class: 'secondary' }, 'Sign out')
    signOut.addEventListener('click', () => {
      signOut.disabled = true
      void this.session.signOut()
    })
    replace(account, signOut)

    const input = h('input', { type: 'file', id: 'file-input', multiple: true, class: 'visually-hidden' })
    input.addEventListener('change', () => {
      if (input.files) this.uploads.add(Array.from(input.files))
      input.value = ''
    })
    const drop = h('div', { class: 'drop' },
      h('p', {}, 'Drop files here, or '),
      h('label', { for: 'file-input', class: 'button primary' }, 'Choose files'),
      input)
    drop.addEventListener('dragover', (e) => {
      e.preventDefault()
      drop.classList.add('over')
    })
    drop.addEventListener('dragleave', () => drop.classList.remove('over'))
    drop.addEventListener('drop', (e) => {
      e.preventDefault()
      drop.classList.remove('over')
      if (e.dataTransfer?.files.length) this.uploads.add(Array.from(e.dataTransfer.files))
    })

    const tablist = h('div', { role: 'tablist', 'aria-label': 'Which files' }, this.tabs.mine, this.tabs.shared)
    for (const t of ['mine', 'shared'] as Tab[]) {
      this.tabs[t].addEventListener('click', () => this.select(t))
    }
    tablist.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
        const next: Tab = this.tab === 'mine' ? 'shared' : 'mine'
        this.select(next)
        this.tabs[next].focus()
      }
    })
    const table = h('table', { class: 'files' },
      h('caption', { class: 'visually-hidden' }, 'Files'),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Size'), h('th', { scope: 'col' }, 'Date'),
        h('th', { scope: 'col' }, 'Type'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
      this.tableBody)

    replace(main,
      h('section', { class: 'upload-area', 'aria-labelledby': 'upload-title' },
        h('h2', { id: 'upload-title' }, 'Upload'), drop, this.uploadList),
      h('section', { class: 'list-area', 'aria-labelledby': 'files-title' },
        h('h2', { id: 'files-title' }, 'Files'), tablist,
        h('div', { id: 'file-panel', role: 'tabpanel', 'aria-labelledby': 'tab-mine' }, this.nav.element, this.error, table, this.status, this.more)),
      this.requests.element)
    this.select('mine')
    void this.requests.load()
    main.focus()
  }

  private select(t: Tab): void {
    this.tab = t
    for (const k of ['mine', 'shared'] as Tab[]) {
      this.tabs[k].setAttribute('aria-selected', String(k === t))
      this.tabs[k].tabIndex = k === t ? 0 : -1
    }
    document.getElementById('file-panel')?.setAttribute('aria-labelledby', `tab-${t}`)
    this.nav.element.hidden = t !== 'mine' // folders and search are of your own files
    void this.load()
  }

  async load(more = false): Promise<void> {
    const tab = this.tab
    try {
      const cursor = more ? (this.cursor ?? undefined) : undefined
      const page = tab === 'shared' ? await this.files.list(true, cursor)
        : this.nav.query ? await this.files.search(this.nav.prefix, this.nav.query, cursor)
          : await this.files.level(this.nav.prefix, cursor)
      if (tab !== this.tab) return
      if (!more) this.tableBody.replaceChildren()
      for (const d of page.folders ?? []) this.tableBody.appendChild(this.folderRow(d.name))
      for (const f of page.files) this.tableBody.appendChild(this.row(f))
      this.cursor = page.next_cursor
      this.more.hidden = !page.next_cursor
      replace(this.error)
      const n = this.tableBody.rows.length
      replace(this.status, n === 0 ? (tab === 'mine' ? 'No files yet. Upload some above.' : 'Nobody has shared a file with you yet.') : `${n} file${n === 1 ? '' : 's'}`)
    } catch (e) {
      replace(this.error, explain(e, { action: 'list your files' }))
    }
  }

  private row(f: FileInfo): HTMLTableRowElement {
    const actions = h('div', { class: 'actions' })
    const act = (label: string, what: string, fn: () => void) =>
      h('button', { type: 'button', class: 'secondary', 'aria-label': `${label} ${f.name}`, onclick: fn }, what)
    append(actions, act('Download', 'Download', () => void this.download(f)))
    if (this.tab === 'mine') {
      append(actions,
        act('Share', 'Share', () => this.shareDialog(f)),
        act('Create a link to', 'Link', () => linkDialog(this.files, f, () => void this.load())),
        act('Links and shares of', 'Access', () => accessDialog(this.files, f, () => void this.load())),
        act('Rename or move', 'Rename', () => this.renameDialog(f)),
        act('Delete', 'Delete', () => this.deleteDialog(f)))
    }
    return h('tr', { 'data-id': f.id },
      h('th', { scope: 'row', class: 'name', 'data-label': 'Name' }, this.tab === 'mine' ? this.nav.label(f.name) : f.name),
      h('td', { 'data-label': 'Size', class: 'nowrap' }, bytes(f.size)),
      h('td', { 'data-label': 'Date' }, h('time', { datetime: f.created_at }, date(f.created_at))),
      h('td', { 'data-label': 'Type' }, kind(f.content_type, f.name)),
      h('td', {}, marks(f), actions))
  }

  // folderRow is a folder of the level shown: opening it lists its level.
  private folderRow(prefix: string): HTMLTableRowElement {
    const label = this.nav.label(prefix)
    const open = h('button', { type: 'button', class: 'link folder', 'aria-label': `Open folder ${label}` }, label)
    open.addEventListener('click', () => this.nav.enter(prefix))
    return h('tr', { 'data-folder': prefix },
      h('th', { scope: 'row', class: 'folder', 'data-label': 'Name' }, open),
      h('td', { 'data-label': 'Size' }), h('td', { 'data-label': 'Date' }), h('td', { 'data-label': 'Type' }, 'Folder'), h('td', {}))
  }

  private renameDialog(f: FileInfo): void {
    dialog(`Rename or move “${f.name}”`, (d, close) => {
      const input = h('input', { type: 'text', id: 'rename-name', name: 'name', value: f.name, required: true, spellcheck: 'false' })
      const msg = h('p', { class: 'error', role: 'alert' })
      const form = h('form', {},
        h('label', { for: 'rename-name' }, 'New name (folders separated by /)'), input, msg,
        h('div', { class: 'dialog-actions' }, h('button', { type: 'submit', class: 'primary' }, 'Rename'), cancel(close)))
      form.addEventListener('submit', async (e) => {
        e.preventDefault()
        try {
          const g = await this.files.rename(f.id, input.value.trim())
          close()
          announce(`${f.name} is now ${g.name}.`)
          void this.load()
        } catch (err) {
          replace(msg, explain(err, { fileName: f.name, action: 'rename' }))
        }
      })
      append(d, form)
      return input
    })
  }

  private async download(f: FileInfo): Promise<void> {
    try {
      if (f.size > memoryDownloadLimit && this.tab === 'mine') {
        // A one-use link of a few minutes: the browser saves it straight from the file
        // service (served as an attachment), never through this page's memory or origin.
        const l = await this.files.link(f.id, 300, 1)
        save(l.url, '')
        return
      }
      const blob = await this.files.content(f.id)
      // As a generic binary type, the object URL can only be saved, never rendered here.
      const url = URL.createObjectURL(new Blob([blob], { type: 'application/octet-stream' }))
      save(url, f.name)
      setTimeout(() => URL.revokeObjectURL(url), 60_000)
      announce(`${f.name} downloaded.`)
    } catch (e) {
      replace(this.error, explain(e, { fileName: f.name, action: 'download' }))
    }
  }

  private deleteDialog(f: FileInfo): void {
    dialog(`Delete “${f.name}”?`, (d, close) => {
      const msg = h('p', { class: 'error', role: 'alert' })
      const yes = h('button', { type: 'button', class: 'danger' }, 'Delete')
      yes.addEventListener('click', async () => {
        yes.disabled = true
        try {
          await this.files.remove(f.id)
          close()
          announce(`${f.name} deleted.`)
          void this.load()
        } catch (e) {
          yes.disabled = false
          replace(msg, explain(e, { fileName: f.name, action: 'delete' }))
        }
      })
      append(d, h('p', {}, 'The file is removed for you and everyone you shared it with. This cannot be undone.'), msg,
        h('div', { class: 'dialog-actions' }, yes, cancel(close)))
      return yes
    })
  }

  private shareDialog(f: FileInfo): void {
    dialog(`Share “${f.name}”`, (d, close) => {
      const input = h('input', { type: 'text', id: 'share-username', name: 'username', autocomplete: 'off', required: true, spellcheck: 'false' })
      const msg = h('p', { class: 'error', role: 'alert' })
      const done = h('p', { role: 'status' })
      const form = h('form', {},
        h('label', { for: 'share-username' }, 'Username of the person to share with'), input, msg, done,
        h('div', { class: 'dialog-actions' }, h('button', { type: 'submit', class: 'primary' }, 'Share'), cancel(close, 'Close')))
      form.addEventListener('submit', async (e) => {
        e.preventDefault()
        const username = input.value.trim()
        replace(msg)
        replace(done)
        if (!username) {
          replace(msg, 'Type the username of the person to share with.')
          return
        }
        try {
          await this.files.share(f.id, username)
          replace(done, `Shared with ${username}. They can now see “${f.name}” under “Shared with me”.`)
          input.value = ''
        } catch (err) {
          replace(msg, explain(err, { fileName: f.name, username, action: 'share' }))
        }
      })
      append(d, form)
      return input
    })
  }
}

function save(href: string, name: string): void {
  const a = h('a', { href, download: name || true, rel: 'noopener', class: 'visually-hidden' })
  document.body.appendChild(a)
  a.click()
  a.remove()
}

void boot()
