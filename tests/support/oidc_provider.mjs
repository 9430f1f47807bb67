// A real OpenID Connect provider for the tests: panva's oidc-provider (OpenID Certified), on
// loopback, with its development sign-in and consent pages. tests/support/oidc_provider.py starts
// it with its configuration as JSON in OP_CONFIG:
//   {"issuer": "http://127.0.0.1:PORT", "port": PORT, "clients": [...], "accounts": {login: claims},
//    "accessTokenTtl": seconds}
// Clients register themselves at /reg (OpenID Connect Dynamic Client Registration).
// Any password signs in an account that exists in "accounts" (the login is its `sub`).
import Provider from 'oidc-provider';

const config = JSON.parse(process.env.OP_CONFIG);
const accounts = config.accounts;

const provider = new Provider(config.issuer, {
  clients: config.clients,
  async findAccount(ctx, id) {
    const claims = accounts[id];
    if (!claims) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...claims }; } };
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username', 'groups'],
  },
  // registration: each test server registers its own client (its callback URL has its port).
  features: { devInteractions: { enabled: true }, registration: { enabled: true }, revocation: { enabled: true } },
  // Refresh tokens for every client allowed the grant, without offline_access and prompt=consent.
  async issueRefreshToken(ctx, client) { return client.grantTypeAllowed('refresh_token'); },
  ttl: {
    AccessToken: config.accessTokenTtl || 3600,
    AuthorizationCode: 60,
    IdToken: 3600,
    RefreshToken: 86400,
    Grant: 86400,
    Interaction: 3600,
    Session: 86400,
  },
  cookies: { keys: ['oidc-provider-test-cookie-key'] },
});
provider.on('server_error', (ctx, error) => process.stderr.write(`server_error: ${error.stack}\n`));
provider.listen(config.port, '127.0.0.1', () => process.stdout.write(`listening ${config.issuer}\n`));
