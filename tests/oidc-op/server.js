// A real OpenID Provider for Samtale's tests: the certified `oidc-provider`
// package on loopback, standing in for a national eID broker (MitID or
// BankID through an OIDC broker). It knows a few test citizens, each with a
// national-id claim and an NSIS level of assurance, and two clients: a
// public one (a native app: authorization code with PKCE, loopback
// redirect) and a confidential one with a client secret (the server logging
// citizens in for the web app, redirect to /v1/eid/callback on loopback).
//
// The login and consent pages are replaced by a machine-friendly
// interaction endpoint: GET /interaction/<uid>?login=<user> logs that user
// in (and grants consent) without a browser, so a test can drive the whole
// authorization-code flow over HTTP.
//
// Start: node server.js  — prints one JSON line {"issuer": "...", "client_id": "..."}
// on stdout once listening on 127.0.0.1 (a free port).

import http from 'node:http';
import Provider from 'oidc-provider';

const NSIS = 'https://data.gov.dk/concept/core/nsis/loa/';
const CLIENT_ID = 'samtale-test';
const REDIRECT_URI = 'http://127.0.0.1/callback';
const WEB_CLIENT_ID = 'samtale-web';
const WEB_CLIENT_SECRET = 'samtale-web-test-secret-not-for-production';
const WEB_REDIRECT_URI = 'http://127.0.0.1/v1/eid/callback';

// Test citizens. The national ids are test numbers, not real people.
const USERS = {
  maja: { national_id: '010203-1234', acr: `${NSIS}Substantial` },
  elsa: { national_id: '19811218-9876', acr: `${NSIS}High` },
  lav: { national_id: '010203-1234', acr: `${NSIS}Low` },
  // More test citizens for the browser suite (web/e2e), one per scenario.
  ole: { national_id: '150688-1111', acr: `${NSIS}Substantial` },
  sofie: { national_id: '240999-2222', acr: `${NSIS}Substantial` },
  noah: { national_id: '311290-3333', acr: `${NSIS}High` },
  ida: { national_id: '010101-4444', acr: `${NSIS}Substantial` },
};

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        redirect_uris: [REDIRECT_URI],
        grant_types: ['authorization_code'],
        response_types: ['code'],
      },
      {
        // A confidential client. Registered as "native" only so that its
        // loopback redirect matches on any port (RFC 8252 §7.3): the test
        // server's port is chosen at random.
        client_id: WEB_CLIENT_ID,
        client_secret: WEB_CLIENT_SECRET,
        application_type: 'native',
        token_endpoint_auth_method: 'client_secret_basic',
        redirect_uris: [WEB_REDIRECT_URI],
        grant_types: ['authorization_code'],
        response_types: ['code'],
      },
    ],
    pkce: { required: () => true },
    scopes: ['openid', 'national_id'],
    claims: { openid: ['sub'], national_id: ['national_id'] },
    // Put the requested claims in the ID token itself, as eID brokers do.
    conformIdTokenClaims: false,
    acrValues: Object.values(USERS).map((u) => u.acr),
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    cookies: { keys: ['samtale-test-only-cookie-key'] },
    async findAccount(ctx, id) {
      const user = USERS[id];
      if (!user) return undefined;
      return {
        accountId: id,
        async claims() {
          return { sub: `sub-${id}`, national_id: user.national_id };
        },
      };
    },
  });

  const callback = provider.callback();
  server.on('request', async (req, res) => {
    const url = new URL(req.url, issuer);
    if (!url.pathname.startsWith('/interaction/')) {
      callback(req, res);
      return;
    }
    try {
      const details = await provider.interactionDetails(req, res);
      if (details.prompt.name === 'login') {
        const id = url.searchParams.get('login');
        const user = USERS[id];
        if (!user) {
          res.writeHead(400, { 'content-type': 'text/plain' }).end(`unknown test user ${id}`);
          return;
        }
        await provider.interactionFinished(req, res, { login: { accountId: id, acr: user.acr } }, { mergeWithLastSubmission: false });
        return;
      }
      if (details.prompt.name === 'consent') {
        const grant = new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
        grant.addOIDCScope(details.params.scope);
        grant.addOIDCClaims(['national_id']);
        const grantId = await grant.save();
        await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
        return;
      }
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`unexpected prompt ${details.prompt.name}`);
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err));
    }
  });

  process.stdout.write(`${JSON.stringify({
    issuer,
    client_id: CLIENT_ID,
    redirect_uri: REDIRECT_URI,
    jwks_uri: `${issuer}/jwks`,
    web_client_id: WEB_CLIENT_ID,
    web_client_secret: WEB_CLIENT_SECRET,
  })}\n`);
});

// Stop with the test: when stdin closes (the parent died or dropped us).
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
