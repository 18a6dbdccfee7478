//! The `tollgate` binary: parse the command line, run it, exit non-zero on failure.

use clap::Parser as _;

/// glibc's malloc gives threads (tokio's workers, sled's, the hashing pool) arenas of
/// their own, which fragment under churn: a soak with the flush deleting under load grew
/// to about 120 MiB and stayed there, against 50 MiB with two arenas and 40 with one
/// (BENCHMARKS.md, "Soak"; jemalloc held about 100 MiB, mimalloc grew past 170).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn limit_malloc_arenas() {
    // SAFETY: mallopt only sets an allocator parameter; it runs first in `main`, before
    // any other thread exists. Its result (1 on success) needs no handling: without it
    // the server is correct, only larger.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

fn main() -> std::process::ExitCode {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    limit_malloc_arenas();
    let cli = tollgate_server::cli::Cli::parse();
    match tollgate_server::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tollgate: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
