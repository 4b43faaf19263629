// Sign-in with the OAuth 2.1 authorization code flow and PKCE (oauth4webapi), as a public
// client. Tokens live in this module's memory only: never in localStorage, sessionStorage or a
// cookie. Only the PKCE verifier and state wait in sessionStorage across the one redirect to
// the sign-in page, and are removed as soon as the page comes back.

import * as oauth from 'oauth4webapi'
import type { Config } from './config'
import { SignedOut } from './errors'

const pendingKey = 'coffer.pending-sign-in'

interface Pending {
  verifier: string
  state: string
  returnTo: string
}

export class Session {
  private as?: oauth.AuthorizationServer
  private client: oauth.Client
  private access = ''
  private refresh = ''
  private renewAt = 0
  private renewing?: Promise<void>
  private timer?: number
  // onSignedOut is called once the session cannot be renewed any more.
  onSignedOut: () => void = () => {}

  constructor(private readonly cfg: Config) {
    this.client = { client_id: cfg.client_id }
  }

  // Plain http is allowed only where the configuration says so (a loopback development or
  // test setup); a deployment uses https.
  private get options(): { [oauth.allowInsecureRequests]: boolean } {
    return { [oauth.allowInsecureRequests]: this.cfg.auth_url.startsWith('http://') }
  }

  private redirectURI(): string {
    return `${location.origin}/callback`
  }

  private async server(): Promise<oauth.AuthorizationServer> {
    if (!this.as) {
      const issuer = new URL(this.cfg.auth_url)
      const res = await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...this.options })
      this.as = await oauth.processDiscoveryResponse(issuer, res)
    }
    return this.as
  }

  get signedIn(): boolean {
    return this.access !== ''
  }

  get authURL(): string {
    return this.cfg.auth_url
  }

  get clientID(): string {
    return this.cfg.client_id
  }

  // accountURL is the auth service's account page (password, sessions, second factor).
  get accountURL(): string {
    return `${this.cfg.auth_url}/oauth2/account`
  }

  // claims are the access token's payload, read only to choose what the page shows: the
  // services check the signed token themselves.
  private claims(): Record<string, unknown> {
    try {
      const part = this.access.split('.')[1] ?? ''
      return JSON.parse(atob(part.replace(/-/g, '+').replace(/_/g, '/'))) as Record<string, unknown>
    } catch {
      return {}
    }
  }

  // roles are the access token's roles claim.
  get roles(): string[] {
    const roles = this.claims().roles
    return Array.isArray(roles) ? roles.filter((r): r is string => typeof r === 'string') : []
  }

  // username is the access token's preferred_username claim ('' when it has none).
  get username(): string {
    const name = this.claims().preferred_username
    return typeof name === 'string' ? name : ''
  }

  // signIn sends the browser to the auth service's authorization page.
  async signIn(returnTo = '/'): Promise<void> {
    const as = await this.server()
    const verifier = oauth.generateRandomCodeVerifier()
    const state = oauth.generateRandomState()
    const pending: Pending = { verifier, state, returnTo }
    sessionStorage.setItem(pendingKey, JSON.stringify(pending))
    const url = new URL(as.authorization_endpoint!)
    url.searchParams.set('response_type', 'code')
    url.searchParams.set('client_id', this.client.client_id)
    url.searchParams.set('redirect_uri', this.redirectURI())
    url.searchParams.set('scope', this.cfg.scope)
    url.searchParams.set('state', state)
    url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(verifier))
    url.searchParams.set('code_challenge_method', 'S256')
    location.assign(url.href)
  }

  // finishSignIn completes the redirect back from the authorization page and returns the
  // path the person was on.
  async finishSignIn(current: URL): Promise<string> {
    const raw = sessionStorage.getItem(pendingKey)
    sessionStorage.removeItem(pendingKey)
    if (!raw) throw new Error('This sign-in link was already used or has expired. Sign in again.')
    const pending = JSON.parse(raw) as Pending
    const as = await this.server()
    let params: URLSearchParams
    try {
      params = oauth.validateAuthResponse(as, this.client, current, pending.state)
    } catch (e) {
      if (e instanceof oauth.AuthorizationResponseError && e.error === 'access_denied') {
        throw new Error('Sign-in was cancelled.')
      }
      throw e
    }
    const res = await oauth.authorizationCodeGrantRequest(as, this.client, oauth.None(), params, this.redirectURI(), pending.verifier, this.options)
    this.take(await oauth.processAuthorizationCodeResponse(as, this.client, res))
    return pending.returnTo.startsWith('/') && !pending.returnTo.startsWith('//') ? pending.returnTo : '/'
  }

  private take(t: oauth.TokenEndpointResponse): void {
    this.access = t.access_token
    if (t.refresh_token) this.refresh = t.refresh_token
    const lifetime = (t.expires_in ?? 300) * 1000
    // Renew silently at 80% of the lifetime, so a request rarely meets an expired token.
    this.renewAt = Date.now() + lifetime * 0.8
    window.clearTimeout(this.timer)
    this.timer = window.setTimeout(() => {
      this.renew().catch(() => {})
    }, lifetime * 0.8)
  }

  // token returns a valid access token, renewing it first if it is about to expire (when the
  // timer's renewal failed, say while offline).
  async token(): Promise<string> {
    if (!this.access) throw new SignedOut()
    if (Date.now() >= this.renewAt) await this.renew()
    return this.access
  }

  // renew exchanges the refresh token for new tokens; concurrent callers share one exchange.
  renew(): Promise<void> {
    if (!this.renewing) {
      this.renewing = this.doRenew().finally(() => {
        this.renewing = undefined
      })
    }
    return this.renewing
  }

  private async doRenew(): Promise<void> {
    if (!this.refresh) {
      this.forget()
      throw new SignedOut()
    }
    const as = await this.server()
    try {
      const res = await oauth.refreshTokenGrantRequest(as, this.client, oauth.None(), this.refresh, this.options)
      this.take(await oauth.processRefreshTokenResponse(as, this.client, res))
    } catch (e) {
      if (e instanceof oauth.ResponseBodyError) {
        // invalid_grant and friends: the session is over.
        this.forget()
        throw new SignedOut()
      }
      throw e // a network failure: keep the session, the caller may retry
    }
  }

  // signOut revokes the refresh token, forgets both tokens, and ends the sign-in session at
  // the auth service, which sends the browser back to /signed-out.
  async signOut(): Promise<void> {
    const refresh = this.refresh
    this.forget(false)
    try {
      const as = await this.server()
      if (refresh && as.revocation_endpoint) {
        await oauth.revocationRequest(as, this.client, oauth.None(), refresh, this.options)
      }
    } catch {
      // nothing more to do here: the tokens are gone from this page either way
    }
    const url = new URL(`${this.cfg.auth_url}/oauth2/logout`)
    url.searchParams.set('client_id', this.client.client_id)
    url.searchParams.set('post_logout_redirect_uri', `${location.origin}/signed-out`)
    location.assign(url.href)
  }

  private forget(notify = true): void {
    const had = this.access !== ''
    this.access = ''
    this.refresh = ''
    this.renewAt = 0
    window.clearTimeout(this.timer)
    if (notify && had) this.onSignedOut()
  }

  // fetch calls a service with the bearer token, renewing once and retrying on a 401.
  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const attempt = async () => {
      const headers = new Headers(init.headers)
      headers.set('Authorization', `Bearer ${await this.token()}`)
      return fetch(url, { ...init, headers, credentials: 'omit', cache: 'no-store' })
    }
    let res = await attempt()
    if (res.status === 401) {
      await this.renew()
      res = await attempt()
    }
    return res
  }

}
