// Entry point for Node, Deno and Bun: the .wasm file is read synchronously next to this
// module, so importing the package is enough (no await needed before verifying).
import { readFileSync } from "node:fs";
import * as wasm from "./dist/tollgate_wasm.js";
import { TollgateError } from "./dist/error.js";
import * as nodeCrypto from "node:crypto";
import { bindApi } from "./src/api.js";
import { nodeProviders } from "./src/native.js";
import { bindClient } from "./src/client.js";

const exports = wasm.initSync({ module: readFileSync(new URL("./dist/tollgate_wasm_bg.wasm", import.meta.url)) });

const api = bindApi(wasm, exports, TollgateError, nodeProviders(nodeCrypto));
export const { Verifier, verify, decode, expiresAt, isExpired, secondsLeft, bearer, remoteJwks, workersCache, clearRemoteJwks } = api;
export const { createClient, memoryStorage, localStorageStorage } = bindClient(api);
export { TollgateError };
