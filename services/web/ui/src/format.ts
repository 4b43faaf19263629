// Human forms of sizes, rates and dates.

// IEC units (KiB = 1024 bytes), as the coffer command prints them: one system everywhere.
const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']

export function bytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '–'
  let i = 0
  let v = n
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`
}

export function rate(bytesPerSecond: number): string {
  return `${bytes(Math.round(bytesPerSecond))}/s`
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' })

export function date(iso: string): string {
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? iso : dateFormat.format(d)
}

// kind turns a media type into a word a person knows.
export function kind(contentType: string, name: string): string {
  const t = (contentType || '').split(';')[0].trim().toLowerCase()
  const ext = name.includes('.') ? name.split('.').pop()!.toUpperCase() : ''
  if (t.startsWith('image/')) return `Image${ext ? ` (${ext})` : ''}`
  if (t.startsWith('video/')) return `Video${ext ? ` (${ext})` : ''}`
  if (t.startsWith('audio/')) return `Audio${ext ? ` (${ext})` : ''}`
  if (t === 'application/pdf') return 'PDF document'
  if (t.startsWith('text/')) return `Text${ext ? ` (${ext})` : ''}`
  if (t === 'application/zip' || t.endsWith('compressed') || t.endsWith('gzip') || t.endsWith('x-tar')) return 'Archive'
  return ext ? `${ext} file` : 'File'
}
