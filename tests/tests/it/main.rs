//! Cross-crate tests. One module per concern:
//! - `vectors_drift`: the committed generated vectors equal a fresh deterministic run.
//! - `simplejwt_bytes`: tollgate mints Simple JWT's exact token bytes.

mod simplejwt_bytes;
mod vectors_drift;
