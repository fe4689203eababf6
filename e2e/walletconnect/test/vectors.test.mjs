// session-protocol/tests/vectors/walletconnect.json against the official
// @walletconnect/utils 2.25.0: every namespace the Rust library writes passes the
// SDK's own validators, every refusal is refused by the SDK too, and every error
// code and message equals the SDK's getSdkError.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { getSdkError, isValidNamespaces, isValidRequiredNamespaces } from '@walletconnect/utils';

const vectors = JSON.parse(readFileSync(new URL('../../../session-protocol/tests/vectors/walletconnect.json', import.meta.url)));
const proposalOk = (wire) => isValidRequiredNamespaces(wire, 'connect()', 'requiredNamespaces') === null;

test('proposal namespaces we write pass the SDK validator', () => {
  for (const c of vectors.proposal.write) assert.ok(proposalOk(c.wire), c.name);
  for (const c of vectors.proposal.read) assert.equal(proposalOk(c.wire), !c.sdkRefuses, c.name);
  for (const c of vectors.proposal.refuse_read) assert.equal(proposalOk(c.wire), false, c.name);
  const propose = vectors.params.wc_sessionPropose;
  assert.ok(proposalOk(propose.requiredNamespaces) && proposalOk(propose.optionalNamespaces));
});

test('session namespaces we write pass the SDK validator', () => {
  for (const c of vectors.session.write) assert.equal(isValidNamespaces(c.wire, 'approve()'), null, c.name);
  for (const c of vectors.session.read) assert.equal(isValidNamespaces(c.wire, 'approve()'), null, c.name);
  assert.equal(isValidNamespaces(vectors.params.wc_sessionSettle.namespaces, 'onSessionSettleRequest()'), null);
  assert.equal(isValidNamespaces(vectors.params.wc_sessionUpdate.namespaces, 'update()'), null);
});

test('error codes and messages are the SDK\'s', () => {
  const keyed = vectors.errors.filter((e) => e.key);
  assert.equal(keyed.length, 21);
  for (const e of keyed) assert.deepEqual(getSdkError(e.key), { code: e.code, message: e.message }, e.key);
});
