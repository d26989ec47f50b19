// A government entity's website that signs people in with Llave: node:http for the web,
// openid-client v6 for OpenID Connect (discovery, the authorization code flow with PKCE,
// ID token validation, UserInfo).
//
// Three pages: `/` with a "Sign in with Llave" link, `/login` that sends the browser to
// Llave, and the callback (the path of REDIRECT_URI, e.g. `/callback`) that Llave sends it
// back to, which greets the person by name.
//
//   npm ci
//   LLAVE_ISSUER=https://llave.example.gob.mx CLIENT_ID=… CLIENT_SECRET=… \
//       REDIRECT_URI=http://127.0.0.1:3000/callback LISTEN=127.0.0.1:3000 node entity.mjs
//
// llave's integration tests run this very file against a real llave
// (crates/llave/tests/integration/oidc/examples.rs), so it keeps working.

import { createServer } from 'node:http'
import * as client from 'openid-client'

const env = (name) => {
  const value = process.env[name]
  if (!value) {
    console.error(`set ${name}`)
    process.exit(1)
  }
  return value
}

const issuer = new URL(env('LLAVE_ISSUER'))
const clientId = env('CLIENT_ID')
const clientSecret = env('CLIENT_SECRET')
const redirectUri = new URL(env('REDIRECT_URI'))
const listen = new URL(`http://${env('LISTEN')}`) // host:port, e.g. 127.0.0.1:3000

const isLoopback = (url) => ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname)

// Tokens and personal data travel over these: plain http only on this machine.
for (const [name, url] of [['LLAVE_ISSUER', issuer], ['REDIRECT_URI', redirectUri]]) {
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url))) {
    console.error(`${name} must be https (http only for 127.0.0.1, [::1] or localhost): ${url}`)
    process.exit(1)
  }
}
if (['/', '/login'].includes(redirectUri.pathname)) {
  console.error(`REDIRECT_URI: its path must not be / or /login, the other pages: ${redirectUri}`)
  process.exit(1)
}

// Discovery at {issuer}/.well-known/openid-configuration. Llave registers confidential
// clients for client_secret_basic unless told otherwise (openid-client's default would be
// client_secret_post). openid-client refuses plain http; allowInsecureRequests lifts that,
// and only for an issuer on this machine (development and llave's own tests), never for a
// real Llave, which is always https.
const config = await client.discovery(
  issuer,
  clientId,
  undefined,
  client.ClientSecretBasic(clientSecret),
  issuer.protocol === 'http:' && isLoopback(issuer) ? { execute: [client.allowInsecureRequests] } : undefined,
)

// The cookie that ties a sign-in to the browser that started it (it holds the `state`).
const LOGIN_COOKIE = 'entity_login'
// How long a person has to get through Llave's pages before the sign-in must restart.
const LOGIN_LIFETIME_MS = 10 * 60 * 1000
// Sign-ins started and not finished that this process remembers, at most.
const MAX_PENDING = 10_000
// Sign-ins on their way through Llave, keyed by `state`: what the callback needs to finish
// them. A site with several processes keeps this in its session store.
const pending = new Map()

const escape = (text) =>
  String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c])

const page = (body) =>
  `<!doctype html><html lang="en"><meta charset="utf-8"><title>Example entity</title>${body}</html>`

const send = (res, status, body, headers = {}) => {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...headers })
  res.end(page(body))
}

const failure = (res, status, message) =>
  send(res, status, `<p>${escape(message)}</p><p><a href="/">Back</a></p>`)

const cookie = (req, name) => {
  for (const pair of (req.headers.cookie ?? '').split(';')) {
    const [key, ...value] = pair.trim().split('=')
    if (key === name) return value.join('=')
  }
  return undefined
}

const cookieAttributes = `Path=/; HttpOnly; SameSite=Lax${redirectUri.protocol === 'https:' ? '; Secure' : ''}`

// Sends the browser to Llave's authorization endpoint.
async function login(res) {
  for (const [state, started] of pending) {
    if (Date.now() - started.at >= LOGIN_LIFETIME_MS) pending.delete(state)
  }
  if (pending.size >= MAX_PENDING) {
    return failure(res, 503, 'Too many sign-ins at once; try again in a minute.')
  }
  // PKCE S256 (RFC 7636): only this process knows the verifier, so a stolen code is useless.
  const verifier = client.randomPKCECodeVerifier()
  const state = client.randomState()
  const nonce = client.randomNonce()
  pending.set(state, { verifier, nonce, at: Date.now() })
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri.href,
    scope: 'openid profile',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  })
  // SameSite=Lax: the cookie comes back on the top-level redirect from Llave.
  res.writeHead(303, {
    location: url.href,
    'set-cookie': `${LOGIN_COOKIE}=${state}; ${cookieAttributes}; Max-Age=${LOGIN_LIFETIME_MS / 1000}`,
  })
  res.end()
}

// Llave's answer to the authorization request (RFC 6749 §4.1.2).
async function callback(req, res, url) {
  // The state must be the one this browser's cookie holds (no sign-in started by someone
  // else, CSRF), and it works once.
  const state = url.searchParams.get('state')
  if (!state || cookie(req, LOGIN_COOKIE) !== state) {
    return failure(res, 400, 'This sign-in was not started here; please start again.')
  }
  const started = pending.get(state)
  pending.delete(state)
  if (!started || Date.now() - started.at >= LOGIN_LIFETIME_MS) {
    return failure(res, 400, 'This sign-in has expired; please start again.')
  }
  try {
    // Checks `iss` (RFC 9207) and `state`, turns an `error` into an exception, exchanges the
    // code with the PKCE verifier, and validates the ID token: signature, issuer, audience,
    // expiry, nonce.
    const tokens = await client.authorizationCodeGrant(config, url, {
      pkceCodeVerifier: started.verifier,
      expectedState: state,
      expectedNonce: started.nonce,
      idTokenExpected: true,
    })
    const { sub } = tokens.claims()
    // UserInfo must speak of the same subject as the ID token (OIDC Core §5.3.2).
    const userinfo = await client.fetchUserInfo(config, tokens.access_token, sub)
    // A real site would start its own session for `sub` here and redirect. `sub` is
    // pairwise: the same person has a different one at every entity.
    send(
      res,
      200,
      `<h1>Hello, ${escape(userinfo.given_name)}</h1>` +
        `<p>Your identifier at this entity (<code>sub</code>): <code id="sub">${escape(sub)}</code></p>`,
      { 'set-cookie': `${LOGIN_COOKIE}=; ${cookieAttributes}; Max-Age=0` },
    )
  } catch (error) {
    if (error instanceof client.AuthorizationResponseError) {
      // An `error` from Llave, e.g. access_denied: the person said no on its consent page.
      return failure(res, 403, `Llave did not sign you in (${error.error}).`)
    }
    console.error('sign-in failed:', error)
    failure(res, 502, 'The sign-in could not be completed; please start again.')
  }
}

const server = createServer(async (req, res) => {
  // The callback's full URL as Llave sent it: openid-client reads the answer from it.
  const url = new URL(req.url, redirectUri)
  try {
    if (req.method !== 'GET') return failure(res, 405, 'Method not allowed.')
    if (url.pathname === '/') return send(res, 200, '<p><a href="/login">Sign in with Llave</a></p>')
    if (url.pathname === '/login') return await login(res)
    if (url.pathname === redirectUri.pathname) return await callback(req, res, url)
    failure(res, 404, 'Not found.')
  } catch (error) {
    console.error(error)
    if (!res.headersSent) failure(res, 500, 'Something went wrong.')
  }
})

server.listen(Number(listen.port || 80), listen.hostname.replace(/^\[|\]$/g, ''), () => {
  const { address, port } = server.address()
  const host = address.includes(':') ? `[${address}]` : address
  console.log(`listening on http://${host}:${port}`)
})
