// A second, independent OpenID provider for the identity tests: panva's certified oidc-provider,
// on loopback only. Usage: node server.mjs CONFIG.json; prints "ready" once it listens.
// CONFIG: {port, jwks: {keys: [private JWKs]}, clients: [...], resources: {uri: resource server info},
//          groups: {clientId or accountId: [names]}, extraClaims: {clientId or accountId: {claim: value}},
//          accounts: {id: {claims}}, tokenTtl: seconds a client-credentials token lives (600)}
import fs from 'node:fs';
import Provider, { errors } from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const issuer = `http://127.0.0.1:${config.port}`;

const provider = new Provider(issuer, {
  jwks: config.jwks,
  clients: config.clients,
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    devInteractions: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => config.defaultResource,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => {
        const info = config.resources[resource];
        if (!info) throw new errors.InvalidTarget();
        return info;
      },
    },
  },
  findAccount: (ctx, id) => {
    const account = (config.accounts || {})[id];
    if (!account) return undefined;
    return { accountId: id, claims: () => ({ sub: id, ...account }) };
  },
  claims: { openid: ['sub'], profile: ['name', 'groups'] },
  extraTokenClaims: (ctx, token) => {
    const id = token.accountId || token.clientId;
    const groups = (config.groups || {})[id];
    // Further claims by name, e.g. a namespaced one as Auth0 issues ("https://example.com/roles").
    return { ...(groups ? { groups } : {}), ...((config.extraClaims || {})[id] || {}) };
  },
  pkce: { required: () => true },
  ttl: {
    AccessToken: 600,
    ClientCredentials: config.tokenTtl || 600,
    IdToken: 600,
    Grant: 600,
    Interaction: 600,
    Session: 600,
  },
  cookies: { keys: ['suite-tests-only'] },
});

provider.listen(config.port, '127.0.0.1', () => {
  process.stdout.write('ready\n');
});
