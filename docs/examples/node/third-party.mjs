// A third party's back end (a bank) going through Llave's FAPI 2.0 flow with openid-client
// v6: discovery, private_key_jwt, a pushed authorization request (optionally a signed
// request object, JAR) with PKCE and a DPoP key, the person's browser, the code exchanged
// with DPoP (openid-client retries on use_dpop_nonce by itself), UserInfo with the DPoP
// scheme, and a refresh with the same key.
//
//   npm ci
//   LLAVE_ISSUER=https://llave.example.gob.mx CLIENT_ID=… CLIENT_KEY='{"kty":"EC",…,"d":…}' \
//       REDIRECT_URI=https://banco.example/llave/callback [USE_JAR=1] node third-party.mjs
//
// It prints `authorize URL`: open it in a browser, sign in and agree, then paste the URL
// Llave sent the browser back to (the redirect URI with `code`, `state` and `iss`) on its
// standard input. It prints `result {JSON}` and ends. llave's integration tests drive this
// very file (crates/llave/tests/integration/fapi/node.rs).

import { createInterface } from 'node:readline'
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
const clientJwk = JSON.parse(env('CLIENT_KEY'))
const redirectUri = env('REDIRECT_URI')
const useJar = process.env.USE_JAR === '1'
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
  })}`,
)
