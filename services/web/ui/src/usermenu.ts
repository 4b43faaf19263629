// The header's user menu: who is signed in, their storage use as a bar, and a menu of
// account actions. Other parts of the page add their entries with addEntry (an "Admin" or
// "Account" entry, say); "Sign out" stays last.

import type { Session } from './auth'
import { apiError } from './errors'
import { h, replace } from './dom'
import { bytes } from './format'
import { Menu, type MenuEntry } from './menu'

// Me is the signed-in user, as the auth service's /v1/me tells it.
export interface Me {
  id: string
  username: string
  admin: boolean
}

// Usage is the signed-in user's storage use (the file service's /v1/usage).
export interface Usage {
  used_bytes: number
  quota_bytes: number | null
}

export class UserMenu {
  readonly element: HTMLElement
  readonly menu: Menu
  // me is known once ready resolves (null if the auth service could not say).
  me: Me | null = null
  readonly ready: Promise<Me | null>
  private readonly who = h('span', { class: 'who' }, '…')
  private readonly note = h('span', {}, 'Signed in')
  private readonly quota = h('div', { class: 'quota', hidden: true })

  constructor(
    private readonly session: Session,
    private readonly authURL: string,
    private readonly filesURL: string,
    signOut: () => void,
  ) {
    const avatar = h('span', { class: 'avatar', 'aria-hidden': 'true' }, '?')
    this.menu = new Menu(h('span', { class: 'user-button' }, avatar, this.who), 'Account menu', 'menu-button user')
    this.menu.addNote(this.note)
    this.menu.add({ label: 'Sign out', onSelect: signOut }, true)
    this.element = h('div', { class: 'user-area' }, this.quota, this.menu.element)
    // The token names the user at once; /v1/me then confirms it and adds the admin flag.
    if (session.username) this.show(avatar, session.username, false)
    this.ready = this.loadMe(avatar)
    void this.refreshUsage()
  }

  // addEntry adds an entry to the menu (above "Sign out").
  addEntry(entry: MenuEntry): void {
    this.menu.add(entry)
  }

  private async loadMe(avatar: HTMLElement): Promise<Me | null> {
    try {
      const res = await this.session.fetch(`${this.authURL}/v1/me`)
      if (!res.ok) throw await apiError(res)
      this.me = (await res.json()) as Me
      this.show(avatar, this.me.username, this.me.admin)
    } catch {
      if (!this.session.username) replace(this.who, 'Account') // else the token's name stays
    }
    return this.me
  }

  private show(avatar: HTMLElement, username: string, admin: boolean): void {
    replace(this.who, username)
    replace(avatar, username.slice(0, 1).toUpperCase())
    replace(this.note, 'Signed in as ', h('strong', {}, username), admin ? ' (administrator)' : '')
    this.menu.button.setAttribute('aria-label', `Account menu of ${username}`)
  }

  // refreshUsage redraws the quota bar (after an upload or a delete).
  async refreshUsage(): Promise<void> {
    try {
      const res = await this.session.fetch(`${this.filesURL}/v1/usage`)
      if (!res.ok) throw await apiError(res)
      const u = (await res.json()) as Usage
      const text = u.quota_bytes ? `${bytes(u.used_bytes)} of ${bytes(u.quota_bytes)} used` : `${bytes(u.used_bytes)} used`
      const bar = u.quota_bytes
        ? h('meter', { min: 0, max: u.quota_bytes, value: Math.min(u.used_bytes, u.quota_bytes), low: u.quota_bytes * 0.8, high: u.quota_bytes * 0.95, optimum: 0, 'aria-label': 'Storage used' })
        : null
      replace(this.quota, bar, h('span', { class: 'quota-text' }, text))
      this.quota.title = text
      this.quota.hidden = false
    } catch {
      this.quota.hidden = true // a service without quotas (or one not answering) shows none
    }
  }
}
