// Previews of raster images and PDFs, shown in a dialog over the list. The bytes are fetched
// with the token into a Blob whose type the page sets itself from an allow-list (never the
// stored Content-Type, never SVG or HTML), shown through an object URL:
// - an image in an <img>, which runs no script whatever the bytes are;
// - a PDF in an <iframe>, which the browser hands to its PDF viewer because the Blob says
//   application/pdf: bytes that are really HTML with script are not parsed as HTML, so they
//   run nothing. The frame cannot be sandboxed: Chromium never shows a PDF in a sandboxed
//   frame (the sandbox's plugin flag cannot be lifted), so the type is the defence, and the
//   tokens live in this page's memory only (no storage for a frame to read).
// The page's CSP allows exactly this: img-src and frame-src blob:, no object-src. The object
// URL is revoked when the dialog closes.

import { dialog, cancel } from './dialog'
import { append, h } from './dom'

// Raster types a browser shows in an <img>; SVG is left out on purpose (it is a document).
const rasterTypes: Record<string, string> = {
  png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp', avif: 'image/avif', bmp: 'image/bmp',
}

const pdfType = 'application/pdf'

// Files larger than this are not previewed (they would pass through memory).
export const previewLimit = 32 << 20

// previewType is the type a preview uses for the file, or "" when there is no preview.
export function previewType(contentType: string, name: string, size: number): string {
  if (size > previewLimit) return ''
  const t = (contentType || '').split(';')[0].trim().toLowerCase()
  const ext = name.includes('.') ? name.split('.').pop()!.toLowerCase() : ''
  if (t === pdfType || (ext === 'pdf' && !t.startsWith('image/'))) return pdfType
  const byExt = rasterTypes[ext]
  if (Object.values(rasterTypes).includes(t)) return t
  return byExt && (t === '' || t === 'application/octet-stream' || t.startsWith('image/')) && t !== 'image/svg+xml' ? byExt : ''
}

// showPreview opens the preview dialog of a file's bytes as type (one previewType returned).
export function showPreview(name: string, bytes: Blob, type: string): void {
  // Checked again here, so no caller can turn a preview into a document of another type.
  if (type !== pdfType && !Object.values(rasterTypes).includes(type)) throw new Error(`no preview for ${type}`)
  const url = URL.createObjectURL(new Blob([bytes], { type }))
  const label = `Preview of ${name}`
  dialog(name, (d, close) => {
    const shut = cancel(close, 'Close')
    const view = type === pdfType
      ? h('iframe', { src: url, title: label, class: 'preview pdf', referrerpolicy: 'no-referrer' })
      : h('img', { src: url, alt: label, class: 'preview' })
    append(d, view, h('div', { class: 'dialog-actions' }, shut))
    d.addEventListener('close', () => URL.revokeObjectURL(url))
    return shut
  })
}
