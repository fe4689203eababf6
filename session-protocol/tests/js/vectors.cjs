// Produces and checks WalletConnect v2 crypto vectors with the real @walletconnect/utils.
// Input (stdin): JSON from tests/wc_compat.rs. Output (stdout): JSON results.
"use strict";
const u = require("@walletconnect/utils");

const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const jsPair = u.generateKeyPair();
const jsSym = u.generateRandomBytes32();
const out = {
  type0: u.encrypt({ symKey: input.symKey, iv: input.iv, message: input.message }),
  type1: u.encrypt({
    type: 1,
    symKey: input.symKey,
    iv: input.iv,
    message: input.message,
    senderPublicKey: input.senderPublicKey,
  }),
  type2: u.encodeTypeTwoEnvelope(input.message),
  derived: u.deriveSymKey(input.privA, input.pubB),
  derivedTopic: u.hashKey(u.deriveSymKey(input.privA, input.pubB)),
  jsPublic: jsPair.publicKey,
  jsDerivedWithB: u.deriveSymKey(jsPair.privateKey, input.pubB),
  jsSym,
  jsSymTopic: u.hashKey(jsSym),
  jsSealed: u.encrypt({ symKey: jsSym, message: input.message }),
  uri: u.formatUri({
    protocol: "wc",
    version: 2,
    topic: u.hashKey(input.symKey),
    symKey: input.symKey,
    relay: { protocol: "irn" },
    expiryTimestamp: input.expiryTimestamp,
    methods: input.methods,
  }),
  parsedRustUri: u.parseUri(input.rustUri),
  opened: input.rustEnvelopes.map((e) => {
    try {
      return u.decrypt({ symKey: e.symKey, encoded: e.encoded });
    } catch (err) {
      return { error: String(err && err.message) };
    }
  }),
  rustType1Sender: u.deserialize({ encoded: input.rustType1 }).senderPublicKey
    ? Buffer.from(u.deserialize({ encoded: input.rustType1 }).senderPublicKey).toString("hex")
    : null,
};
process.stdout.write(JSON.stringify(out));
