// Tokens and a JWKS made by `jose` (panva/jose, pinned by package-lock.json), an independent
// JOSE implementation, for tests/integration/interop_test.cc: cairn must accept what a
// standards-conforming issuer produces, byte encodings included (RSA n/e, EC x/y and the raw
// r||s ES256 signature, OKP x, oct k), and refuse the bad ones.
//
// usage: node jose_tokens.mjs make OUT_DIR ISSUER AUDIENCE
//          writes OUT_DIR/jwks.json (public keys and the HS256 secret; mode 0600) and
//          OUT_DIR/tokens.json ({ name: compact JWS }).
//        node jose_tokens.mjs verify JWKS_FILE TOKEN ISSUER AUDIENCE
//          verifies TOKEN (e.g. from `cairn token mint`) with jose's jwtVerify; prints the claims.
// Exit status 0 on success, 1 otherwise.
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { webcrypto } from 'node:crypto';
import * as jose from 'jose';

const ROLES = ['order-reader'];

async function signed(key, alg, kid, claims, headerExtra = {}, signOptions = undefined) {
  return new jose.SignJWT(claims)
    .setProtectedHeader({ alg, kid, typ: 'JWT', ...headerExtra })
    .sign(key, signOptions);
}

// A critical header extension the issuer understands and cairn does not (RFC 7515 4.1.11).
const CRIT = 'urn:example:must-understand';

async function make(outDir, issuer, audience) {
  const now = Math.floor(Date.now() / 1000);
  const keys = {
    RS256: await jose.generateKeyPair('RS256', { modulusLength: 2048, extractable: true }),
    ES256: await jose.generateKeyPair('ES256', { extractable: true }),
    EdDSA: await jose.generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true }),
  };
  const secret = webcrypto.getRandomValues(new Uint8Array(32));
  const jwks = { keys: [] };
  for (const [alg, pair] of Object.entries(keys)) {
    jwks.keys.push({ ...(await jose.exportJWK(pair.publicKey)), kid: `jose-${alg}`, alg, use: 'sig' });
  }
  jwks.keys.push({ ...(await jose.exportJWK(secret)), kid: 'jose-HS256', alg: 'HS256', use: 'sig' });

  const claims = (sub, extra = {}) => ({
    iss: issuer, aud: audience, sub, iat: now, nbf: now - 5, exp: now + 600, roles: ROLES, ...extra,
  });
  const tokens = {};
  for (const [alg, pair] of Object.entries(keys)) {
    tokens[alg] = await signed(pair.privateKey, alg, `jose-${alg}`, claims(`jose-${alg}`));
  }
  tokens.HS256 = await signed(secret, 'HS256', 'jose-HS256', claims('jose-HS256'));
  // Refused: expired beyond any leeway, another audience, not yet valid, an unknown kid, a
  // critical header, and the ES256 key's kid on a token that says RS256 (signed by the RSA key).
  tokens.expired = await signed(keys.ES256.privateKey, 'ES256', 'jose-ES256',
                                claims('jose-expired', { iat: now - 7200, nbf: now - 7200, exp: now - 3600 }));
  tokens.wrong_audience = await signed(keys.EdDSA.privateKey, 'EdDSA', 'jose-EdDSA',
                                       claims('jose-aud', { aud: 'someone-else' }));
  tokens.not_yet_valid = await signed(keys.RS256.privateKey, 'RS256', 'jose-RS256',
                                      claims('jose-nbf', { nbf: now + 3600 }));
  tokens.unknown_kid = await signed(keys.ES256.privateKey, 'ES256', 'jose-unknown', claims('jose-kid'));
  tokens.critical_header = await signed(keys.EdDSA.privateKey, 'EdDSA', 'jose-EdDSA', claims('jose-crit'),
                                        { crit: [CRIT], [CRIT]: true }, { crit: { [CRIT]: true } });
  tokens.alg_not_the_keys = await signed(keys.RS256.privateKey, 'RS256', 'jose-ES256', claims('jose-swap'));

  const jwksPath = join(outDir, 'jwks.json');
  writeFileSync(jwksPath, JSON.stringify(jwks), { mode: 0o600 });
  chmodSync(jwksPath, 0o600);
  writeFileSync(join(outDir, 'tokens.json'), JSON.stringify(tokens));
  console.log(`jose ${Object.keys(tokens).length} tokens, ${jwks.keys.length} keys`);
}

async function verify(jwksFile, token, issuer, audience) {
  const keySet = jose.createLocalJWKSet(JSON.parse(readFileSync(jwksFile, 'utf8')));
  const { payload, protectedHeader } = await jose.jwtVerify(token, keySet, {
    issuer, audience, algorithms: ['EdDSA'], requiredClaims: ['exp', 'sub'],
  });
  console.log(JSON.stringify({ header: protectedHeader, payload }));
}

const [mode, ...args] = process.argv.slice(2);
try {
  if (mode === 'make' && args.length === 3) await make(...args);
  else if (mode === 'verify' && args.length === 4) await verify(...args);
  else {
    console.error('usage: jose_tokens.mjs make OUT_DIR ISSUER AUDIENCE | verify JWKS TOKEN ISSUER AUDIENCE');
    process.exit(2);
  }
} catch (e) {
  console.error(`jose_tokens: ${e.code ?? ''} ${e.message}`);
  process.exit(1);
}
