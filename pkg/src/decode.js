// Decoding without the WebAssembly module, for the `tollgate/client` entry: the same
// verdicts as tollgate-core's `decode` (and the wasm entry's decode, expiresAt, isExpired,
// secondsLeft) on every input, in plain JS. tests/js/lite.test.mjs holds it to that on
// every shared vector and on generated hostile tokens.
//
// The core's rules, mirrored here in the core's order (so the first failing rule, and its
// code, are the same): at most 8 KiB of UTF-8; three segments, the first two non-empty;
// canonical unpadded base64url (no padding, no stray low bits); header and payload valid
// UTF-8 holding one JSON object each, read by serde_json's grammar with duplicate keys
// refused at every depth, at most 127 nested values, no lone surrogate escapes and no
// number beyond a double's range; a header with a string `alg`, a `kid` (if any) that is
// a string of at most 255 bytes, a `typ` (if any) equal to "JWT" in any ASCII case, and
// none of crit, b64, cty, zip, enc. `exp`, when present, counts only as a non-negative
// integer literal up to 253402300799 (year 9999).

import { MAX_TIME, bindArgs } from "./args.js";

const MAX_TOKEN_LEN = 8 * 1024;
const MAX_ID_LEN = 255;
const MAX_DEPTH = 127;
const UNSUPPORTED = ["crit", "b64", "cty", "zip", "enc"];
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const SEXTET = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) SEXTET[ALPHABET.charCodeAt(i)] = i;
const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
const INTEGER = /^(?:0|[1-9]\d*)$/;
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

/** Canonical unpadded base64url to bytes, or null. */
function base64url(text) {
  if (text.length % 4 === 1) return null;
  const out = new Uint8Array((text.length * 3) >> 2);
  let bits = 0;
  let value = 0;
  let at = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const s = c < 128 ? SEXTET[c] : -1;
    if (s < 0) return null;
    value = (value << 6) | s;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (value >> bits) & 0xff;
    }
  }
  // The unused low bits of the last character must be zero.
  return (value & ((1 << bits) - 1)) === 0 ? out : null;
}

/** UTF-8 bytes to a string, or null when they are not valid UTF-8. */
function text(bytes) {
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}

/** Whether a string's UTF-8 form (a lone surrogate as U+FFFD, as TextEncoder writes it) is over `limit` bytes. */
function over(s, limit) {
  if (s.length > limit) return true;
  return s.length * 3 > limit && encoder.encode(s).length > limit;
}

/**
 * One JSON object checked as the core's reader checks it: a map of its top-level keys to
 * the raw text of their values, or null.
 */
function scanObject(json) {
  let i = 0;
  const n = json.length;
  const ws = () => {
    for (let c = json.charCodeAt(i); c === 32 || c === 10 || c === 9 || c === 13; c = json.charCodeAt(++i));
  };
  const hex4 = () => {
    const digits = json.slice(i, i + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(digits)) return -1;
    i += 4;
    return parseInt(digits, 16);
  };
  // At `"`: the decoded string, or null.
  const string = () => {
    let out = "";
    let start = ++i;
    for (;;) {
      if (i >= n) return null;
      const c = json.charCodeAt(i);
      if (c === 34) {
        out += json.slice(start, i++);
        return out;
      }
      if (c < 0x20) return null;
      if (c !== 92) {
        i++;
        continue;
      }
      out += json.slice(start, i);
      const e = json[++i];
      i++;
      const short = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" }[e];
      if (short !== undefined) {
        out += short;
      } else if (e === "u") {
        const first = hex4();
        if (first < 0 || (first >= 0xdc00 && first <= 0xdfff)) return null;
        if (first >= 0xd800 && first <= 0xdbff) {
          if (json[i] !== "\\" || json[i + 1] !== "u") return null;
          i += 2;
          const second = hex4();
          if (second < 0xdc00 || second > 0xdfff) return null;
          out += String.fromCharCode(first, second);
        } else {
          out += String.fromCharCode(first);
        }
      } else {
        return null;
      }
      start = i;
    }
  };
  // After a member or item: true when another follows, false at `close`, null otherwise.
  const next = (close) => {
    ws();
    const c = json[i++];
    if (c === ",") {
      ws();
      return true;
    }
    return c === close ? false : null;
  };
  // A value at nesting `depth`; false when it does not parse.
  const value = (depth) => {
    const c = json[i];
    if (c === "{") return members(depth) !== null;
    if (c === "[") {
      if (depth + 1 > MAX_DEPTH) return false;
      i++;
      ws();
      if (json[i] === "]") {
        i++;
        return true;
      }
      for (;;) {
        if (!value(depth + 1)) return false;
        const more = next("]");
        if (more === null) return false;
        if (!more) return true;
      }
    }
    if (c === '"') return string() !== null;
    for (const word of ["null", "true", "false"]) {
      if (json.startsWith(word, i)) {
        i += word.length;
        return true;
      }
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(json);
    if (m === null) return false;
    i += m[0].length;
    // serde_json: integers that fit u64/i64 always parse; anything else must be a finite double.
    return Number.isFinite(Number(m[0]));
  };
  // At `{`: the members' keys -> raw value text, or null (duplicate keys included).
  const members = (depth) => {
    if (depth + 1 > MAX_DEPTH) return null;
    i++;
    ws();
    const seen = new Map();
    if (json[i] === "}") {
      i++;
      return seen;
    }
    for (;;) {
      if (json[i] !== '"') return null;
      const key = string();
      if (key === null || seen.has(key)) return null;
      ws();
      if (json[i++] !== ":") return null;
      ws();
      const start = i;
      if (!value(depth + 1)) return null;
      seen.set(key, json.slice(start, i));
      const more = next("}");
      if (more === null) return null;
      if (!more) return seen;
    }
  };
  ws();
  if (json[i] !== "{") return null;
  const top = members(0);
  if (top === null) return null;
  ws();
  return i === n ? top : null;
}

export function bindDecode(TollgateError) {
  const invalid = (code) => new TollgateError(code, "Token is invalid");
  const { argument, noOptions, expiryArgs } = bindArgs(TollgateError);

  /** { header, payload (JSON text), exp: undefined | number | null (not canonical) }. */
  function decodeParts(token) {
    if (typeof token !== "string") throw argument("token must be a string");
    if (over(token, MAX_TOKEN_LEN)) throw invalid("token_too_large");
    const first = token.indexOf(".");
    const second = first < 0 ? -1 : token.indexOf(".", first + 1);
    if (first <= 0 || second < 0 || second === first + 1 || token.indexOf(".", second + 1) >= 0) {
      throw invalid("token_malformed");
    }
    const bytes = base64url(token.slice(0, first));
    const headerJson = bytes && text(bytes);
    const header = headerJson === null ? null : scanObject(headerJson);
    if (header === null) throw invalid("token_malformed");
    const get = (name) => (header.has(name) ? JSON.parse(header.get(name)) : undefined);
    if (typeof get("alg") !== "string") throw invalid("token_malformed");
    const kid = get("kid");
    if (kid !== undefined && (typeof kid !== "string" || over(kid, MAX_ID_LEN))) throw invalid("token_malformed");
    const typ = get("typ");
    if (typ !== undefined && !(typeof typ === "string" && /^[jJ][wW][tT]$/.test(typ))) throw invalid("token_header_unsupported");
    if (UNSUPPORTED.some((name) => header.has(name))) throw invalid("token_header_unsupported");
    const payloadBytes = base64url(token.slice(first + 1, second));
    const payloadJson = payloadBytes && text(payloadBytes);
    if (payloadJson === null || base64url(token.slice(second + 1)) === null) throw invalid("token_malformed");
    const payload = scanObject(payloadJson);
    if (payload === null) throw invalid("token_malformed");
    let exp;
    if (payload.has("exp")) {
      const raw = payload.get("exp");
      exp = INTEGER.test(raw) && Number(raw) <= MAX_TIME ? Number(raw) : null;
    }
    return { headerJson, payloadJson, exp };
  }

  /** Header and payload WITHOUT verifying the signature: for display and scheduling. */
  function decode(token, options) {
    noOptions("decode", options);
    const { headerJson, payloadJson } = decodeParts(token);
    return { header: JSON.parse(headerJson), payload: JSON.parse(payloadJson) };
  }

  function exp(token, required) {
    const { exp } = decodeParts(token);
    if (exp === null) throw invalid("token_claim_invalid");
    if (exp === undefined && required) throw new TollgateError("token_no_exp", "Token has no 'exp' claim");
    return exp;
  }

  /** The wasm module's own range for seconds, checked after the token's type as there. */
  function wasmSeconds(value, name) {
    if (!(value < 1e15)) throw argument(`${name} must be a non-negative number of seconds`);
  }

  return {
    decode,
    expiresAt(token, options) {
      noOptions("expiresAt", options);
      return exp(token, false);
    },
    isExpired(token, options) {
      const { when, grace } = expiryArgs(options, ["leeway", "now"]);
      if (typeof token !== "string") throw argument("token must be a string");
      wasmSeconds(grace, "leeway");
      return exp(token, true) + grace <= when;
    },
    secondsLeft(token, options) {
      const { when } = expiryArgs(options, ["now"]);
      return Math.max(0, exp(token, true) - when);
    },
  };
}
