//! The HTTP/1.0 responder: serves a directory of static files to browsers, curl and ab.
//!
//! Mirrors `python3 -m http.server --bind 127.0.0.1 8080 --directory site` (the standard
//! library's `http.server`); the server itself is the library's [`mio_selectors::http`]
//! module on the protocol layer, and docs/http.md walks through it.
//!
//! Run (with no flags it serves the bundled tour of the server, `site/`):
//!
//! ```sh
//! cargo run --release --example http_server                 # http://127.0.0.1:8080/
//! cargo run --release --example http_server -- --root ~/www --port 8000 --workers 2
//! cargo run --release --example http_server -- --cache /=60 --cache /files/=0 --languages en,de
//! RUST_LOG=warn cargo run --release --example http_server   # no access log
//! cargo run --release --example http_server -- --auth /docs/=data/users.htpasswd
//! ```
//!
//! The `/app/` demo (sessions, a login form, `whoami`) is always on; its users come from
//! `--users` (default: `data/users.htpasswd`, whose demo credentials the `/app/` page
//! states). A users file that is not bcrypt-only htpasswd stops the server at start, with
//! exit status 2 and the file and line named.
//!
//! Talk to it:
//!
//! ```sh
//! curl -v http://127.0.0.1:8080/
//! curl -I http://127.0.0.1:8080/logo.png
//! curl -v -r 100-199 http://127.0.0.1:8080/files/large.txt        # 206 Partial Content
//! curl -v -H 'Accept-Language: de' http://127.0.0.1:8080/negotiation/hello   # a variant
//! curl -v http://127.0.0.1:8080/listing/                          # a directory listing
//! printf 'GET /index.html HTTP/1.0\r\n\r\n' | nc -N 127.0.0.1 8080
//! ab -n 10000 -c 50 http://127.0.0.1:8080/index.html
//! python3 -c 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:8080/").status)'
//! curl -v -u demo:demo http://127.0.0.1:8080/app/whoami
//! curl -v -c jar -b jar -d user=demo -d password=demo http://127.0.0.1:8080/app/login
//! ```
//!
//! Then open http://127.0.0.1:8080/ in a browser. Ctrl-C stops it cleanly: every worker's
//! loop ends and closes its connections.

mod common;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use common::{Context, Failure};
use mio_selectors::http::{
    app, parse_language_list, AccessControl, CachePolicy, HttpServer, Limits, PasswordFile,
    ServerConfig, Sessions, Site, DEFAULT_MAX_BODY, OPEN_FILES,
};

/// HTTP/1.0 static-file server on Python's selectors API (GET and HEAD)
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = common::help!(
        mirrors = "no Python program: the standard library's `python3 -m http.server` plays its part",
        stop = clean
    )
)]
struct Cli {
    #[command(flatten)]
    listen: common::Listen<8080>,
    /// Directory to serve [default: the bundled tour, site/ in the crate]
    #[arg(long)]
    root: Option<PathBuf>,
    /// Threads, each with its own event loop and listening socket, sharing the port
    /// (SO_REUSEPORT: the kernel spreads new connections over them)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: u16,
    /// Connections open at once per worker; at the cap an idle keep-alive connection is
    /// closed to make room, else the newcomer is answered 503 [default: 10000, lowered to
    /// fit the descriptor limit]
    #[arg(long, value_parser = common::at_least_one())]
    max_conns: Option<usize>,
    /// Seconds a request head may take to arrive, then 408: stops slowloris (0: never)
    // The defaults are ServerConfig::default()'s, written out: clap shows a text default.
    #[arg(long, default_value = "10", value_parser = common::seconds_or_never)]
    // Spelled out in full, so that clap does not read it as "an optional flag".
    head_timeout: ::std::option::Option<Duration>,
    /// Seconds a kept-alive connection may idle between requests, or a response stall
    /// (0: never)
    #[arg(long, default_value = "15", value_parser = common::seconds_or_never)]
    idle_timeout: ::std::option::Option<Duration>,
    /// Freshness for paths under PREFIX: `Cache-Control: max-age=SECONDS` and `Expires`
    /// (0: `Cache-Control: no-cache`). Repeatable; the longest matching prefix wins
    #[arg(long = "cache", value_name = "PREFIX=SECONDS")]
    cache: Vec<String>,
    /// Languages that break ties between equally good variants of a negotiated resource,
    /// most preferred first
    #[arg(long, value_name = "LIST", default_value = "en")]
    languages: String,
    /// Refuse directories without index.html (403) instead of listing them
    #[arg(long)]
    no_listing: bool,
    /// Static paths under PREFIX need HTTP Basic credentials from the htpasswd FILE
    /// (bcrypt only: htpasswd -B); repeatable
    #[arg(long, value_name = "PREFIX=FILE")]
    auth: Vec<String>,
    /// The /app/ demo's users: an htpasswd file, bcrypt only [default: data/users.htpasswd
    /// in the crate, with demo credentials]
    #[arg(long, value_name = "FILE")]
    users: Option<PathBuf>,
    /// Threads per worker for password checks (bcrypt is slow on purpose: off the loop)
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=1024))]
    auth_workers: u16,
    /// Password checks that may wait for those threads; one more is answered 503
    /// with Retry-After: 1
    #[arg(long, default_value_t = ServerConfig::default().auth_queue)]
    auth_queue: usize,
    /// Largest request body in bytes (a login form); larger is 413. At most 16 MiB: a
    /// body is held in memory whole until it has all arrived, once per connection
    #[arg(long, default_value_t = DEFAULT_MAX_BODY,
          value_parser = clap::value_parser!(u64).range(0..=MAX_BODY_CAP))]
    max_body: u64,
    /// Sessions kept at most; the least recently used goes first
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    session_max: u32,
    /// Seconds a session lives unused (also its cookie's Max-Age)
    #[arg(long, default_value = "1800", value_parser = common::positive_seconds)]
    session_idle: Duration,
}

/// The largest `--max-body` accepted. Bodies are buffered whole (the app reads forms, not
/// uploads), so this times `--max-conns` is what clients may make the server hold.
const MAX_BODY_CAP: u64 = 16 * 1024 * 1024;

/// Descriptors one connection may hold: its socket, and a file while one is being sent.
const FDS_PER_CONNECTION: u64 = 2;

fn main() -> ExitCode {
    common::run(|cli: Cli| -> common::Result {
        let root = cli
            .root
            .clone()
            .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/site")));
        let rules = cli
            .cache
            .iter()
            .map(|rule| {
                rule.parse()
                    .map_err(|err| Failure::usage(format!("--cache {err}")))
            })
            .collect::<common::Result<Vec<_>>>()?;
        let policy = CachePolicy::new(rules);
        let languages = parse_language_list(&cli.languages)
            .map_err(|err| Failure::usage(format!("--languages: {err}")))?;
        // The root first: a server that announces where it listens and then serves only
        // errors is worse than one that says at once what is wrong.
        check_root(&root)?;
        let sites = (0..cli.workers)
            .map(|_| {
                Site::new(&root).map(|site| {
                    site.with_cache_policy(policy.clone())
                        .with_languages(languages.clone())
                        .with_listing(!cli.no_listing)
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("cannot serve {}", root.display()))?;
        let cap = common::connection_cap_keeping(
            "--max-conns",
            cli.max_conns,
            common::DEFAULT_MAX_CONNS,
            FDS_PER_CONNECTION,
            u64::from(cli.workers),
            OPEN_FILES as u64,
        )?;
        let head_timeout = or_never(cli.head_timeout);
        let idle_timeout = or_never(cli.idle_timeout);
        // Every password file is read and checked before anything listens: a bad one is
        // a usage error (exit 2) naming its file and line.
        let mut access = AccessControl::default();
        for spec in &cli.auth {
            access
                .add_spec(spec)
                .map_err(|err| Failure::usage(format!("--auth: {err}")))?;
        }
        let users = cli.users.clone().unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data/users.htpasswd"))
        });
        let users =
            PasswordFile::load(&users).map_err(|err| Failure::usage(format!("--users: {err}")))?;
        let sessions = Sessions::new(cli.session_max as usize, cli.session_idle);
        let model = app::Model::new(users, sessions);
        // One listening socket per worker, all on one address; each worker is a loop of its
        // own, in a thread of its own.
        let listeners = cli.listen.tcp_shared(usize::from(cli.workers))?;
        let config = ServerConfig {
            limits: Limits {
                max_body: cli.max_body,
                ..Limits::default()
            },
            head_timeout,
            idle_timeout,
            max_connections: cap.take(),
            access: (!access.is_empty()).then(|| Arc::new(Mutex::new(access))),
            app: Some(Arc::new(Mutex::new(model))),
            auth_workers: usize::from(cli.auth_workers),
            auth_queue: cli.auth_queue,
            ..ServerConfig::default()
        };
        let bound = listeners[0]
            .local_addr()
            .context("cannot read the listener's address")?;
        let mut servers = Vec::new();
        for (listener, site) in listeners.into_iter().zip(sites) {
            let server = HttpServer::new(listener, site, config.clone())
                .context("cannot start the HTTP server")?;
            servers.push(server);
        }
        common::announce(format_args!(
            "serving {} on http://{bound}/ ({} worker{})",
            root.display(),
            cli.workers,
            if cli.workers == 1 { "" } else { "s" }
        ));
        common::run_workers(
            servers,
            HttpServer::stop_handle,
            HttpServer::run,
            "the HTTP server",
        )
    })
}

/// A timeout flag's value for [`ServerConfig`], where "never" is the longest wait:
/// the server's deadlines saturate (at about 24 days, `src/timeout.rs`), so a timer is
/// armed but never fires in practice.
fn or_never(timeout: Option<Duration>) -> Duration {
    timeout.unwrap_or(Duration::MAX)
}

/// The document root is a directory this process can list: the line says which, and why
/// not (`cannot serve /srv/www: No such file or directory (os error 2)`).
fn check_root(root: &Path) -> common::Result {
    let what = || format!("cannot serve {}", root.display());
    let meta = std::fs::metadata(root).with_context(what)?;
    if !meta.is_dir() {
        return Err(Failure::new(format!("{}: not a directory", what())));
    }
    std::fs::read_dir(root).with_context(what)?;
    Ok(())
}
