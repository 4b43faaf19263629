// The file service's API, as the page uses it.

import type { Session } from './auth'
import { apiError } from './errors'

export interface FileInfo {
  id: string
  name: string
  size: number
  sha256: string
  content_type: string
  created_at: string
  shared?: boolean // mine, shared with someone
  linked?: boolean // mine, with an unexpired link
  shared_by?: string // on files shared with me: the owner's user id…
  shared_by_name?: string // …and their username when they shared it, if known
  request_id?: string // arrived through one of my file requests…
  uploader_name?: string // …from someone who gave this name
}

export interface Page {
  files: FileInfo[]
  next_cursor: string | null
  folders?: { name: string }[] // a level listing's folders, each ending in "/"
}

export interface Link {
  id: string
  url: string
  short_url?: string
  expires_at: string
}

export class Files {
  constructor(
    private readonly session: Session,
    readonly base: string,
  ) {}

  // call answers path's response, or throws its ApiError.
  async call(path: string, init: RequestInit = {}): Promise<Response> {
    const res = await this.session.fetch(this.base + path, init)
    if (!res.ok) throw await apiError(res)
    return res
  }

  json(method: string, body: unknown): RequestInit {
    return { method, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }
  }

  async list(shared: boolean, cursor?: string): Promise<Page> {
    const q = new URLSearchParams({ limit: '100' })
    if (shared) q.set('shared', 'true')
    if (cursor) q.set('cursor', cursor)
    return (await this.call(`/v1/files?${q}`)).json()
  }

  // level lists one folder ("" or ending in "/"): its folders beside its files, by name, or
  // sorted on the server (sort: name, size or modified): its folders first, then its files.
  async level(prefix: string, cursor?: string, sort?: { key: 'name' | 'size' | 'modified'; order: 'asc' | 'desc' }): Promise<Page> {
    const q = new URLSearchParams({ limit: '100', delimiter: '/', prefix })
    if (sort) {
      q.set('sort', sort.key)
      q.set('order', sort.order)
    }
    if (cursor) q.set('cursor', cursor)
    return (await this.call(`/v1/files?${q}`)).json()
  }

  // search finds files in a folder and below whose own name contains text.
  async search(prefix: string, text: string, cursor?: string): Promise<Page> {
    const q = new URLSearchParams({ limit: '100', q: text, prefix })
    if (cursor) q.set('cursor', cursor)
    return (await this.call(`/v1/files?${q}`)).json()
  }

  // rename gives a file a new name; a name with folders moves it.
  async rename(id: string, name: string): Promise<FileInfo> {
    return (await this.call(`/v1/files/${encodeURIComponent(id)}`, this.json('PATCH', { name }))).json()
  }

  async remove(id: string): Promise<void> {
    await this.call(`/v1/files/${encodeURIComponent(id)}`, { method: 'DELETE' })
  }

  async share(id: string, username: string): Promise<void> {
    await this.call(`/v1/files/${encodeURIComponent(id)}/shares`, this.json('POST', { username }))
  }

  async link(id: string, expiresIn: number, maxDownloads?: number): Promise<Link> {
    const body: Record<string, number> = { expires_in: expiresIn }
    if (maxDownloads) body.max_downloads = maxDownloads
    const l = (await (await this.call(`/v1/files/${encodeURIComponent(id)}/links`, this.json('POST', body))).json()) as Link
    // Without a public URL setting the service answers a path on itself.
    l.url = new URL(l.url, this.base + '/').href
    return l
  }

  // zip fetches a streamed zip of some files (ids) or of a folder (a prefix ending in "/").
  async zip(what: { ids?: string[]; prefix?: string }): Promise<Blob> {
    const q = new URLSearchParams()
    for (const id of what.ids ?? []) q.append('id', id)
    if (what.prefix !== undefined) q.set('prefix', what.prefix)
    return (await this.call(`/v1/zip?${q}`)).blob()
  }

  // content fetches a file's bytes (for files small enough to hold in memory).
  async content(id: string): Promise<Blob> {
    const res = await this.call(`/v1/files/${encodeURIComponent(id)}/content`)
    return res.blob()
  }
}
