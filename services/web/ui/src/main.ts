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
import { Menu } from './menu'
import { UserMenu } from './usermenu'
import { icon, iconKind } from './icons'
import { previewType, showPreview } from './preview'
import { fromDrop, fromPicker } from './dropped'
import { addAdminEntries } from './admin'

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
    new App(session, new Files(session, cfg.files_url), cfg.auth_url).show()
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
type SortKey = 'name' | 'size' | 'date'

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
  // The user menu in the header; other parts of the page add entries with addEntry.
  readonly userMenu: UserMenu
  // What the list holds (loaded pages), drawn in the chosen order by draw.
  private folders: string[] = []
  private items: FileInfo[] = []
  private sort: { key: SortKey; dir: 1 | -1 } = { key: 'name', dir: 1 }
  private sortButtons = new Map<SortKey, HTMLButtonElement>()
  // Multi-select: the ids of the checked files of the list, and the bar acting on them.
  private selected = new Set<string>()
  private selectAll = h('input', { type: 'checkbox', 'aria-label': 'Select all files' })
  private selectionBar = h('div', { class: 'selection-bar', role: 'region', 'aria-label': 'Selected files', hidden: true })
  private uploadTarget = h('span', { class: 'upload-target' })

  constructor(
    private readonly session: Session,
    private readonly files: Files,
    authURL: string,
  ) {
    this.userMenu = new UserMenu(session, authURL, files.base, () => void this.session.signOut())
    addAdminEntries(this.userMenu, session, files.base, main, () => this.show())
    this.uploads = new Uploads(async () => ({ Authorization: `Bearer ${await session.token()}` }), `${files.base}/v1/uploads/`, this.uploadList, () => {
      if (this.tab === 'mine') void this.load()
      void this.userMenu.refreshUsage()
    })
    this.requests = new RequestsPanel(files)
    this.tabs = {
      mine: h('button', { type: 'button', role: 'tab', id: 'tab-mine', 'aria-controls': 'file-panel' }, 'My files'),
      shared: h('button', { type: 'button', role: 'tab', id: 'tab-shared', 'aria-controls': 'file-panel' }, 'Shared with me'),
    }
    this.more.addEventListener('click', () => void this.load(true))
  }

  show(): void {
    replace(account, this.userMenu.element)

    // Uploads go into the folder being looked at; a folder keeps its structure below it.
    const input = h('input', { type: 'file', id: 'file-input', multiple: true, class: 'visually-hidden' })
    input.addEventListener('change', () => {
      if (input.files) this.uploads.add(Array.from(input.files), this.nav.prefix)
      input.value = ''
    })
    const folderInput = h('input', { type: 'file', id: 'folder-input', multiple: true, webkitdirectory: true, class: 'visually-hidden' })
    folderInput.addEventListener('change', () => {
      if (folderInput.files) this.uploads.add(fromPicker(folderInput.files), this.nav.prefix)
      folderInput.value = ''
    })
    const drop = h('div', { class: 'drop' },
      h('p', {}, 'Drop files or folders here, or '),
      h('label', { for: 'file-input', class: 'button primary' }, 'Choose files'),
      h('label', { for: 'folder-input', class: 'button secondary' }, 'Choose a folder'),
      input, folderInput,
      h('p', { class: 'upload-to' }, 'Uploads go into ', this.uploadTarget))
    drop.addEventListener('dragover', (e) => {
      e.preventDefault()
      drop.classList.add('over')
    })
    drop.addEventListener('dragleave', () => drop.classList.remove('over'))
    drop.addEventListener('drop', (e) => {
      e.preventDefault()
      drop.classList.remove('over')
      if (!e.dataTransfer?.items.length) return
      const prefix = this.nav.prefix
      fromDrop(e.dataTransfer).then((list) => this.uploads.add(list, prefix)).catch(() => {
        replace(this.error, 'The dropped folder could not be read. Try “Choose a folder” instead.')
      })
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
    this.selectAll.addEventListener('change', () => {
      for (const f of this.items) {
        if (this.selectAll.checked) this.selected.add(f.id)
        else this.selected.delete(f.id)
      }
      this.draw()
    })
    const table = h('table', { class: 'files' },
      h('caption', { class: 'visually-hidden' }, 'Files'),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col', class: 'select' }, this.selectAll),
        h('th', { scope: 'col', class: 'icon-col' }, h('span', { class: 'visually-hidden' }, 'Icon')),
        this.sortHeader('name', 'Name'), this.sortHeader('size', 'Size'), this.sortHeader('date', 'Date'),
        h('th', { scope: 'col', class: 'type-col' }, 'Type'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
      this.tableBody)

    replace(main,
      h('section', { class: 'upload-area', 'aria-labelledby': 'upload-title' },
        h('h2', { id: 'upload-title' }, 'Upload'), drop, this.uploadList),
      h('section', { class: 'list-area', 'aria-labelledby': 'files-title' },
        h('h2', { id: 'files-title' }, 'Files'), tablist,
        h('div', { id: 'file-panel', role: 'tabpanel', 'aria-labelledby': 'tab-mine' }, this.nav.element, this.error, this.selectionBar, table, this.status, this.more)),
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

  // sortHeader is a column heading that sorts the list by its column (again: the other way);
  // dates start with the newest.
  private sortHeader(key: SortKey, label: string): HTMLTableCellElement {
    const b = h('button', { type: 'button', class: 'sort', 'data-key': key }, label, h('span', { class: 'sort-arrow', 'aria-hidden': 'true' }))
    b.addEventListener('click', () => {
      this.sort = { key, dir: this.sort.key === key ? (-this.sort.dir as 1 | -1) : key === 'date' ? -1 : 1 }
      // A folder is sorted by the server (all its pages, not only those loaded): from its
      // first page again, in the same folder. Search and shared files sort what is loaded.
      if (this.serverSorted()) void this.load()
      else this.draw()
    })
    this.sortButtons.set(key, b)
    return h('th', { scope: 'col', class: `sort-col col-${key}` }, b)
  }

  // serverSorted says whether the list shown is a folder level, which the server sorts.
  private serverSorted(): boolean {
    return this.tab === 'mine' && !this.nav.query
  }

  // levelSort is the sort the server is asked for: none for names ascending (its default).
  private levelSort(): { key: 'name' | 'size' | 'modified'; order: 'asc' | 'desc' } | undefined {
    const { key, dir } = this.sort
    if (key === 'name' && dir === 1) return undefined
    return { key: key === 'date' ? 'modified' : key, order: dir === 1 ? 'asc' : 'desc' }
  }

  // draw fills the table from what is loaded, folders first, in the chosen order (a folder's
  // as the server sent it), and the selection bar from what is checked.
  private draw(): void {
    const { key, dir } = this.sort
    const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)
    const cmp = (a: FileInfo, b: FileInfo): number =>
      key === 'size' ? a.size - b.size || byName(a.name, b.name)
        : key === 'date' ? byName(a.created_at, b.created_at) || byName(a.name, b.name)
          : byName(a.name, b.name)
    const server = this.serverSorted()
    const files = server ? this.items : [...this.items].sort((a, b) => dir * cmp(a, b))
    const folders = !server && key === 'name' && dir === -1 ? [...this.folders].reverse() : this.folders
    for (const [k, b] of this.sortButtons) {
      const th = b.parentElement!
      if (k === key) th.setAttribute('aria-sort', dir === 1 ? 'ascending' : 'descending')
      else th.removeAttribute('aria-sort')
      // The arrow is drawn, not said: aria-sort says it to screen readers.
      b.lastElementChild!.textContent = k === key ? (dir === 1 ? ' ▲' : ' ▼') : ''
    }
    this.tableBody.replaceChildren(...folders.map((d) => this.folderRow(d)), ...files.map((f) => this.row(f)))
    // Only what is listed stays selected.
    for (const id of this.selected) if (!this.items.some((f) => f.id === id)) this.selected.delete(id)
    this.selectAll.checked = this.items.length > 0 && this.selected.size === this.items.length
    this.selectAll.indeterminate = this.selected.size > 0 && !this.selectAll.checked
    this.selectAll.disabled = this.items.length === 0
    this.drawSelection()
  }

  private drawSelection(): void {
    const n = this.selected.size
    this.selectionBar.hidden = n === 0
    if (n === 0) return
    const chosen = this.items.filter((f) => this.selected.has(f.id))
    const zip = h('button', { type: 'button', class: 'primary' }, 'Download as zip')
    zip.addEventListener('click', () => void this.downloadZip({ ids: chosen.map((f) => f.id) }, 'coffer-files.zip'))
    const del = h('button', { type: 'button', class: 'secondary danger-text' }, 'Delete')
    del.addEventListener('click', () => this.deleteDialog(chosen))
    const clear = h('button', { type: 'button', class: 'secondary' }, 'Clear selection')
    clear.addEventListener('click', () => {
      this.selected.clear()
      this.draw()
    })
    replace(this.selectionBar, h('span', { class: 'selection-count' }, `${n} selected`), zip, del, clear)
  }

  // downloadZip saves a streamed zip of files or of a folder.
  private async downloadZip(what: { ids?: string[]; prefix?: string }, name: string): Promise<void> {
    try {
      const blob = await this.files.zip(what)
      const url = URL.createObjectURL(new Blob([blob], { type: 'application/octet-stream' }))
      save(url, name)
      setTimeout(() => URL.revokeObjectURL(url), 60_000)
      announce(`${name} downloaded.`)
    } catch (e) {
      replace(this.error, explain(e, { fileName: name, action: 'download' }))
    }
  }

  async load(more = false): Promise<void> {
    const tab = this.tab
    try {
      const cursor = more ? (this.cursor ?? undefined) : undefined
      const page = tab === 'shared' ? await this.files.list(true, cursor)
        : this.nav.query ? await this.files.search(this.nav.prefix, this.nav.query, cursor)
          : await this.files.level(this.nav.prefix, cursor, this.levelSort())
      if (tab !== this.tab) return
      if (!more) {
        this.folders = []
        this.items = []
      }
      this.folders.push(...(page.folders ?? []).map((d) => d.name))
      this.items.push(...page.files)
      this.draw()
      replace(this.uploadTarget, h('strong', {}, this.nav.prefix === '' ? 'My files' : this.nav.prefix))
      this.cursor = page.next_cursor
      this.more.hidden = !page.next_cursor
      replace(this.error)
      const n = this.items.length
      const d = this.folders.length
      const count = (k: number, what: string) => `${k} ${what}${k === 1 ? '' : 's'}`
      replace(this.status, n + d === 0 ? (tab === 'mine' ? 'No files yet. Upload some above.' : 'Nobody has shared a file with you yet.')
        : d === 0 ? count(n, 'file') : `${count(d, 'folder')}, ${count(n, 'file')}`)
    } catch (e) {
      replace(this.error, explain(e, { action: 'list your files' }))
    }
  }

  // row is one file: a checkbox, its icon, name, size, date and type, one primary action
  // (Download) and a menu of the others.
  private row(f: FileInfo): HTMLTableRowElement {
    const label = this.tab === 'mine' ? this.nav.label(f.name) : f.name
    const check = h('input', { type: 'checkbox', 'aria-label': `Select ${f.name}`, checked: this.selected.has(f.id) })
    check.addEventListener('change', () => {
      if (check.checked) this.selected.add(f.id)
      else this.selected.delete(f.id)
      this.selectAll.checked = this.selected.size === this.items.length
      this.selectAll.indeterminate = this.selected.size > 0 && !this.selectAll.checked
      this.drawSelection()
    })
    const download = h('button', { type: 'button', class: 'secondary', 'aria-label': `Download ${f.name}`, onclick: () => void this.download(f) }, 'Download')
    const more = new Menu('⋯', `More actions for ${f.name}`, 'menu-button more')
    const preview = previewType(f.content_type, f.name, f.size)
    if (preview) more.add({ label: 'Preview', onSelect: () => void this.preview(f, preview) })
    if (this.tab === 'mine') {
      more.add({ label: 'Share', onSelect: () => this.shareDialog(f) })
      more.add({ label: 'Create a link', onSelect: () => linkDialog(this.files, f, () => void this.load()) })
      more.add({ label: 'Links and shares', onSelect: () => accessDialog(this.files, f, () => void this.load()) })
      more.add({ label: 'Rename or move', onSelect: () => this.renameDialog(f) })
      more.add({ label: 'Delete', onSelect: () => this.deleteDialog([f]), danger: true })
    }
    return h('tr', { 'data-id': f.id },
      h('td', { class: 'select' }, check),
      h('td', { class: 'icon-col' }, icon(iconKind(f.content_type, f.name))),
      h('th', { scope: 'row', class: 'name', 'data-label': 'Name' }, label),
      h('td', { 'data-label': 'Size', class: 'nowrap' }, bytes(f.size)),
      h('td', { 'data-label': 'Date' }, h('time', { datetime: f.created_at }, date(f.created_at))),
      h('td', { 'data-label': 'Type', class: 'type-col' }, kind(f.content_type, f.name)),
      h('td', {}, h('div', { class: 'actions' }, marks(f), download, more.empty ? null : more.element)))
  }

  // folderRow is a folder of the level shown: opening it lists its level; its menu downloads
  // it as a zip.
  private folderRow(prefix: string): HTMLTableRowElement {
    const label = this.nav.label(prefix)
    const open = h('button', { type: 'button', class: 'link folder', 'aria-label': `Open folder ${label}` }, label)
    open.addEventListener('click', () => this.nav.enter(prefix))
    const more = new Menu('⋯', `More actions for folder ${label}`, 'menu-button more')
    more.add({ label: 'Download as zip', onSelect: () => void this.downloadZip({ prefix }, `${prefix.slice(0, -1).split('/').pop() || 'folder'}.zip`) })
    return h('tr', { 'data-folder': prefix },
      h('td', { class: 'select' }),
      h('td', { class: 'icon-col' }, icon('folder')),
      h('th', { scope: 'row', class: 'folder', 'data-label': 'Name' }, open),
      h('td', { 'data-label': 'Size' }), h('td', { 'data-label': 'Date' }), h('td', { 'data-label': 'Type', class: 'type-col' }, 'Folder'),
      h('td', {}, h('div', { class: 'actions' }, more.element)))
  }

  // preview shows a raster image or a PDF in a dialog (preview.ts says why neither can
  // reach this page).
  private async preview(f: FileInfo, type: string): Promise<void> {
    try {
      showPreview(f.name, await this.files.content(f.id), type)
    } catch (e) {
      replace(this.error, explain(e, { fileName: f.name, action: 'download' }))
    }
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

  // deleteDialog asks before deleting one file or the selected ones.
  private deleteDialog(list: FileInfo[]): void {
    const what = list.length === 1 ? `“${list[0].name}”` : `${list.length} files`
    dialog(`Delete ${what}?`, (d, close) => {
      const msg = h('p', { class: 'error', role: 'alert' })
      const yes = h('button', { type: 'button', class: 'danger' }, 'Delete')
      yes.addEventListener('click', async () => {
        yes.disabled = true
        let done = 0
        for (const f of list) {
          try {
            await this.files.remove(f.id)
            this.selected.delete(f.id)
            done++
          } catch (e) {
            yes.disabled = false
            replace(msg, explain(e, { fileName: f.name, action: 'delete' }))
            void this.load()
            return
          }
        }
        close()
        announce(list.length === 1 ? `${list[0].name} deleted.` : `${done} files deleted.`)
        void this.load()
        void this.userMenu.refreshUsage()
      })
      append(d, h('p', {}, list.length === 1
        ? 'The file is removed for you and everyone you shared it with. This cannot be undone.'
        : 'The files are removed for you and everyone you shared them with. This cannot be undone.'), msg,
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
