// Entry point for edge workers (Cloudflare Workers/workerd, Vercel Edge): their bundlers
// turn a `.wasm` import into a compiled WebAssembly.Module, instantiated synchronously.
import wasmModule from "./dist/tollgate_wasm_bg.wasm";
import * as wasm from "./dist/tollgate_wasm.js";
import { TollgateError } from "./dist/error.js";
import { bindApi } from "./src/api.js";
import { webProvider } from "./src/native.js";
import { bindClient } from "./src/client.js";

const exports = wasm.initSync({ module: wasmModule });

const api = bindApi(wasm, exports, TollgateError, { async: webProvider(globalThis.crypto?.subtle) });
export const { Verifier, verify, decode, expiresAt, isExpired, secondsLeft, bearer, remoteJwks, workersCache, clearRemoteJwks } = api;
export const { createClient, memoryStorage, localStorageStorage } = bindClient(api);
export { TollgateError };
