//! `runledger-server`: the reference ingest server.
//!
//! ```text
//! runledger-server --db sqlite:./runledger.db --listen 127.0.0.1:8787
//! runledger-server --db postgres://user@host/db --api-key "$KEY" --cors-origin http://127.0.0.1:8080
//! runledger-server --api-keys-file keys.txt        # TENANT:SCOPES:SHA256 lines (see README)
//! echo -n "$KEY" | runledger-server hash-key        # the SHA-256 a keys file stores
//! ```

mod admin;
mod api;
mod app;
mod auth;
mod batches;
mod bulk;
mod db;
mod decode;
mod derive;
mod error;
mod events;
mod faults;
mod ingest;
mod ingest_http;
mod interop;
mod keys_config;
mod live;
mod migrate;
mod notify;
mod panic;
mod params;
mod partitions;
mod rate_limit;
mod receivers;
mod record_input;
mod retention;
mod rollups;
mod schema;
mod search;
mod serve;
mod state;
mod team;
mod versions;
mod web;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// The reference ingest server for runledger.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Database URL: `sqlite:PATH` (created when missing) or `postgres://…`.
    #[arg(long, default_value = "sqlite:./runledger.db")]
    db: String,
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// A key of the default tenant that may read and write (repeatable). Without any key
    /// the server is open to anyone.
    #[arg(long = "api-key")]
    api_keys: Vec<String>,
    /// A file of keys, one `TENANT:SCOPE[,SCOPE]:SHA256` line each (scopes: read, write,
    /// admin; the SHA-256 of the key from `runledger-server hash-key`). Lines of the older
    /// plain form (`KEY`, `read:KEY`) are default-tenant keys, accepted with a warning.
    #[arg(long)]
    api_keys_file: Option<PathBuf>,
    /// A key of the default tenant that may only read (repeatable).
    #[arg(long = "read-key")]
    read_keys: Vec<String>,
    /// A hashed key `TENANT:SCOPE[,SCOPE]:SHA256` (repeatable), as in --api-keys-file.
    #[arg(long = "tenant-key")]
    tenant_keys: Vec<String>,
    /// Requests per second each key may make (a burst of one second's worth); 0: no limit.
    #[arg(long, default_value_t = 100.0)]
    rate_limit_requests: f64,
    /// Request body bytes per second each key may send (after gzip inflation); 0: no limit.
    #[arg(long, default_value_t = 16.0 * 1024.0 * 1024.0)]
    rate_limit_bytes: f64,
    /// A database the read API (history, stats, one execution) queries instead of --db: a
    /// read replica of it (same engine). Writes always go to --db; a replica's lag shows as
    /// reads that trail the latest batches by as much.
    #[arg(long)]
    read_db: Option<String>,
    /// Delete executions started more than this many days ago (hourly, in small batches).
    #[arg(long)]
    retention_days: Option<u32>,
    /// A browser origin allowed to call the server (repeatable), e.g. http://127.0.0.1:8080.
    #[arg(long = "cors-origin")]
    cors_origins: Vec<String>,
    /// Largest request body in bytes, after gzip inflation.
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    max_body_bytes: usize,
    /// Most connections open at once (default: the file limit less 64, at most 10000). At the
    /// limit a new connection closes the longest-idle one.
    #[arg(long)]
    max_connections: Option<usize>,
    /// Time for a request's line and headers to arrive (idle keep-alive included).
    #[arg(long, default_value = "10s", value_parser = serve::parse_duration)]
    header_timeout: std::time::Duration,
    /// Time for a request's whole body to arrive (`408` after it).
    #[arg(long, default_value = "30s", value_parser = serve::parse_duration)]
    body_timeout: std::time::Duration,
    /// On SIGTERM, time for requests in flight to finish before every connection is closed.
    #[arg(long, default_value = "10s", value_parser = serve::parse_duration)]
    shutdown_grace: std::time::Duration,
    /// How long a batch id is remembered, so that a retry gets the first answer (older ids
    /// are deleted).
    #[arg(long, default_value = "7d", value_parser = serve::parse_duration)]
    batch_id_window: std::time::Duration,
    /// Serve /v1/__test/faults and /v1/__test/stats, to inject failures (end-to-end tests
    /// only; never in production).
    #[arg(long, hide = true)]
    test_faults: bool,
    /// With --test-faults: how long a retention round waits after deciding to run (tests
    /// make two instances' rounds overlap with it).
    #[arg(long, hide = true, default_value = "0s", value_parser = serve::parse_duration)]
    test_retention_hold: std::time::Duration,
    /// Forward every committed batch as OTLP/HTTP JSON traces to this collector
    /// (`http://host:4318`; `/v1/traces` is appended unless given), from a durable outbox.
    #[arg(long)]
    otlp_endpoint: Option<String>,
    /// Forward every committed batch as OpenLineage run events to this consumer
    /// (`http://host:5000`; `/api/v1/lineage` is appended unless given), from a durable outbox.
    #[arg(long)]
    openlineage_endpoint: Option<String>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    panic::warn_if_aborting();
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("runledger-server: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Commands besides serving.
#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Prints the SHA-256 of a key (read from stdin), for a line of --api-keys-file.
    HashKey,
}

async fn run(cli: Cli) -> Result<(), String> {
    if let Some(Command::HashKey) = cli.command {
        let mut key = String::new();
        std::io::stdin()
            .read_line(&mut key)
            .map_err(|e| format!("cannot read the key from stdin: {e}"))?;
        let key = key.trim_end_matches(['\r', '\n']);
        if key.is_empty() {
            return Err("hash-key reads the key from stdin; got nothing".into());
        }
        println!("{}", auth::hash_key(key));
        return Ok(());
    }
    let keys = keys_config::key_ring(&keys_config::KeySources {
        api_keys: &cli.api_keys,
        read_keys: &cli.read_keys,
        tenant_keys: &cli.tenant_keys,
        file: cli.api_keys_file.as_deref(),
    })?;
    let rate_limits = rate_limit::Limits {
        requests_per_second: cli.rate_limit_requests,
        bytes_per_second: cli.rate_limit_bytes,
    };
    for (name, value) in [
        ("--rate-limit-requests", rate_limits.requests_per_second),
        ("--rate-limit-bytes", rate_limits.bytes_per_second),
    ] {
        if !(value.is_finite() && value >= 0.0) {
            return Err(format!(
                "{name} must be a number of at least 0; got {value}"
            ));
        }
    }
    if cli.retention_days == Some(0) {
        return Err("--retention-days must be at least 1".into());
    }
    if keys.is_open() {
        tracing::warn!("NO API KEY CONFIGURED: anyone who can reach this server can write and read executions (use --api-key or --api-keys-file)");
    } else {
        tracing::info!(keys = keys.len(), "keys configured");
    }
    let files = serve::file_limit();
    let limits = serve::Limits {
        max_connections: serve::connection_limit(cli.max_connections, files)?,
        header_timeout: cli.header_timeout,
        shutdown_grace: cli.shutdown_grace,
    };
    if cli.batch_id_window.is_zero() {
        return Err("--batch-id-window must be longer than 0".into());
    }
    let forwarding = interop::Forwarding::from_flags(
        cli.otlp_endpoint.as_deref(),
        cli.openlineage_endpoint.as_deref(),
    )?;
    let engine = db::engine_of(&cli.db);
    let pool = db::connect(&cli.db)
        .await
        .map_err(|e| format!("cannot open the {engine} database: {e}"))?;
    batches::prepare(&pool)
        .await
        .map_err(|e| format!("cannot prepare the {engine} database: {e}"))?;
    interop::outbox::prepare(&pool)
        .await
        .map_err(|e| format!("cannot prepare the {engine} database: {e}"))?;
    for sink in &forwarding.sinks {
        tokio::spawn(interop::forwarder::run(pool.clone(), sink.clone()));
    }
    let read_pool = match &cli.read_db {
        Some(url) if db::engine_of(url) != engine => {
            return Err(format!(
                "--read-db must name a {engine} database like --db; got a {} URL",
                db::engine_of(url)
            ))
        }
        Some(url) => Some(
            db::connect_read(url)
                .await
                .map_err(|e| format!("cannot open the --read-db database: {e}"))?,
        ),
        None => None,
    };
    let settings = state::Settings {
        read_pool,
        keys,
        limits: rate_limits,
        max_body_bytes: cli.max_body_bytes,
        body_timeout: cli.body_timeout,
        cors_origins: cli.cors_origins,
        test_faults: cli.test_faults,
        forwarding,
    };
    if cli.test_faults {
        tracing::warn!("--test-faults: fault injection endpoints are on; this is for tests only");
    }
    let listener = tokio::net::TcpListener::bind(cli.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cli.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    // Listen for SIGTERM before announcing the address, so that a stop sent right after
    // start is a graceful one too.
    let signal = shutdown_signal()?;
    let (live, live_closer) = live::Live::new();
    // On PostgreSQL other instances may share the database: announce each commit to them
    // and pass theirs on (see `notify`). Listening starts before the address is printed.
    let live = if engine == "postgres" {
        let listener = notify::listen(&cli.db)
            .await
            .map_err(|e| format!("cannot LISTEN on the postgres database: {e}"))?;
        let live = live.shared(instance_name());
        tokio::spawn(notify::receive_loop(listener, live.clone()));
        live
    } else {
        live
    };
    // Push streams never end by themselves: close them as shutdown starts, or the graceful
    // stop would wait for every open dashboard.
    let shutdown = async move {
        signal.await;
        live_closer.close();
    };
    if let Some(days) = cli.retention_days {
        tokio::spawn(retention::retention_loop(retention::Retention {
            pool: pool.clone(),
            engine,
            days,
            instance: instance_name(),
            hold: if cli.test_faults {
                cli.test_retention_hold
            } else {
                std::time::Duration::ZERO
            },
        }));
    }
    tokio::spawn(batches::prune_loop(pool.clone(), cli.batch_id_window));
    // The first line on stdout is the address: tests and scripts read it.
    println!("listening on http://{address}");
    tracing::info!(%address, engine, "runledger-server ready");
    tracing::info!(
        max_connections = limits.max_connections,
        file_limit = files,
        header_timeout_ms = limits.header_timeout.as_millis() as u64,
        body_timeout_ms = cli.body_timeout.as_millis() as u64,
        "connection limits"
    );
    let router = app::app(pool.clone(), engine, settings, live);
    serve::serve(listener, router, limits, shutdown).await;
    // In-flight requests (and their transactions) have finished by now.
    pool.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// A name for this process unique among instances sharing a database.
fn instance_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}", std::process::id())
}

fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, String> {
    #[cfg(unix)]
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot listen for SIGTERM: {e}"))?;
    Ok(async move {
        #[cfg(unix)]
        let terminated = terminate.recv();
        #[cfg(not(unix))]
        let terminated = std::future::pending::<Option<()>>();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = terminated => {},
        }
        tracing::info!("shutting down: finishing requests in flight");
    })
}
