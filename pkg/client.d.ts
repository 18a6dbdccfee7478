// Types of the `tollgate/client` entry: the decoding helpers and the client of the main
// entry, without the WebAssembly validator (no Verifier, verify or remoteJwks).
export {
  TollgateError,
  Claims,
  decode,
  expiresAt,
  isExpired,
  secondsLeft,
  bearer,
  Tokens,
  AccessOnly,
  Slot,
  Lease,
  TokenStorage,
  memoryStorage,
  localStorageStorage,
  Locks,
  ClientOptions,
  Session,
  Client,
  createClient,
} from "./index.js";
