// Folders on the page: a file's name may be a path ("reports/2026/q3.pdf"). FolderNav holds
// the folder being looked at and the search text, and draws the breadcrumbs and the search
// box; the App lists one level (or the search's results) for it.

import { h, replace } from './dom'

export class FolderNav {
  prefix = '' // "" for the top, else ending in "/"
  query = ''
  readonly element: HTMLElement
  private readonly crumbs = h('ol', { class: 'crumbs' })
  private readonly search = h('input', { type: 'search', id: 'file-search', placeholder: 'Search this folder and below', 'aria-label': 'Search by name' })
  private timer = 0

  constructor(private readonly changed: () => void) {
    this.search.addEventListener('input', () => {
      clearTimeout(this.timer)
      this.timer = window.setTimeout(() => {
        this.query = this.search.value.trim()
        this.changed()
      }, 250)
    })
    this.element = h('div', { class: 'folder-nav' }, h('nav', { 'aria-label': 'Folder' }, this.crumbs), this.search)
    this.draw()
  }

  // enter opens a folder ("reports/2026/") and clears the search.
  enter(prefix: string): void {
    this.prefix = prefix
    this.query = ''
    this.search.value = ''
    this.draw()
    this.changed()
  }

  // label is what a row shows of a name in this folder: the rest of the path.
  label(name: string): string {
    return !this.query && name.startsWith(this.prefix) ? name.slice(this.prefix.length) : name
  }

  private draw(): void {
    const parts = this.prefix.split('/').filter((p) => p !== '')
    const items: HTMLElement[] = []
    const crumb = (label: string, prefix: string, current: boolean) => {
      const b = h('button', { type: 'button', class: 'link', 'aria-current': current ? 'location' : null }, label)
      b.addEventListener('click', () => this.enter(prefix))
      return h('li', {}, b)
    }
    items.push(crumb('My files', '', parts.length === 0))
    let p = ''
    parts.forEach((part, i) => {
      p += `${part}/`
      items.push(crumb(part, p, i === parts.length - 1))
    })
    replace(this.crumbs, ...items)
  }
}
