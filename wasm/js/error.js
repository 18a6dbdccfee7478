// The error every tollgate function throws: `.code` is tollgate-core's stable code
// (e.g. "token_expired"), `.message` the Simple JWT message ("Token is expired").
export class TollgateError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "TollgateError";
    this.code = code;
  }
}

export function tollgateError(code, message) {
  return new TollgateError(code, message);
}
