// Icons by type: a folder, or a page coloured and lettered by the kind of file. Drawn as SVG
// elements (never parsed from markup), hidden from screen readers: the Type column says it.

const ns = 'http://www.w3.org/2000/svg'

export type IconKind = 'folder' | 'image' | 'video' | 'audio' | 'pdf' | 'text' | 'archive' | 'file'

const letters: Record<IconKind, string> = {
  folder: '', image: 'IMG', video: 'VID', audio: 'AUD', pdf: 'PDF', text: 'TXT', archive: 'ZIP', file: '',
}

// iconKind sorts a file into an icon by its media type, then its extension.
export function iconKind(contentType: string, name: string): IconKind {
  const t = (contentType || '').split(';')[0].trim().toLowerCase()
  const ext = name.includes('.') ? name.split('.').pop()!.toLowerCase() : ''
  if (t.startsWith('image/')) return 'image'
  if (t.startsWith('video/')) return 'video'
  if (t.startsWith('audio/')) return 'audio'
  if (t === 'application/pdf' || ext === 'pdf') return 'pdf'
  if (t.startsWith('text/') || ['txt', 'md', 'csv', 'json', 'log'].includes(ext)) return 'text'
  if (t === 'application/zip' || t.endsWith('compressed') || t.endsWith('gzip') || t.endsWith('x-tar') || ['zip', 'gz', 'tgz', 'tar', '7z', 'xz'].includes(ext)) return 'archive'
  if (['png', 'jpg', 'jpeg', 'gif', 'webp', 'avif', 'bmp', 'svg'].includes(ext)) return 'image'
  return 'file'
}

function el(tag: string, attrs: Record<string, string>): SVGElement {
  const e = document.createElementNS(ns, tag) as SVGElement
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v)
  return e
}

export function icon(kind: IconKind): SVGElement {
  const svg = el('svg', { viewBox: '0 0 24 24', width: '24', height: '24', class: `icon icon-${kind}`, 'aria-hidden': 'true', focusable: 'false' })
  if (kind === 'folder') {
    svg.append(el('path', { d: 'M2 6a2 2 0 0 1 2-2h5l2 2h9a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2z', class: 'icon-fill' }))
    return svg
  }
  svg.append(el('path', { d: 'M5 2h10l5 5v14a1 1 0 0 1-1 1H5a1 1 0 0 1-1-1V3a1 1 0 0 1 1-1z', class: 'icon-page' }))
  svg.append(el('path', { d: 'M15 2v5h5', class: 'icon-fold' }))
  if (letters[kind]) {
    svg.append(el('rect', { x: '2', y: '12', width: '17', height: '8', rx: '1.5', class: 'icon-fill' }))
    const t = el('text', { x: '10.5', y: '18.3', 'text-anchor': 'middle', class: 'icon-letters' })
    t.textContent = letters[kind]
    svg.append(t)
  }
  return svg
}
