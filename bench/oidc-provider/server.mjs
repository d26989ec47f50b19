// The reference provider for `llave-bench oidc`: node-oidc-provider (OpenID Certified),
// configured like llave as closely as it allows, in one Node.js process.
//
//   node server.mjs [--port 18190] [--refresh-tokens 16]
//
// On start it prints ONE JSON line on stdout:
//   {"ready":true,"issuer":…,"client_id":…,"client_secret":…,"scope":…,"service_scope":…,
//    "refresh_tokens":[…]}
// The refresh tokens are seeded here through the provider's own models (a Grant and a
// RefreshToken per token, saved through its adapter), so the bench needs no browser.
//
// What matches llave: one confidential client (client_secret_basic) with the grants
// authorization_code, refresh_token and client_credentials; PKCE S256 required; refresh
// tokens rotated on every use, reuse revokes the grant; ID tokens with pairwise subjects and
// JWT access tokens (RFC 9068, typ at+jwt, aud = the issuer, 5 minutes), both signed with
// --alg (ES256 by default, as llave; RS256 to compare RSA);
// RS256, ES256 and EdDSA keys published in the JWKS.
//
// What does not: the adapter is oidc-provider's default in-memory one (an LRU of 1000
// entries; nothing is written anywhere, JWT access tokens are not recorded at all), while
// llave writes every grant, access token and refresh token to its database.

import { generateKeyPairSync, randomBytes, createHmac } from 'node:crypto';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '18190' },
    'refresh-tokens': { type: 'string', default: '16' },
    // What access and ID tokens are signed with: ES256 (llave's default) or RS256.
    alg: { type: 'string', default: 'ES256' },
  },
});
const alg = args.alg;
if (alg !== 'ES256' && alg !== 'RS256') {
  process.stderr.write('--alg must be ES256 or RS256\n');
  process.exit(2);
}
const port = Number(args.port);
const seeds = Number(args['refresh-tokens']);
const issuer = `http://127.0.0.1:${port}`;
// The in-memory adapter is an LRU of 1000 entries: a grant and a live refresh token per
// worker (and each one's consumed predecessor) must fit, or seeded grants get evicted.
if (!(seeds >= 1 && seeds <= 300)) {
  process.stderr.write('--refresh-tokens must be between 1 and 300 (the in-memory adapter keeps 1000 entries)\n');
  process.exit(2);
}

// llave's crates/llave/src/oidc/token.rs SERVICE_SCOPES.
const SERVICE_SCOPES = ['records:read', 'records:write', 'lookups', 'signatures', 'catalog:write'];
const USER_SCOPE = 'openid email offline_access';
const REDIRECT_URI = 'http://127.0.0.1:9/callback';
const CLIENT_ID = 'bench';
const CLIENT_SECRET = randomBytes(32).toString('base64url');
const SUBJECT_KEY = randomBytes(32);

function privateJwk(type, options, alg) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), alg, use: 'sig' };
}

// The same key set llave publishes: one current key per algorithm.
const keys = [
  privateJwk('rsa', { modulusLength: 2048 }, 'RS256'),
  privateJwk('ec', { namedCurve: 'P-256' }, 'ES256'),
  privateJwk('ed25519', {}, 'EdDSA'),
];

// What llave's accounts table gives it for the one bench person.
const accounts = new Map();
function account(id) {
  return {
    accountId: id,
    async claims() {
      return { sub: id, email: `${id}@bench.localhost`, email_verified: true };
    },
  };
}

const configuration = {
  clients: [{
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    response_types: ['code'],
    redirect_uris: [REDIRECT_URI],
    id_token_signed_response_alg: alg,
    subject_type: 'pairwise',
    scope: [...USER_SCOPE.split(' '), ...SERVICE_SCOPES].join(' '),
  }],
  jwks: { keys },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  scopes: ['openid', 'offline_access', 'profile', 'email', 'phone', ...SERVICE_SCOPES],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'birthdate'],
  },
  subjectTypes: ['pairwise'],
  // llave: base64url(HMAC-SHA256(key, "llave-sub-v1" ‖ entity ‖ account)).
  async pairwiseIdentifier(_ctx, accountId, client) {
    return createHmac('sha256', SUBJECT_KEY).update(`llave-sub-v1\0${client.clientId}\0${accountId}`).digest('base64url');
  },
  async findAccount(_ctx, id) {
    return accounts.get(id);
  },
  pkce: { required: () => true },
  rotateRefreshToken: true,
  ttl: {
    AccessToken: 300,
    ClientCredentials: 300,
    IdToken: 300,
    AuthorizationCode: 60,
    RefreshToken: 30 * 24 * 3600,
    Grant: 30 * 24 * 3600,
    Session: 30 * 24 * 3600,
    Interaction: 3600,
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    // JWT access tokens need a resource server: the issuer itself, as in llave (aud = iss).
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => issuer,
      useGrantedResource: async () => true,
      getResourceServerInfo: async () => ({
        audience: issuer,
        scope: [...USER_SCOPE.split(' '), ...SERVICE_SCOPES].join(' '),
        accessTokenFormat: 'jwt',
        accessTokenTTL: 300,
        jwt: { sign: { alg } },
      }),
    },
  },
};

const provider = new Provider(issuer, configuration);

// One signed-in person and `seeds` grants, each with a refresh token: what the code flow
// with consent would have left behind.
const client = await provider.Client.find(CLIENT_ID);
const accountId = 'bench-person';
accounts.set(accountId, account(accountId));
const refreshTokens = [];
for (let n = 0; n < seeds; n += 1) {
  const grant = new provider.Grant({ accountId, clientId: CLIENT_ID });
  grant.addOIDCScope(USER_SCOPE);
  grant.addResourceScope(issuer, USER_SCOPE);
  const grantId = await grant.save();
  const refreshToken = new provider.RefreshToken({
    accountId,
    client,
    grantId,
    gty: 'authorization_code',
    scope: USER_SCOPE,
    resource: issuer,
    authTime: Math.floor(Date.now() / 1000),
    amr: ['pwd'],
    acr: 'urn:llave:loa:1',
  });
  refreshTokens.push(await refreshToken.save());
}

provider.on('server_error', (_ctx, error) => {
  process.stderr.write(`server_error: ${error.stack}\n`);
});

const server = provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({
    ready: true,
    issuer,
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    scope: USER_SCOPE,
    service_scope: SERVICE_SCOPES.join(' '),
    refresh_tokens: refreshTokens,
  })}\n`);
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
