//! The `deadman` command line: flags, logging, signals and exit codes.
//! Everything else lives in the library.

use std::error::Error;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tracing_subscriber::prelude::*;

use deadman::clock::{Clock, SystemClock};
use deadman::config::Config;
use deadman::store::{Loading, Opened, SqliteStore, Store};
use deadman::web_config::watch::WebConfigWatch;
use deadman::web_config::WebConfig;
use deadman::{Options, Server};

/// Exit codes: success, a config or usage error, a failure at run time.
const EXIT_CONFIG: u8 = 1;
const EXIT_RUNTIME: u8 = 2;

#[derive(Parser)]
#[command(
    name = "deadman",
    version = concat!(env!("CARGO_PKG_VERSION"), " (revision ", env!("DEADMAN_REVISION"), ")"),
    about = "A Prometheus dead-man's-switch exporter: makes the absence of expected activity loud.",
    // The exporter's flags are global, so they show in every subcommand's
    // help; the heading says they are not `run`'s or `ping`'s.
    next_help_heading = "Exporter options (serve, check-config, docs, badges)"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Path to the config file.
    #[arg(long = "config.file", default_value = "deadman.toml", global = true)]
    config_file: PathBuf,
    /// Address to listen on (":PORT" means every interface); repeat the
    /// flag to listen on several.
    #[arg(long = "web.listen-address", default_value = ":10070", global = true)]
    listen_address: Vec<String>,
    /// Web config (exporter-toolkit format): TLS, basic auth, headers.
    #[arg(long = "web.config.file", global = true)]
    web_config_file: Option<PathBuf>,
    /// Allow POST /-/reload (SIGHUP always reloads).
    #[arg(long = "web.enable-lifecycle", global = true)]
    enable_lifecycle: bool,
    /// With basic auth configured, keep /-/healthy and /-/ready open for
    /// probes that cannot send credentials.
    #[arg(long = "web.health-without-auth", global = true)]
    health_without_auth: bool,
    /// The URL users reach deadman at (behind a proxy), for links.
    #[arg(long = "web.external-url", global = true)]
    external_url: Option<String>,
    /// Path under which metrics are exposed.
    #[arg(long = "web.telemetry-path", default_value = "/metrics", global = true)]
    telemetry_path: String,
    /// Open connections at most, from all clients together.
    #[arg(long = "web.max-connections", default_value_t = 4096, global = true)]
    max_connections: usize,
    /// Open connections at most from one client address (0: no limit).
    /// Behind a reverse proxy every client has the proxy's address: raise it.
    #[arg(
        long = "web.max-connections-per-ip",
        default_value_t = 256,
        global = true
    )]
    max_connections_per_ip: usize,
    /// How long a client may take to send a request head, on a new
    /// connection or between keep-alive requests.
    #[arg(long = "web.read-header-timeout", default_value = "10s", value_parser = humantime::parse_duration, global = true)]
    read_header_timeout: std::time::Duration,
    /// How long a response write may make no progress (a client that stops
    /// reading) before the connection is closed.
    #[arg(long = "web.write-timeout", default_value = "30s", value_parser = humantime::parse_duration, global = true)]
    write_timeout: std::time::Duration,
    /// Export every check's counters of every kind and reason, and its run
    /// series, even while they are 0 (by default a counter of a kind or
    /// reason appears once it has occurred, and run series once the check
    /// reports a start; the series the alert rules use are always there).
    #[arg(long = "web.exposition.all-series", global = true)]
    all_series: bool,
    /// How many scrape bodies may exist at once, rendering or still being
    /// sent (each is shared by every scrape that waited for it). A scrape
    /// that finds them all held by clients that have not read them gets 503.
    #[arg(long = "web.max-scrape-bodies", default_value_t = deadman::web::scrape::DEFAULT_MAX_BODIES, global = true)]
    max_scrape_bodies: usize,
    /// Directory for durable state; created if missing.
    #[arg(long = "storage.path", default_value = "data/", global = true)]
    storage_path: PathBuf,
    /// Only log messages of this level or more severe.
    #[arg(long = "log.level", value_enum, default_value = "info", global = true)]
    log_level: LogLevel,
    /// Log line format.
    #[arg(
        long = "log.format",
        value_enum,
        default_value = "logfmt",
        global = true
    )]
    log_format: LogFormat,
}

#[derive(Subcommand)]
enum Command {
    /// Run the exporter (the default).
    Serve,
    /// Validate the config file and exit: 0 if valid, 1 if not.
    CheckConfig {
        /// Also fail on checks without a description, runbook or recovery steps.
        #[arg(long)]
        strict: bool,
        /// Check how token_file and token_env are written, but read no token
        /// file or variable (for CI, where the secrets are absent).
        #[arg(long)]
        no_secrets: bool,
    },
    /// Write an inventory of every integration to standard output.
    Docs {
        /// Output format.
        #[arg(long, value_enum, default_value = "markdown")]
        format: DocsFormat,
        /// Read no token file or variable (the inventory shows no tokens).
        #[arg(long)]
        no_secrets: bool,
    },
    /// Print every badge's URLs, tab-separated (check or team, name, SVG,
    /// JSON); absolute with --web.external-url.
    Badges,
    /// Run a command and report it to deadman: a start ping, then its exit
    /// status, output tail and report; exits with the command's status.
    Run(Box<deadman::client::run::RunArgs>),
    /// Send one ping (for scripts); exits 0 when deadman acknowledged it.
    Ping(Box<deadman::client::ping::PingArgs>),
}

#[derive(Clone, Copy, ValueEnum)]
enum DocsFormat {
    Markdown,
    Html,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Logfmt,
    Json,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(EXIT_CONFIG)
            } else {
                ExitCode::SUCCESS // --help, --version
            };
        }
    };
    match cli.command {
        Some(Command::CheckConfig { strict, no_secrets }) => {
            let config = check_config(&cli.config_file, strict, secrets(no_secrets));
            let web = match &cli.web_config_file {
                Some(path) => check_web_config(path, no_secrets),
                None => ExitCode::SUCCESS,
            };
            // Both files are checked, so one run shows everything to fix.
            if config == ExitCode::SUCCESS {
                web
            } else {
                config
            }
        }
        Some(Command::Docs { format, no_secrets }) => docs(&cli, format, secrets(no_secrets)),
        Some(Command::Badges) => badges(&cli),
        Some(Command::Run(args)) => deadman::client::run::main(*args),
        Some(Command::Ping(args)) => deadman::client::ping::main(*args),
        Some(Command::Serve) | None => {
            init_logging(cli.log_level, cli.log_format);
            serve(&cli)
        }
    }
}

/// `--no-secrets`: validate without reading token files or variables.
fn secrets(no_secrets: bool) -> deadman::config::Secrets {
    if no_secrets {
        deadman::config::Secrets::Skip
    } else {
        deadman::config::Secrets::Read
    }
}

fn check_config(path: &Path, strict: bool, secrets: deadman::config::Secrets) -> ExitCode {
    let config = match Config::load_with(path, secrets) {
        Ok(config) => config,
        Err(err) => {
            // One line each, so that one run shows everything to fix.
            for err in err.each() {
                eprintln!("FAILED: config file {}: {err}", path.display());
            }
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let unread = config.unread_tokens();
    if unread > 0 {
        eprintln!(
            "NOTE: config file {}: --no-secrets: the tokens of {unread} check{} were not \
             read (token_file, token_env), so their length was not checked",
            path.display(),
            if unread == 1 { "" } else { "s" }
        );
    }
    // A pause that has ended is not an error: the check is watched again.
    for warning in config.ended_pauses(SystemClock::new().now().wall) {
        eprintln!("WARNING: config file {}: {warning}", path.display());
    }
    let weak = config.weak_tokens();
    let mut failures = Vec::new();
    if strict {
        failures.extend(config.documentation_gaps());
        failures.extend(weak.iter().cloned());
    } else {
        for warning in &weak {
            eprintln!("WARNING: config file {}: {warning}", path.display());
        }
    }
    if !failures.is_empty() {
        for failure in failures {
            eprintln!(
                "FAILED: config file {}: {failure} (--strict)",
                path.display()
            );
        }
        return ExitCode::from(EXIT_CONFIG);
    }
    let n = config.checks.len();
    println!("SUCCESS: {n} check{}", if n == 1 { "" } else { "s" });
    ExitCode::SUCCESS
}

/// `check-config --web.config.file`: the web config too. With
/// `--no-secrets` the certificate and key files are not read (CI may not
/// have them); their paths and every other field are still checked.
fn check_web_config(path: &Path, no_secrets: bool) -> ExitCode {
    let loaded = match no_secrets {
        true => WebConfig::read(path),
        false => WebConfig::load(path),
    };
    match loaded {
        Ok(config) => {
            let tls = if config.tls.is_some() {
                "TLS"
            } else {
                "plain HTTP"
            };
            let users = config.users.len();
            println!(
                "SUCCESS: web config file {}: {tls}, {users} basic auth user{}",
                path.display(),
                if users == 1 { "" } else { "s" }
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("FAILED: web config file {}: {err}", path.display());
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

/// Loads the config, reporting a failure as a config error.
fn load_config(path: &Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|err| {
        report(&format!("config file {}", path.display()), &err);
        ExitCode::from(EXIT_CONFIG)
    })
}

fn docs(cli: &Cli, format: DocsFormat, secrets: deadman::config::Secrets) -> ExitCode {
    let config = match Config::load_with(&cli.config_file, secrets) {
        Ok(config) => config,
        Err(err) => {
            let context = format!("config file {}", cli.config_file.display());
            for err in err.each() {
                report(&context, err);
            }
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    // The current state is a bonus: without a readable store the inventory
    // is still complete, it just says the state is unknown.
    let states = match SqliteStore::read_snapshot(&cli.storage_path) {
        Ok(snapshot) => Some(snapshot.checks.into_iter().collect()),
        Err(err) => {
            eprintln!("note: current state not included: {err}");
            None
        }
    };
    let now = deadman::clock::Clock::now(&SystemClock::new()).wall;
    let text = match format {
        DocsFormat::Markdown => deadman::docs::markdown(&config, states.as_ref(), now),
        DocsFormat::Html => deadman::docs::html(&config, states.as_ref(), now),
    };
    print!("{text}");
    ExitCode::SUCCESS
}

/// `deadman badges`: the URLs to put in a README (they carry keys made
/// with the `[badges]` secret, which is read as when serving).
fn badges(cli: &Cli) -> ExitCode {
    if let Some(url) = &cli.external_url {
        if let Err(err) = check_external_url(url) {
            eprintln!("error: --web.external-url {url:?} {err}");
            return ExitCode::from(EXIT_CONFIG);
        }
    }
    let base = cli.external_url.as_deref().unwrap_or_default();
    let config = match load_config(&cli.config_file) {
        Ok(config) => config,
        Err(code) => return code,
    };
    if base.is_empty() {
        eprintln!("note: these are paths; give --web.external-url for absolute URLs");
    }
    print!(
        "{}",
        deadman::web::badge::table(&config, base.trim_end_matches('/'))
    );
    ExitCode::SUCCESS
}

fn init_logging(level: LogLevel, format: LogFormat) {
    let filter = match level {
        LogLevel::Error => tracing::Level::ERROR,
        LogLevel::Warn => tracing::Level::WARN,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Debug => tracing::Level::DEBUG,
    };
    let filter = tracing_subscriber::filter::Targets::new()
        .with_target("deadman", filter)
        .with_default(tracing::Level::WARN.min(filter));
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        // Logs go to stderr, as in other Prometheus exporters.
        LogFormat::Logfmt => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .event_format(tracing_logfmt::EventsFormatter::default())
                    .fmt_fields(tracing_logfmt::FieldsFormatter::default())
                    .with_writer(std::io::stderr),
            )
            .init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_writer(std::io::stderr),
            )
            .init(),
    }
}

/// Prints an error and every cause under it.
fn report(context: &str, err: &dyn Error) {
    eprintln!("error: {context}: {err}");
    let mut source = err.source();
    while let Some(cause) = source {
        eprintln!("  caused by: {cause}");
        source = cause.source();
    }
}

/// Loads `--web.config.file`, if given, reporting a failure as a config
/// error.
fn load_web_config(path: Option<&Path>) -> Result<WebConfigWatch, ExitCode> {
    let Some(path) = path else {
        return Ok(WebConfigWatch::none());
    };
    // read, not load: building the settings loads (and so checks) the
    // certificates, once.
    let loaded = WebConfig::read(path).and_then(|config| {
        if config.http2_requested {
            tracing::info!("the web config asks for http2; deadman serves HTTP/1.1 only");
        }
        WebConfigWatch::new(path.to_path_buf(), config)
    });
    loaded.map_err(|err| {
        report(&format!("web config file {}", path.display()), &err);
        ExitCode::from(EXIT_CONFIG)
    })
}

/// `--web.external-url` must be an absolute http(s) URL.
fn check_external_url(url: &str) -> Result<(), &'static str> {
    let uri: hyper::Uri = url.parse().map_err(|_| "is not a URL")?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http" | "https"), Some(_)) if uri.query().is_none() => Ok(()),
        _ => Err("must be an absolute http:// or https:// URL without a query, e.g. https://deadman.example.com/"),
    }
}

/// `:10070` means every interface, as in other Prometheus exporters.
fn parse_listen_address(text: &str) -> Result<SocketAddr, String> {
    let full = match text.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => text.to_string(),
    };
    full.parse()
        .map_err(|e| format!("--web.listen-address {text:?} is not HOST:PORT or :PORT ({e})"))
}

fn serve(cli: &Cli) -> ExitCode {
    deadman::allocator::configure();
    let addresses = match cli
        .listen_address
        .iter()
        .map(|text| parse_listen_address(text))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(addresses) => addresses,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if cli.read_header_timeout.is_zero() || cli.write_timeout.is_zero() {
        eprintln!(
            "error: --web.read-header-timeout and --web.write-timeout must be longer than 0s"
        );
        return ExitCode::from(EXIT_CONFIG);
    }
    if !cli.telemetry_path.starts_with('/') || cli.telemetry_path.starts_with("/ping/") {
        eprintln!(
            "error: --web.telemetry-path {:?} must start with / and not be under /ping/",
            cli.telemetry_path
        );
        return ExitCode::from(EXIT_CONFIG);
    }
    if let Some(url) = &cli.external_url {
        if let Err(err) = check_external_url(url) {
            eprintln!("error: --web.external-url {url:?} {err}");
            return ExitCode::from(EXIT_CONFIG);
        }
    }
    let web = match load_web_config(cli.web_config_file.as_deref()) {
        Ok(web) => web,
        Err(code) => return code,
    };
    // A store that exists already is read while the config is parsed (at
    // 100,000 checks each takes about a third of a second). A new one, or
    // one to migrate, is created only once the config is valid, so a typo
    // in the config changes nothing on disk. If opening early fails, the
    // config is checked first and the open below reports why.
    let early = SqliteStore::is_current(&cli.storage_path)
        .then(|| SqliteStore::open(&cli.storage_path).ok())
        .flatten()
        .and_then(|store| Loading::start(Box::new(store)).ok());
    let config = match load_config(&cli.config_file) {
        Ok(config) => config,
        Err(code) => return code,
    };
    // The parser's temporaries go back to the system.
    deadman::allocator::trim();
    for warning in config.ended_pauses(SystemClock::new().now().wall) {
        tracing::warn!(%warning, "config");
    }
    // Locked and checked before listening: a second exporter on the same
    // path, or a corrupt file, stops startup with a clear message.
    let store: Opened = match early {
        Some(loading) => loading.into(),
        None => match SqliteStore::open(&cli.storage_path) {
            Ok(store) => (Box::new(store) as Box<dyn Store>).into(),
            Err(err) => {
                report("opening storage", &err);
                return ExitCode::from(EXIT_RUNTIME);
            }
        },
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            report("starting the async runtime", &err);
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    let checks = config.checks.len();
    let tls = web.current().tls.is_some();
    let options = Options {
        telemetry_path: cli.telemetry_path.clone(),
        web: Arc::new(web),
        enable_lifecycle: cli.enable_lifecycle,
        health_without_auth: cli.health_without_auth,
        external_url: cli.external_url.clone(),
        limits: deadman::ConnectionLimits {
            max_connections: cli.max_connections.max(1),
            max_per_address: cli.max_connections_per_ip,
            header_read_timeout: cli.read_header_timeout,
            write_timeout: cli.write_timeout,
        },
        all_series: cli.all_series,
        max_scrape_bodies: cli.max_scrape_bodies,
        ..Options::new(cli.config_file.clone(), Arc::new(SystemClock::new()))
    };
    runtime.block_on(async move {
        let mut listeners = Vec::with_capacity(addresses.len());
        for address in addresses {
            match tokio::net::TcpListener::bind(address).await {
                Ok(listener) => listeners.push(listener),
                Err(err) => {
                    report(&format!("listening on {address}"), &err);
                    return ExitCode::from(EXIT_RUNTIME);
                }
            }
        }
        let server = match Server::new(config, options, store) {
            Ok(server) => server,
            Err(err) => {
                report("starting the exporter", &err);
                return ExitCode::from(EXIT_RUNTIME);
            }
        };
        // Handlers are installed before "started" is logged: a signal that
        // arrives before its handler would take the default action, which
        // for SIGHUP is to terminate the exporter.
        let signals = match Signals::install() {
            Ok(signals) => signals,
            Err(err) => {
                report("installing signal handlers", &err);
                return ExitCode::from(EXIT_RUNTIME);
            }
        };
        let Signals {
            hangup,
            terminate,
            interrupt,
        } = signals;
        let control = server.control();
        tokio::spawn(async move { reload_on_sighup(control, hangup).await });
        // With port 0 the kernel picks; log what was actually bound.
        for listener in &listeners {
            if let Ok(address) = listener.local_addr() {
                tracing::info!(%address, tls, "listening");
            }
        }
        tracing::info!(
            version = deadman::VERSION,
            revision = deadman::REVISION,
            checks,
            "deadman started"
        );
        match deadman::run_on(listeners, server, shutdown_signal(terminate, interrupt)).await {
            Ok(()) => {
                tracing::info!("deadman stopped");
                ExitCode::SUCCESS
            }
            Err(err) => {
                report("deadman stopped", &err);
                ExitCode::from(EXIT_RUNTIME)
            }
        }
    })
}

/// The signal streams, registered up front.
struct Signals {
    hangup: Signal,
    terminate: Signal,
    interrupt: Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            hangup: signal(SignalKind::hangup())?,
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }
}

async fn reload_on_sighup(control: deadman::Control, mut hangups: Signal) {
    while hangups.recv().await.is_some() {
        // Errors are logged and exported by reload itself.
        let _ = control.reload().await;
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal(mut terminate: Signal, mut interrupt: Signal) {
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    tracing::info!("shutdown requested; finishing requests in flight");
}
