// The `tollgate/rsa` entry: the same API over the module with every algorithm (RS*, PS*,
// ES384, ES512 besides HS*, EdDSA, ES256), about twice the default module's size.
// Entry point for Node, Deno and Bun: the .wasm file is read synchronously next to this
// module, so importing the package is enough (no await needed before verifying).
import { readFileSync } from "node:fs";
import * as wasm from "./dist/tollgate_rsa.js";
import { TollgateError } from "./dist/error.js";
import * as nodeCrypto from "node:crypto";
import { bindApi } from "./src/api.js";
import { nodeProviders } from "./src/native.js";
import { bindClient } from "./src/client.js";

const exports = wasm.initSync({ module: readFileSync(new URL("./dist/tollgate_rsa_bg.wasm", import.meta.url)) });

const api = bindApi(wasm, exports, TollgateError, nodeProviders(nodeCrypto));
export const { Verifier, verify, decode, expiresAt, isExpired, secondsLeft, bearer, remoteJwks, workersCache, clearRemoteJwks } = api;
export const { createClient, memoryStorage, localStorageStorage } = bindClient(api);
export { TollgateError };
