// Modal dialogs, shared by every part of the page that asks or shows something over the list.

import { h, append } from './dom'

// dialog opens a modal <dialog> (focus is kept inside it; Escape closes it) and returns focus
// to where it was when it closes. build fills the body and returns what gets focus first.
export function dialog(title: string, build: (body: HTMLElement, close: () => void) => HTMLElement): void {
  const back = document.activeElement as HTMLElement | null
  const d = h('dialog', { 'aria-labelledby': 'dialog-title' })
  const close = () => d.close()
  d.addEventListener('close', () => {
    d.remove()
    back?.focus()
  })
  append(d, h('h2', { id: 'dialog-title' }, title))
  const first = build(d, close)
  document.body.appendChild(d)
  d.showModal()
  first.focus()
}

export function cancel(close: () => void, label = 'Cancel'): HTMLButtonElement {
  return h('button', { type: 'button', class: 'secondary', onclick: close }, label)
}

// copyField is a read-only text field with a Copy button (clipboard, or selected for Ctrl+C
// where the clipboard is refused).
export function copyField(id: string, label: string, value: string): HTMLElement {
  const out = h('input', { type: 'text', id, readonly: true, value })
  const copied = h('span', { role: 'status' })
  const copy = h('button', { type: 'button', class: 'secondary', 'aria-label': `Copy ${label.toLowerCase()}` }, 'Copy')
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(value)
      copied.textContent = 'Copied.'
    } catch {
      out.select()
      copied.textContent = 'Press Ctrl+C (or ⌘C) to copy the selected text.'
    }
  })
  return h('div', { class: 'copy-field' }, h('label', { for: id }, label), h('div', { class: 'copy-row' }, out, copy), copied)
}
