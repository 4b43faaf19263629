// Previews of raster images and PDFs. The bytes are fetched with the token into a Blob whose
// type the page sets itself (never the stored Content-Type, never SVG or HTML), shown through
// an object URL: an image in an <img>, which runs no script; a PDF in a new tab without an
// opener, whose viewer cannot reach this page or its tokens (they live in this page's memory
// only). The object URL is revoked when the preview closes (a minute later for a PDF tab).

// Raster types a browser shows in an <img>; SVG is left out on purpose (it is a document).
const rasterTypes: Record<string, string> = {
  png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp', avif: 'image/avif', bmp: 'image/bmp',
}

// Files larger than this are not previewed (they would pass through memory).
export const previewLimit = 32 << 20

// previewType is the type a preview uses for the file, or "" when there is no preview.
export function previewType(contentType: string, name: string, size: number): string {
  if (size > previewLimit) return ''
  const t = (contentType || '').split(';')[0].trim().toLowerCase()
  const ext = name.includes('.') ? name.split('.').pop()!.toLowerCase() : ''
  if (t === 'application/pdf' || (ext === 'pdf' && !t.startsWith('image/'))) return 'application/pdf'
  const byExt = rasterTypes[ext]
  if (Object.values(rasterTypes).includes(t)) return t
  return byExt && (t === '' || t === 'application/octet-stream' || t.startsWith('image/')) && t !== 'image/svg+xml' ? byExt : ''
}
