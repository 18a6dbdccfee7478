// Entry for frontends that decode tokens, check expiry and run the client (login,
// refresh, logout, sessions), without the WebAssembly validator: no signature
// verification, nothing to fetch or compile. `import { createClient, decode } from
// "tollgate/client"`. Its decode, expiresAt, isExpired and secondsLeft give the same
// verdicts as the full entry's (src/decode.js says how; tests/js/lite.test.mjs proves it
// on every shared vector and on generated hostile tokens).
import { TollgateError } from "./dist/error.js";
import { bindBearer } from "./src/bearer.js";
import { bindClient } from "./src/client.js";
import { bindDecode } from "./src/decode.js";

const api = bindDecode(TollgateError);
export const { decode, expiresAt, isExpired, secondsLeft } = api;
export const bearer = bindBearer(TollgateError);
export const { createClient, memoryStorage, localStorageStorage } = bindClient({ ...api, TollgateError });
export { TollgateError };
