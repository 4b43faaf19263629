// Uploads with the tus resumable protocol (tus-js-client): each file gets a row with a progress
// bar, bytes, rate, and pause/resume/cancel. A dropped connection is retried by the client on
// its own schedule; after that the person can resume by hand, and the upload continues from
// the last byte the server stored. The same rows serve a signed-in person's uploads (a bearer
// token) and an uploader's through a file request's public page (its id and password).

import { Upload, type DetailedError } from 'tus-js-client'
import { ApiError, SignedOut, explain } from './errors'
import { h, replace, announce } from './dom'
import { bytes, rate } from './format'

// Credentials are the headers every tus request carries (fetched anew for each, so a renewed
// token is picked up).
export type Credentials = () => Promise<Record<string, string>>

export class Uploads {
  constructor(
    private readonly credentials: Credentials,
    private readonly endpoint: string,
    private readonly list: HTMLElement,
    private readonly onDone: () => void,
    private readonly action = 'upload',
  ) {}

  // add uploads files under the names given (a folder's files keep their paths), or under
  // their own names in the folder prefix ("" or ending in "/"); metadata goes with each (tus
  // Upload-Metadata).
  add(files: Iterable<File | { file: File; name: string }>, prefix = '', metadata: Record<string, string> = {}): void {
    for (const f of files) {
      if (f instanceof File) this.start(f, prefix + f.name, metadata)
      else this.start(f.file, prefix + f.name, metadata)
    }
  }

  private start(file: File, name: string, extra: Record<string, string>): void {
    const progress = h('progress', { max: Math.max(file.size, 1), value: 0, 'aria-label': `Upload of ${name}` })
    const stats = h('span', { class: 'stats' }, `0 B of ${bytes(file.size)}`)
    const message = h('p', { class: 'upload-message', role: 'alert' })
    const pauseBtn = h('button', { type: 'button', class: 'secondary' }, 'Pause')
    const cancelBtn = h('button', { type: 'button', class: 'secondary' }, 'Cancel')
    const row = h('li', { class: 'upload', 'data-state': 'uploading' },
      h('div', { class: 'upload-head' }, h('span', { class: 'name' }, name), stats),
      progress,
      h('div', { class: 'upload-actions' }, pauseBtn, cancelBtn),
      message)
    this.list.prepend(row)

    let paused = false
    let last = { t: performance.now(), b: 0 }
    let speed = 0
    const setState = (s: string) => row.setAttribute('data-state', s)

    const idempotencyKey = crypto.randomUUID()
    const upload: Upload = new Upload(file, {
      endpoint: this.endpoint,
      chunkSize: 16 << 20,
      retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
      metadata: { ...extra, filename: name, filetype: file.type || 'application/octet-stream' },
      // Upload URLs are remembered for this page only, not in localStorage.
      storeFingerprintForResuming: false,
      removeFingerprintOnSuccess: true,
      onBeforeRequest: async (req) => {
        for (const [k, v] of Object.entries(await this.credentials())) req.setHeader(k, v)
        // A creation retried after a lost answer finds the first upload, not a second one.
        if (req.getMethod() === 'POST') req.setHeader('Idempotency-Key', idempotencyKey)
      },
      onShouldRetry: (err: DetailedError, attempt: number) => {
        const status = err.originalResponse?.getStatus() ?? 0
        if (status === 401 && attempt === 0) {
          // An expired token: renew it (onBeforeRequest picks up the new one) and retry.
          return true
        }
        return status === 0 || status === 409 || status === 423 || status >= 500
      },
      onProgress: (sent: number, total: number) => {
        const now = performance.now()
        const dt = (now - last.t) / 1000
        if (dt >= 0.25) {
          const inst = (sent - last.b) / dt
          speed = speed === 0 ? inst : speed * 0.7 + inst * 0.3
          last = { t: now, b: sent }
        }
        progress.value = sent
        progress.max = Math.max(total, 1)
        replace(stats, `${bytes(sent)} of ${bytes(total)}${speed > 0 && sent < total ? ` · ${rate(speed)}` : ''}`)
      },
      onSuccess: () => {
        progress.value = progress.max
        setState('done')
        replace(stats, `${bytes(file.size)} of ${bytes(file.size)} · done`)
        replace(row.querySelector('.upload-actions')!, h('span', { class: 'done' }, 'Uploaded'), dismiss(row, name))
        announce(`${name} uploaded.`)
        this.onDone()
      },
      onError: (err: Error) => {
        setState('failed')
        const res = (err as DetailedError).originalResponse
        const status = res?.getStatus() ?? 0
        let e: unknown = err
        if (status > 0) {
          let code = ''
          let detail = res!.getBody() ?? ''
          try {
            const p = JSON.parse(detail)
            code = p.code ?? ''
            detail = p.detail ?? ''
          } catch {
            // tus answers may be plain text
          }
          e = new ApiError(status, code, detail)
        } else if (err instanceof SignedOut || (err as DetailedError).causingError instanceof SignedOut) {
          e = new SignedOut()
        } else {
          e = new TypeError('network')
        }
        // 404: the upload (or the file request it went through) is gone; resuming cannot help.
        const final = status === 413 || status === 403 || status === 400 || status === 404
        replace(message, explain(e, { fileName: name, action: this.action }))
        if (final) {
          replace(row.querySelector('.upload-actions')!, dismiss(row, name))
        } else {
          paused = true
          replace(pauseBtn, 'Resume')
        }
      },
    })

    pauseBtn.addEventListener('click', () => {
      if (paused) {
        paused = false
        setState('uploading')
        replace(message)
        replace(pauseBtn, 'Pause')
        last = { t: performance.now(), b: Number(progress.value) }
        speed = 0
        upload.start()
      } else {
        paused = true
        setState('paused')
        replace(pauseBtn, 'Resume')
        replace(stats, `${bytes(Number(progress.value))} of ${bytes(file.size)} · paused`)
        upload.abort(false)
      }
    })
    cancelBtn.addEventListener('click', () => {
      setState('cancelled')
      // Terminate: the server drops the partial upload and its reservation.
      upload.abort(true).catch(() => {})
      replace(stats, 'Cancelled')
      replace(row.querySelector('.upload-actions')!, dismiss(row, name))
      announce(`Upload of ${name} cancelled.`)
    })
    upload.start()
  }
}

// dismiss is the button that takes a finished, failed or cancelled upload's card away.
function dismiss(row: HTMLElement, name: string): HTMLButtonElement {
  return h('button', { type: 'button', class: 'secondary', 'aria-label': `Dismiss ${name}`, onclick: () => row.remove() }, 'Dismiss')
}
