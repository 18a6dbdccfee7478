// Argument checks shared by both entries: api.js (over the WebAssembly module) and
// decode.js (plain JS, the `tollgate/client` entry), so that the two refuse the same
// arguments with the same messages.
import { optionsArg } from "./options.js";

/** The latest time a token may carry (the end of year 9999): a larger "now" is milliseconds. */
export const MAX_TIME = 253402300799;

export function bindArgs(TollgateError) {
  const argument = (message) => new TollgateError("argument_invalid", message);
  const nowSeconds = () => Math.floor(Date.now() / 1000);

  function secondsArg(value, name, fallback) {
    if (value === undefined) return fallback;
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
      throw argument(`${name} must be a non-negative number of seconds`);
    }
    return Math.floor(value);
  }

  /** A point in time in epoch seconds; milliseconds (past year 9999 as seconds) are refused. */
  function timeArg(value, name) {
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
      throw argument(`${name} must be a non-negative number of epoch seconds (got ${String(value)})`);
    }
    if (value > MAX_TIME) throw argument(`${name} is ${value}: epoch seconds expected, not milliseconds`);
    return Math.floor(value);
  }

  /** Refuses options given to a function that takes none. */
  function noOptions(name, options) {
    if (options !== undefined) throw argument(`${name}() takes no options (it never verifies: use a Verifier for that)`);
  }

  /** isExpired's `{ leeway, now }` and secondsLeft's `{ now }`: { when, grace } in seconds. */
  function expiryArgs(options, names) {
    const { leeway, now } = optionsArg(argument, options, names);
    const when = now === undefined ? nowSeconds() : timeArg(now, "options.now");
    return { when, grace: secondsArg(leeway, "options.leeway", 0) };
  }

  return { argument, nowSeconds, secondsArg, timeArg, noOptions, expiryArgs };
}
