// The admin section of the page: users (and their quotas), OAuth clients and invitations,
// through the admin APIs of the auth and file services. It is shown only when the access
// token carries the admin role; the services refuse anyone else (403 admin_required) whatever
// a page shows, so this is convenience, not the check.

import type { Session } from './auth'
import { h, replace, append, announce } from './dom'
import { apiError, explain } from './errors'
import { bytes, date } from './format'
import type { MenuEntry } from './menu'

export interface AdminUser {
  id: string
  username: string
  disabled: boolean
  admin: boolean
  created_at: string
}

export interface Quota {
  quota_bytes: number | null // null: the default applies
  default_bytes: number
  used_bytes: number
}

export interface AdminClient {
  id: string
  public: boolean
  disabled: boolean
  scopes: string[]
  admin_role: boolean
}

export interface Invitation {
  id: string
  kind: string
  username?: string
  created_at: string
  expires_at: string
  used_at?: string
  url?: string
}

// AdminAPI is the two services' admin routes, as the page uses them.
export class AdminAPI {
  constructor(
    private readonly session: Session,
    private readonly auth: string,
    private readonly files: string,
  ) {}

  private async call(url: string, init: RequestInit = {}): Promise<Response> {
    const res = await this.session.fetch(url, init)
    if (!res.ok) throw await apiError(res)
    return res
  }

  private json(method: string, body: unknown): RequestInit {
    return { method, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }
  }

  private user(id: string): string {
    return `/v1/admin/users/${encodeURIComponent(id)}`
  }

  async users(search: string): Promise<AdminUser[]> {
    const q = new URLSearchParams({ limit: '100' })
    if (search) q.set('search', search)
    return (await (await this.call(`${this.auth}/v1/admin/users?${q}`)).json()).users
  }

  async createUser(username: string, password: string, admin: boolean): Promise<AdminUser> {
    return (await this.call(`${this.auth}/v1/admin/users`, this.json('POST', { username, password, admin }))).json()
  }

  async setDisabled(id: string, disabled: boolean): Promise<AdminUser> {
    return (await this.call(`${this.auth}${this.user(id)}/${disabled ? 'disable' : 'enable'}`, { method: 'POST' })).json()
  }

  async revokeSessions(id: string): Promise<number> {
    return (await (await this.call(`${this.auth}${this.user(id)}/sessions`, { method: 'DELETE' })).json()).revoked_families
  }

  // deleteUser deletes the user's files at the file service first, then the account: a
  // failure half-way leaves an account without files, never files nobody can reach.
  async deleteUser(id: string): Promise<{ deleted_files: number; deleted_bytes: number }> {
    const gone = (await (await this.call(`${this.files}${this.user(id)}/files`, { method: 'DELETE' })).json())
    await this.call(`${this.auth}${this.user(id)}`, { method: 'DELETE' })
    return gone
  }

  async quota(id: string): Promise<Quota> {
    return (await this.call(`${this.files}${this.user(id)}/quota`)).json()
  }

  async setQuota(id: string, quotaBytes: number | null): Promise<Quota> {
    return (await this.call(`${this.files}${this.user(id)}/quota`, this.json('POST', { quota_bytes: quotaBytes }))).json()
  }

  async clients(): Promise<AdminClient[]> {
    return (await (await this.call(`${this.auth}/v1/admin/clients`)).json()).clients
  }

  private client(id: string): string {
    return `${this.auth}/v1/admin/clients/${encodeURIComponent(id)}`
  }

  async setClientDisabled(id: string, disabled: boolean): Promise<void> {
    await this.call(`${this.client(id)}/${disabled ? 'disable' : 'enable'}`, { method: 'POST' })
  }

  async deleteClient(id: string): Promise<void> {
    await this.call(this.client(id), { method: 'DELETE' })
  }

  async rotateSecret(id: string): Promise<string> {
    return (await (await this.call(`${this.client(id)}/secret`, { method: 'POST' })).json()).client_secret
  }

  async invitations(): Promise<Invitation[]> {
    return (await (await this.call(`${this.auth}/v1/admin/invitations`)).json()).invitations
  }

  async invite(username: string, ttl: string): Promise<Invitation> {
    const body: Record<string, string> = { kind: 'invite', ttl }
    if (username) body.username = username
    return (await this.call(`${this.auth}/v1/admin/invitations`, this.json('POST', body))).json()
  }

  async revokeInvitation(id: string): Promise<void> {
    await this.call(`${this.auth}/v1/admin/invitations/${encodeURIComponent(id)}`, { method: 'DELETE' })
  }
}

// addAdminEntries adds to the header's user menu the account page at the auth service
// (password, sessions, two-factor authentication) and, for admins, the admin section, which
// replaces the page's main content until "Back to files".
export function addAdminEntries(menu: { addEntry(e: MenuEntry): void }, session: Session, filesURL: string, main: HTMLElement, back: () => void): void {
  menu.addEntry({ label: 'Account settings', onSelect: () => location.assign(session.accountURL) })
  if (!session.roles.includes('admin')) return
  menu.addEntry({
    label: 'Administration',
    onSelect: () => {
      const view = new AdminView(new AdminAPI(session, session.authURL, filesURL), session.clientID, back)
      replace(main, view.element)
      void view.load()
      main.focus()
    },
  })
}

const mib = 1 << 20

// AdminView is the admin section: users, clients, invitations.
class AdminView {
  readonly element: HTMLElement
  private users = h('tbody')
  private clients = h('tbody')
  private invitations = h('tbody')
  private userError = h('p', { class: 'error', role: 'alert' })
  private clientError = h('p', { class: 'error', role: 'alert' })
  private invitationError = h('p', { class: 'error', role: 'alert' })
  private search = h('input', { type: 'text', id: 'admin-search', name: 'search', autocomplete: 'off', spellcheck: 'false' })

  constructor(
    private readonly api: AdminAPI,
    private readonly ownClient: string,
    back: () => void,
  ) {
    const backBtn = h('button', { type: 'button', class: 'secondary' }, 'Back to files')
    backBtn.addEventListener('click', back)
    this.element = h('div', { class: 'admin' },
      h('div', { class: 'admin-top' }, h('h2', { id: 'admin-title' }, 'Administration'), backBtn),
      this.usersSection(), this.invitationsSection(), this.clientsSection())
  }

  async load(): Promise<void> {
    await Promise.all([this.loadUsers(), this.loadClients(), this.loadInvitations()])
  }

  // Users.

  private usersSection(): HTMLElement {
    const searchForm = h('form', { class: 'inline-form', role: 'search' },
      h('label', { for: 'admin-search' }, 'Search users'), this.search,
      h('button', { type: 'submit', class: 'secondary' }, 'Search'))
    searchForm.addEventListener('submit', (e) => {
      e.preventDefault()
      void this.loadUsers()
    })
    const name = h('input', { type: 'text', id: 'new-user-name', name: 'username', autocomplete: 'off', required: true, spellcheck: 'false' })
    const pass = h('input', { type: 'password', id: 'new-user-password', name: 'password', autocomplete: 'new-password', required: true, minlength: 8 })
    const admin = h('input', { type: 'checkbox', id: 'new-user-admin', name: 'admin' })
    const msg = h('p', { role: 'status' })
    const create = h('form', { class: 'inline-form' },
      h('label', { for: 'new-user-name' }, 'New user’s username'), name,
      h('label', { for: 'new-user-password' }, 'Their password'), pass,
      h('label', { for: 'new-user-admin', class: 'check' }, admin, ' Administrator'),
      h('button', { type: 'submit', class: 'primary' }, 'Create user'), msg)
    create.addEventListener('submit', async (e) => {
      e.preventDefault()
      replace(msg)
      try {
        const u = await this.api.createUser(name.value.trim(), pass.value, admin.checked)
        replace(msg, `Created ${u.username}.`)
        name.value = ''
        pass.value = ''
        admin.checked = false
        void this.loadUsers()
      } catch (err) {
        replace(msg, explain(err, { action: 'create the user' }))
      }
    })
    const table = h('table', { class: 'admin-table', id: 'admin-users' },
      h('caption', { class: 'visually-hidden' }, 'Users'),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, 'Username'), h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col' }, 'Storage'),
        h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
      this.users)
    return h('section', { 'aria-labelledby': 'admin-users-title' },
      h('h2', { id: 'admin-users-title' }, 'Users'), searchForm, this.userError, table,
      h('details', {}, h('summary', {}, 'Create a user'), create))
  }

  private async loadUsers(): Promise<void> {
    try {
      const list = await this.api.users(this.search.value.trim())
      this.users.replaceChildren(...list.map((u) => this.userRow(u)))
      replace(this.userError, list.length === 0 ? 'No user matches.' : '')
    } catch (e) {
      replace(this.userError, explain(e, { action: 'list the users' }))
    }
  }

  private userRow(u: AdminUser): HTMLTableRowElement {
    const storage = h('td', { 'data-label': 'Storage' }, '…')
    const panel = h('div', { class: 'admin-panel' })
    const act = (label: string, what: string, fn: () => void, cls = 'secondary') =>
      h('button', { type: 'button', class: cls, 'aria-label': `${label} ${u.username}`, onclick: fn }, what)
    const actions = h('div', { class: 'actions' },
      u.disabled
        ? act('Enable', 'Enable', () => void this.flag(u, false))
        : act('Disable', 'Disable', () => void this.flag(u, true)),
      act('Set quota of', 'Quota', () => this.quotaForm(u, panel, storage)),
      act('Sign out everywhere', 'Sign out everywhere', () => void this.revoke(u, panel)),
      act('Delete', 'Delete', () => this.deleteForm(u, panel), 'danger'))
    void this.api.quota(u.id).then((q) => replace(storage, usage(q)), () => replace(storage, '–'))
    return h('tr', { 'data-user': u.username },
      h('th', { scope: 'row', class: 'name', 'data-label': 'Username' }, u.username),
      h('td', { 'data-label': 'Status', class: 'status' }, [u.disabled ? 'Disabled' : 'Active', u.admin ? 'administrator' : ''].filter(Boolean).join(', ')),
      storage,
      h('td', {}, actions, panel))
  }

  private async flag(u: AdminUser, disabled: boolean): Promise<void> {
    try {
      await this.api.setDisabled(u.id, disabled)
      announce(`${u.username} is ${disabled ? 'disabled: their sign-ins ended' : 'enabled'}.`)
      await this.loadUsers()
    } catch (e) {
      replace(this.userError, explain(e, { action: disabled ? 'disable the user' : 'enable the user' }))
    }
  }

  private async revoke(u: AdminUser, panel: HTMLElement): Promise<void> {
    try {
      const n = await this.api.revokeSessions(u.id)
      replace(panel, h('p', { role: 'status' }, `${u.username} is signed out everywhere (${n} sign-in${n === 1 ? '' : 's'} ended).`))
    } catch (e) {
      replace(panel, h('p', { class: 'error', role: 'alert' }, explain(e, { action: 'end their sign-ins' })))
    }
  }

  private quotaForm(u: AdminUser, panel: HTMLElement, storage: HTMLElement): void {
    const id = `quota-${u.id}`
    const input = h('input', { type: 'text', id, name: 'quota', inputmode: 'numeric', placeholder: 'default', spellcheck: 'false' })
    const msg = h('p', { role: 'status' })
    const form = h('form', { class: 'inline-form' },
      h('label', { for: id }, `Quota of ${u.username} in MiB (empty: the default)`), input,
      h('button', { type: 'submit', class: 'primary' }, 'Save quota'), msg)
    form.addEventListener('submit', async (e) => {
      e.preventDefault()
      const v = input.value.trim()
      const n = v === '' ? null : Number(v)
      if (n !== null && (!Number.isFinite(n) || n < 0)) {
        replace(msg, 'Type a number of MiB, or leave it empty for the default.')
        return
      }
      try {
        const q = await this.api.setQuota(u.id, n === null ? null : Math.round(n * mib))
        replace(storage, usage(q))
        replace(msg, `Quota of ${u.username}: ${q.quota_bytes === null ? 'the default' : bytes(q.quota_bytes)}.`)
      } catch (err) {
        replace(msg, explain(err, { action: 'set the quota' }))
      }
    })
    replace(panel, form)
    input.focus()
  }

  private deleteForm(u: AdminUser, panel: HTMLElement): void {
    const yes = h('button', { type: 'button', class: 'danger' }, 'Delete user and files')
    const no = h('button', { type: 'button', class: 'secondary' }, 'Cancel')
    const msg = h('p', { class: 'error', role: 'alert' })
    no.addEventListener('click', () => replace(panel))
    yes.addEventListener('click', async () => {
      yes.disabled = true
      try {
        const gone = await this.api.deleteUser(u.id)
        announce(`${u.username} is deleted, with ${gone.deleted_files} file${gone.deleted_files === 1 ? '' : 's'} (${bytes(gone.deleted_bytes)}).`)
        await this.loadUsers()
      } catch (e) {
        yes.disabled = false
        replace(msg, explain(e, { action: 'delete the user' }))
      }
    })
    replace(panel, h('div', { class: 'confirm', role: 'group', 'aria-label': `Delete ${u.username}` },
      h('p', {}, `Delete ${u.username}? Their account goes and they are signed out everywhere. `,
        h('strong', {}, 'All their files are deleted too'),
        ', with the links to them, the shares and their file requests; their storage is freed. This cannot be undone.'),
      msg, h('div', { class: 'dialog-actions' }, yes, no)))
    no.focus()
  }

  // Clients.

  private clientsSection(): HTMLElement {
    const table = h('table', { class: 'admin-table', id: 'admin-clients' },
      h('caption', { class: 'visually-hidden' }, 'OAuth clients'),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, 'Client'), h('th', { scope: 'col' }, 'Kind'), h('th', { scope: 'col' }, 'Status'),
        h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
      this.clients)
    return h('section', { 'aria-labelledby': 'admin-clients-title' },
      h('h2', { id: 'admin-clients-title' }, 'OAuth clients'), this.clientError, table)
  }

  private async loadClients(): Promise<void> {
    try {
      const list = await this.api.clients()
      this.clients.replaceChildren(...list.map((c) => this.clientRow(c)))
      replace(this.clientError)
    } catch (e) {
      replace(this.clientError, explain(e, { action: 'list the clients' }))
    }
  }

  private clientRow(c: AdminClient): HTMLTableRowElement {
    const panel = h('div', { class: 'admin-panel' })
    const act = (label: string, what: string, fn: () => void, cls = 'secondary') =>
      h('button', { type: 'button', class: cls, 'aria-label': `${label} client ${c.id}`, onclick: fn }, what)
    const actions = h('div', { class: 'actions' })
    // This page's own client stays: disabling or deleting it would lock everyone out of it.
    if (c.id !== this.ownClient) {
      append(actions, c.disabled
        ? act('Enable', 'Enable', () => void this.clientFlag(c, false))
        : act('Disable', 'Disable', () => void this.clientFlag(c, true)))
    }
    if (!c.public) append(actions, act('Rotate the secret of', 'Rotate secret', () => void this.rotate(c, panel)))
    if (c.id !== this.ownClient) append(actions, act('Delete', 'Delete', () => this.deleteClientForm(c, panel), 'danger'))
    return h('tr', { 'data-client': c.id },
      h('th', { scope: 'row', class: 'name', 'data-label': 'Client' }, c.id, c.id === this.ownClient ? ' (this page)' : ''),
      h('td', { 'data-label': 'Kind' }, c.public ? 'Public (browser or app)' : 'Confidential (has a secret)'),
      h('td', { 'data-label': 'Status', class: 'status' }, c.disabled ? 'Disabled' : 'Active'),
      h('td', {}, actions, panel))
  }

  private async clientFlag(c: AdminClient, disabled: boolean): Promise<void> {
    try {
      await this.api.setClientDisabled(c.id, disabled)
      announce(`Client ${c.id} is ${disabled ? 'disabled' : 'enabled'}.`)
      await this.loadClients()
    } catch (e) {
      replace(this.clientError, explain(e, { action: disabled ? 'disable the client' : 'enable the client' }))
    }
  }

  private async rotate(c: AdminClient, panel: HTMLElement): Promise<void> {
    try {
      const secret = await this.api.rotateSecret(c.id)
      const id = `secret-${c.id}`
      replace(panel,
        h('label', { for: id }, `New secret of ${c.id} (shown only now; the old one no longer works)`),
        h('input', { type: 'text', id, class: 'client-secret', readonly: true, value: secret, spellcheck: 'false' }))
    } catch (e) {
      replace(panel, h('p', { class: 'error', role: 'alert' }, explain(e, { action: 'rotate the secret' })))
    }
  }

  private deleteClientForm(c: AdminClient, panel: HTMLElement): void {
    const yes = h('button', { type: 'button', class: 'danger' }, 'Delete client')
    const no = h('button', { type: 'button', class: 'secondary' }, 'Cancel')
    no.addEventListener('click', () => replace(panel))
    yes.addEventListener('click', async () => {
      yes.disabled = true
      try {
        await this.api.deleteClient(c.id)
        announce(`Client ${c.id} is deleted.`)
        await this.loadClients()
      } catch (e) {
        yes.disabled = false
        replace(panel, h('p', { class: 'error', role: 'alert' }, explain(e, { action: 'delete the client' })))
      }
    })
    replace(panel, h('p', {}, `Delete ${c.id}? Its tokens stop working when they expire and it cannot sign anyone in again.`),
      h('div', { class: 'dialog-actions' }, yes, no))
    no.focus()
  }

  // Invitations.

  private result = h('div', { class: 'link-result' })

  private invitationsSection(): HTMLElement {
    const name = h('input', { type: 'text', id: 'invite-username', name: 'username', autocomplete: 'off', spellcheck: 'false' })
    const ttl = h('select', { id: 'invite-ttl', name: 'ttl' },
      h('option', { value: '24h' }, '1 day'),
      h('option', { value: '72h', selected: true }, '3 days'),
      h('option', { value: '168h' }, '7 days'))
    const result = this.result
    const form = h('form', { class: 'inline-form' },
      h('label', { for: 'invite-username' }, 'Username for the invitee (optional)'), name,
      h('label', { for: 'invite-ttl' }, 'Invitation expires after'), ttl,
      h('button', { type: 'submit', class: 'primary' }, 'Create invitation'), result)
    form.addEventListener('submit', async (e) => {
      e.preventDefault()
      replace(result)
      try {
        const inv = await this.api.invite(name.value.trim(), ttl.value)
        replace(result,
          h('label', { for: 'invitation-url' }, 'Invitation link (shown only now: send it to the invitee)'),
          h('input', { type: 'text', id: 'invitation-url', readonly: true, value: inv.url ?? '', spellcheck: 'false' }))
        name.value = ''
        void this.loadInvitations()
      } catch (err) {
        replace(result, h('p', { class: 'error', role: 'alert' }, explain(err, { action: 'create the invitation' })))
      }
    })
    const table = h('table', { class: 'admin-table', id: 'admin-invitations' },
      h('caption', { class: 'visually-hidden' }, 'Invitations'),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, 'For'), h('th', { scope: 'col' }, 'Created'), h('th', { scope: 'col' }, 'State'),
        h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
      this.invitations)
    return h('section', { 'aria-labelledby': 'admin-invitations-title' },
      h('h2', { id: 'admin-invitations-title' }, 'Invitations'), form, this.invitationError, table)
  }

  private async loadInvitations(): Promise<void> {
    try {
      const list = await this.api.invitations()
      this.invitations.replaceChildren(...list.map((i) => this.invitationRow(i)))
      replace(this.invitationError)
    } catch (e) {
      replace(this.invitationError, explain(e, { action: 'list the invitations' }))
    }
  }

  private invitationRow(i: Invitation): HTMLTableRowElement {
    const open = !i.used_at && new Date(i.expires_at).getTime() > Date.now()
    const state = i.used_at ? `Used ${date(i.used_at)}` : open ? `Open until ${date(i.expires_at)}` : 'Expired'
    const who = `${i.kind === 'reset' ? 'Password reset of ' : ''}${i.username || 'anyone'}`
    const actions = h('div', { class: 'actions' })
    if (open) {
      const btn = h('button', { type: 'button', class: 'secondary', 'aria-label': `Revoke the invitation for ${who}` }, 'Revoke')
      btn.addEventListener('click', async () => {
        btn.disabled = true
        try {
          await this.api.revokeInvitation(i.id)
          announce('The invitation is revoked: its link no longer works.')
          replace(this.result) // a link shown may be the one just revoked
          await this.loadInvitations()
        } catch (e) {
          btn.disabled = false
          replace(this.invitationError, explain(e, { action: 'revoke the invitation' }))
        }
      })
      append(actions, btn)
    }
    return h('tr', { 'data-invitation': i.id },
      h('th', { scope: 'row', 'data-label': 'For' }, who),
      h('td', { 'data-label': 'Created' }, date(i.created_at)),
      h('td', { 'data-label': 'State', class: 'status' }, state),
      h('td', {}, actions))
  }
}

function usage(q: Quota): string {
  const limit = q.quota_bytes ?? q.default_bytes
  return `${bytes(q.used_bytes)} of ${limit > 0 ? bytes(limit) : 'unlimited'}${q.quota_bytes === null ? ' (default)' : ''}`
}
