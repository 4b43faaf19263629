// Errors as sentences a person understands. The services answer RFC 9457 problem documents
// with a stable `code`; this is the one place codes and statuses become words.

import { bytes } from './format'

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
  ) {
    super(detail || code || `HTTP ${status}`)
  }
}

// SignedOut means the session is over (the refresh token was refused or is gone).
export class SignedOut extends Error {
  constructor() {
    super('signed out')
  }
}

export async function apiError(res: Response): Promise<ApiError> {
  let code = ''
  let detail = ''
  try {
    const body = await res.text()
    try {
      const p = JSON.parse(body)
      code = typeof p.code === 'string' ? p.code : typeof p.error === 'string' ? p.error : ''
      detail = typeof p.detail === 'string' ? p.detail : typeof p.error_description === 'string' ? p.error_description : ''
    } catch {
      detail = body.slice(0, 200)
    }
  } catch {
    // the body could not be read; the status still says enough
  }
  return new ApiError(res.status, code, detail)
}

export interface Context {
  // what the person was doing, for "could not …" sentences
  action?: string
  fileName?: string
  username?: string
}

// explain turns any failure into one sentence.
export function explain(err: unknown, ctx: Context = {}): string {
  const what = ctx.fileName ? `“${ctx.fileName}”` : 'the file'
  if (err instanceof SignedOut) return 'You have been signed out. Sign in again to continue.'
  if (err instanceof ApiError) {
    const code = err.code
    if (code === 'request_limit') {
      return `${capital(what)} was not sent: this request takes no more files, or not this many bytes.`
    }
    if (ctx.action === 'send' && err.status === 404) {
      return `${capital(what)} was not sent: this request has been closed or has expired.`
    }
    if (code === 'quota_exceeded' || /quota/i.test(err.detail)) {
      return `Your storage is full, so ${what} could not be uploaded. Delete some files to make room.`
    }
    switch (err.status) {
      case 401:
        return 'You have been signed out. Sign in again to continue.'
      case 403:
        return 'This sign-in does not allow that. Sign out and in again, or ask your administrator.'
      case 404:
        if (code === 'user_not_found') return `There is no one called “${ctx.username ?? ''}”. Check the spelling of the username.`
        if (ctx.action === 'link') return 'This link has expired, was revoked, or has no downloads left.'
        if (ctx.action === 'link password') return 'That password is not right, or the link no longer works.'
        if (ctx.action === 'open request') return 'This request has been closed or has expired, or the password is not right.'
        return `${capital(what)} no longer exists. It may have been deleted.`
      case 410:
        return 'This link has expired, was revoked, or has no downloads left.'
      case 413: {
        const limit = /(\d{3,})/.exec(err.detail)
        return `${capital(what)} is too large${limit ? `: files can be at most ${bytes(Number(limit[1]))}` : ''}.`
      }
      case 429:
        return 'Too many attempts. Wait a minute, then try again.'
      case 501:
        if (code === 'links_disabled') return 'Sharing by link is switched off on this server.'
        break
      case 507:
        return 'The server has run out of space. Try again later.'
      case 502:
      case 503:
      case 504:
        return 'Coffer is not answering right now. Try again in a moment.'
    }
    if (err.status === 400 && err.detail) return `That did not work: ${err.detail.replace(/^invalid input:\s*/, '')}.`
    return `Something went wrong${ctx.action ? ` while trying to ${ctx.action}` : ''} (error ${err.status}). Try again.`
  }
  if (err instanceof TypeError) return 'Coffer cannot be reached. Check your connection and try again.'
  return `Something went wrong${ctx.action ? ` while trying to ${ctx.action}` : ''}. Try again.`
}

function capital(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1)
}
