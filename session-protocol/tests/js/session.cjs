// Plays the dapp side of a WalletConnect v2 session with the real
// @walletconnect/utils and jsonrpc-utils, against the Rust wallet endpoint
// (tests/wc_session.rs). Input (stdin) and output (stdout) are JSON.
"use strict";
const u = require("@walletconnect/utils");
const { formatJsonRpcRequest, formatJsonRpcResult } = require("@walletconnect/jsonrpc-utils");

const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
let out;
if (input.step === "propose") {
  // As sign-client's engine.connect(): a fresh key pair and wc_sessionPropose on the pairing topic.
  const pair = u.generateKeyPair();
  const request = formatJsonRpcRequest("wc_sessionPropose", {
    requiredNamespaces: {},
    optionalNamespaces: {
      eip155: { chains: ["eip155:1"], methods: ["personal_sign"], events: ["accountsChanged"], rpcMap: { 1: "https://rpc.example" } },
    },
    relays: [{ protocol: "irn" }],
    proposer: { publicKey: pair.publicKey, metadata: { name: "js dapp", description: "", url: "https://dapp.example", icons: [] } },
    expiryTimestamp: Math.floor(Date.now() / 1000) + 300,
    pairingTopic: u.hashKey(input.pairingSymKey),
  });
  out = {
    privateKey: pair.privateKey,
    id: String(request.id),
    message: u.encrypt({ symKey: input.pairingSymKey, message: JSON.stringify(request) }),
  };
} else {
  // The wallet's answer on the pairing topic, then the settle on the session topic.
  const response = JSON.parse(u.decrypt({ symKey: input.pairingSymKey, encoded: input.response }));
  const sessionKey = u.deriveSymKey(input.privateKey, response.result.responderPublicKey);
  const settle = JSON.parse(u.decrypt({ symKey: sessionKey, encoded: input.settle }));
  const ack = formatJsonRpcResult(settle.id, true);
  const sign = formatJsonRpcRequest("wc_sessionRequest", {
    request: { method: "personal_sign", params: ["0x68656c6c6f", "0xab16a96d359ec26a11e2c2b3d8f8b8942d5bfcdb"] },
    chainId: "eip155:1",
  });
  out = {
    response,
    sessionTopic: u.hashKey(sessionKey),
    settle,
    ack: u.encrypt({ symKey: sessionKey, message: JSON.stringify(ack) }),
    signId: String(sign.id),
    sign: u.encrypt({ symKey: sessionKey, message: JSON.stringify(sign) }),
    sessionKey,
  };
}
process.stdout.write(JSON.stringify(out));
