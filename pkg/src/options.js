// Strict options: every entry point names the options it accepts, and anything else
// (a misspelling, an option of another entry point, another library's name) is refused
// with `argument_invalid`, naming it and the nearest valid name. An option silently
// ignored is a check silently skipped (`audiance: "api"` used to verify with no
// audience check at all).

/** Levenshtein distance, case-insensitive (option names are short). */
function distance(a, b) {
  a = a.toLowerCase();
  b = b.toLowerCase();
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}

/** The allowed name closest to `name`, if close enough to be a misspelling of it. */
export function nearest(name, allowed) {
  let best = null;
  let bestDistance = Infinity;
  for (const candidate of allowed) {
    const d = distance(name, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return bestDistance <= Math.max(2, Math.floor(best?.length / 3)) ? best : null;
}

/**
 * Throws `argument(message)` for the first own key of `options` not in `allowed`.
 * `where` names the object in messages ("options", "createClient: options", ...);
 * `hints` maps names that belong elsewhere (or to other libraries) to advice.
 */
export function checkOptions(argument, options, allowed, where = "options", hints = {}) {
  for (const name of Object.keys(options)) {
    if (allowed.includes(name)) continue;
    const close = nearest(name, allowed);
    const hint = Object.hasOwn(hints, name) ? hints[name] : close === null ? null : `did you mean ${close}?`;
    const help = hint === null ? `: use ${allowed.join(", ")}` : ` (${hint})`;
    throw argument(`${where}.${name} is not an option${help}`);
  }
}

/** An options argument: undefined (none), or a plain object whose keys are all allowed. */
export function optionsArg(argument, options, allowed, where = "options", hints = {}) {
  if (options === undefined) return {};
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw argument(`${where} must be an object`);
  }
  checkOptions(argument, options, allowed, where, hints);
  return options;
}
