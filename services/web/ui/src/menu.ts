// A small pop-up menu (the WAI-ARIA menu button pattern): a button that opens a list of
// actions; arrow keys move between them, Escape and a click elsewhere close it. The user menu
// and every file row's "more actions" menu are one of these.

import { h } from './dom'

export interface MenuEntry {
  label: string
  onSelect: () => void
  danger?: boolean
}

export class Menu {
  readonly element: HTMLElement
  readonly button: HTMLButtonElement
  private readonly list: HTMLElement

  // content is what the button shows; label names it for screen readers.
  constructor(content: Node | string, label: string, className = 'menu-button') {
    this.button = h('button', { type: 'button', class: className, 'aria-haspopup': 'menu', 'aria-expanded': 'false', 'aria-label': label })
    this.button.append(content)
    this.list = h('div', { role: 'menu', class: 'menu-list', hidden: true, 'aria-label': label })
    this.element = h('div', { class: 'menu' }, this.button, this.list)
    this.button.addEventListener('click', () => (this.isOpen ? this.close() : this.open()))
    this.button.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowDown') {
        e.preventDefault()
        this.open()
      }
    })
    this.list.addEventListener('keydown', (e) => this.key(e))
    this.element.addEventListener('focusout', (e) => {
      if (this.isOpen && !this.element.contains(e.relatedTarget as Node | null)) this.close(false)
    })
  }

  // empty reports whether the menu has no entries (then it need not be shown).
  get empty(): boolean {
    return this.items().length === 0
  }

  get isOpen(): boolean {
    return !this.list.hidden
  }

  // add appends an entry, before those added with last (such as "Sign out").
  add(entry: MenuEntry, last = false): this {
    const item = h('button', { type: 'button', role: 'menuitem', tabindex: '-1', class: entry.danger ? 'menu-item danger-text' : 'menu-item', 'data-last': last ? '' : null }, entry.label)
    item.addEventListener('click', () => {
      this.close()
      entry.onSelect()
    })
    this.list.insertBefore(item, last ? null : this.list.querySelector('[data-last]'))
    return this
  }

  // addNote appends a line of text that is not an action (say, who is signed in).
  addNote(node: Node | string): this {
    this.list.append(h('div', { class: 'menu-note', role: 'presentation' }, node))
    return this
  }

  private items(): HTMLElement[] {
    return Array.from(this.list.querySelectorAll<HTMLElement>('[role=menuitem]'))
  }

  open(): void {
    this.list.hidden = false
    this.button.setAttribute('aria-expanded', 'true')
    this.items()[0]?.focus()
    // A click anywhere else closes the menu.
    const away = (e: MouseEvent) => {
      if (!this.element.contains(e.target as Node)) this.close(false)
    }
    document.addEventListener('mousedown', away)
    this.cleanup = () => document.removeEventListener('mousedown', away)
  }

  private cleanup = () => {}

  close(refocus = true): void {
    if (!this.isOpen) return
    this.list.hidden = true
    this.button.setAttribute('aria-expanded', 'false')
    this.cleanup()
    if (refocus) this.button.focus()
  }

  private key(e: KeyboardEvent): void {
    const items = this.items()
    const i = items.indexOf(document.activeElement as HTMLElement)
    const move = (j: number) => items[(j + items.length) % items.length]?.focus()
    switch (e.key) {
      case 'ArrowDown': move(i + 1); break
      case 'ArrowUp': move(i - 1); break
      case 'Home': move(0); break
      case 'End': move(items.length - 1); break
      case 'Escape': this.close(); break
      case 'Tab': this.close(false); return
      default: return
    }
    e.preventDefault()
  }
}
