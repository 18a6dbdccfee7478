//! Cross-crate tests. One module per concern:
//! - `vectors_drift`: the committed generated vectors equal a fresh deterministic run.
//! - `simplejwt_bytes`: tollgate mints Simple JWT's exact token bytes.
//! - `ts_codes`: the npm package's TypeScript error-code unions equal the core's and server's codes.

mod simplejwt_bytes;
mod ts_codes;
mod vectors_drift;
