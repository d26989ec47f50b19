// A third party's back end (a bank) going through Llave's FAPI 2.0 flow with openid-client
// v6: discovery, private_key_jwt, a pushed authorization request (optionally a signed
// request object, JAR) with PKCE and a DPoP key, the person's browser, the code exchanged
// with DPoP (openid-client retries on use_dpop_nonce by itself), UserInfo with the DPoP
// scheme, and a refresh with the same key. With SHARE set (a comma-separated list of items,
// e.g. name,curp,birthdate), it asks for them with `data_sharing` authorization details,
// verifies the consent artefact of the token response with `jose` against Llave's JWKS,
// and fetches the shared data (a JWS, verified the same way) with DPoP.
//
//   npm ci
//   LLAVE_ISSUER=https://llave.example.gob.mx CLIENT_ID=… CLIENT_KEY='{"kty":"EC",…,"d":…}' \
//       REDIRECT_URI=https://banco.example/llave/callback [USE_JAR=1] [SHARE=name,curp] \
//       node third-party.mjs
//
// It prints `authorize URL`: open it in a browser, sign in and agree, then paste the URL
// Llave sent the browser back to (the redirect URI with `code`, `state` and `iss`) on its
// standard input. It prints `result {JSON}` and ends. llave's integration tests drive this
// very file (crates/llave/tests/integration/fapi/node.rs).

import { createInterface } from 'node:readline'
import * as client from 'openid-client'
import * as jose from 'jose'

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
const clientJwk = JSON.parse(env('CLIENT_KEY'))
const redirectUri = env('REDIRECT_URI')
const useJar = process.env.USE_JAR === '1'
const share = process.env.SHARE ? process.env.SHARE.split(',') : null
const isLoopback = (url) => ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname)

// The key the client registered (its public half) signs its assertions and request objects.
const privateKey = await crypto.subtle.importKey(
  'jwk',
  clientJwk,
  { name: 'ECDSA', namedCurve: 'P-256' },
  false,
  ['sign'],
)
const signingKey = { key: privateKey, kid: clientJwk.kid }

// Llave signs a third party's ID tokens with ES256 (FAPI 2.0 excludes RS256).
const config = await client.discovery(
  issuer,
  clientId,
  { id_token_signed_response_alg: 'ES256' },
  client.PrivateKeyJwt(signingKey),
  issuer.protocol === 'http:' && isLoopback(issuer) ? { execute: [client.allowInsecureRequests] } : undefined,
)

// A DPoP key of this session: every token is bound to it.
const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'))

const pkceCodeVerifier = client.randomPKCECodeVerifier()
const state = client.randomState()
const parameters = {
  redirect_uri: redirectUri,
  scope: 'openid profile offline_access',
  code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
  code_challenge_method: 'S256',
  state,
}
if (share) {
  // What the bank asks for, why, how often, how long it keeps it and until when.
  const expires = new Date(Date.now() + 30 * 86400 * 1000).toISOString().replace(/\.\d+Z$/, 'Z')
  parameters.authorization_details = JSON.stringify([
    { type: 'data_sharing', purpose: 'apertura_cuenta', items: share, fetch: 'once', data_life: 'P5Y', expires },
  ])
}
const pushed = useJar
  ? (await client.buildAuthorizationUrlWithJAR(config, parameters, signingKey)).searchParams
  : parameters
const authorizationUrl = await client.buildAuthorizationUrlWithPAR(config, pushed, { DPoP })
console.log(`authorize ${authorizationUrl.href}`)

const lines = createInterface({ input: process.stdin })
const callback = await new Promise((resolve) => lines.once('line', resolve))
lines.close()

const tokens = await client.authorizationCodeGrant(
  config,
  new URL(callback),
  { pkceCodeVerifier, expectedState: state },
  undefined,
  { DPoP },
)
const claims = tokens.claims()
const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub, { DPoP })

// The consent artefact and the shared data: JWSs of Llave, checked with its published keys.
let artefact = null
let shared = null
if (share) {
  const jwks = jose.createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri))
  const verify = async (jws, typ) =>
    (await jose.jwtVerify(jws, jwks, { issuer: issuer.href.replace(/\/$/, ''), audience: clientId, typ, algorithms: ['ES256'] }))
      .payload
  artefact = await verify(tokens.consent_artefact, 'consent-artefact+jwt')
  const response = await client.fetchProtectedResource(
    config,
    tokens.access_token,
    new URL('/api/shared-data', issuer),
    'GET',
    undefined,
    undefined,
    { DPoP },
  )
  if (response.status !== 200) throw new Error(`shared data: ${response.status} ${await response.text()}`)
  shared = await verify(await response.text(), 'shared-data+jwt')
}
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP })

console.log(
  `result ${JSON.stringify({
    token_type: tokens.token_type,
    access_token: tokens.access_token,
    sub: claims.sub,
    userinfo_sub: userinfo.sub,
    given_name: userinfo.given_name,
    refreshed_token_type: refreshed.token_type,
    refreshed_access_token: refreshed.access_token,
    grant_id: tokens.grant_id,
    artefact,
    shared,
  })}`,
)
