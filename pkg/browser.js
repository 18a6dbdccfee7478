// Entry point for browsers (plain <script type="module"> or a bundler): the module
// fetches and compiles the .wasm once, with top-level await, so every function is
// synchronous after `import`.
import init, * as wasm from "./dist/tollgate_wasm.js";
import { TollgateError } from "./dist/error.js";
import { bindApi } from "./src/api.js";
import { webProvider } from "./src/native.js";
import { bindClient } from "./src/client.js";

const exports = await init({ module_or_path: new URL("./dist/tollgate_wasm_bg.wasm", import.meta.url) });

const api = bindApi(wasm, exports, TollgateError, { async: webProvider(globalThis.crypto?.subtle) });
export const { Verifier, verify, decode, expiresAt, isExpired, secondsLeft, bearer, remoteJwks, workersCache, clearRemoteJwks } = api;
export const { createClient, memoryStorage, localStorageStorage } = bindClient(api);
export { TollgateError };
