// `bearer(headerValue)`: the token of an Authorization header value, shared by both
// entries (a module of its own, so the full entry does not load the JS decoder for it).
import { optionsArg } from "./options.js";

export function bindBearer(TollgateError) {
  const argument = (message) => new TollgateError("argument_invalid", message);
  /**
   * The token of an Authorization header value, as the server reads it: split on runs
   * of whitespace, the scheme compared case-sensitively. null when there is no token
   * for these schemes; throws `bad_authorization_header` for "Bearer" alone or
   * "Bearer a b".
   */
  function bearer(headerValue, options) {
    const { types = ["Bearer"] } = optionsArg(argument, options, ["types"]);
    if (!Array.isArray(types) || !types.every((t) => typeof t === "string")) {
      throw argument("options.types must be an array of strings");
    }
    if (headerValue === null || headerValue === undefined) return null;
    if (typeof headerValue !== "string") throw argument("the header value must be a string");
    const parts = headerValue.split(/[ \t\n\r\v\f]+/).filter(Boolean);
    if (parts.length === 0 || !types.includes(parts[0])) return null;
    if (parts.length !== 2) {
      throw new TollgateError("bad_authorization_header", "Authorization header must contain two space-delimited values");
    }
    return parts[1];
  }
  return bearer;
}
