//! The HTTP stack's own limit, for `bench/limits.sh`: one warp route answering a tiny
//! JSON body, on the same warp, hyper and tokio as `tollgate serve` (the same workspace
//! dependencies and features, a multi-threaded runtime built the same way; the script
//! sets `MALLOC_ARENA_MAX=2`, glibc's malloc as `main` sets it). An example, so it is
//! never part of the release binary.
//!
//!   cargo run --release -p tollgate-server --example bare_warp -- 127.0.0.1:8000
//!
//! Answers `GET /bare/` with `{"id":1,"username":"bench"}` (the size of `/api/me/`'s
//! answer for the benchmark user), `POST /bare/` by reading its body whole (up to
//! 64 KiB, as tollgate's limit; warp's `body::bytes`, through hyper's body channel as
//! tollgate reads it) and answering `{}` (verify's answer), and any other request with
//! warp's 404.

use std::net::SocketAddr;

use warp::Filter as _;

const BODY: &str = r#"{"id":1,"username":"bench"}"#;

fn main() -> std::process::ExitCode {
    let Some(Ok(addr)) = std::env::args().nth(1).map(|a| a.parse::<SocketAddr>()) else {
        eprintln!("usage: bare_warp ADDRESS:PORT");
        return std::process::ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("bare_warp: runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => listener,
            Err(err) => {
                eprintln!("bare_warp: cannot listen on {addr}: {err}");
                return std::process::ExitCode::FAILURE;
            }
        };
        let get = warp::get()
            .and(warp::path!("bare"))
            .map(|| warp::reply::with_header(BODY, "content-type", "application/json"));
        let post = warp::post()
            .and(warp::path!("bare"))
            .and(warp::body::content_length_limit(64 * 1024))
            .and(warp::body::bytes())
            .map(|body: bytes::Bytes| {
                // Read, not parsed: the HTTP stack's share of a request with a body.
                drop(body);
                warp::reply::with_header("{}", "content-type", "application/json")
            });
        let route = get.or(post);
        println!("bare_warp listening on http://{addr}/bare/");
        warp::serve(route).incoming(listener).run().await;
        std::process::ExitCode::SUCCESS
    })
}
