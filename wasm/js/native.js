// The signature math the module hands to the runtime's native crypto (issue #17): the
// module calls nativeVerify(keyIndex, message, signature) from Verifier.verifyTokenNative,
// after every check before the signature passed (envelope, header, alg, kid, the
// signature's shape), and the package's JS answers with the key it imported for that index
// (pkg/src/native.js). `message` and `signature` are views of the module's memory, valid
// during the call only. The handler is set right before each call (verification is
// synchronous), so one slot serves every Verifier and both modules.
const slot = Symbol.for("tollgate.nativeVerify");

export function nativeVerify(index, message, signature) {
  const handler = globalThis[slot];
  return typeof handler === "function" && handler(index, message, signature) === true;
}
