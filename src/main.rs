//! The `tokengate` command line: `serve` (the default), `check`, `profile`, `hash-password`,
//! `users import`, `shadow report` and `diff`.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokengate::config::{self, DirectoryBackend, Source, StoreBackend};
use tokengate::domain::Secret;
use tokengate::engine::password::{self, NewHashFormat};
use tokengate::http::{Application, Runtime};
use tokengate::import;

/// A token gateway that speaks the wire dialects of legacy token endpoints (VizSeek's
/// /api/Token, ...), so existing clients keep working unchanged.
///
/// With no subcommand, `tokengate` serves --config FILE or TOKENGATE_CONFIG, and without either
/// the embedded demo configuration on 127.0.0.1:8080:
///
///   curl -d grant_type=client_credentials -d client_id=demo-client http://127.0.0.1:8080/api/Token
#[derive(Debug, Parser)]
#[command(name = "tokengate", version, verbatim_doc_comment)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// The TOML configuration file to serve when no subcommand is given, as `serve --config`
    /// (the embedded demo when neither this nor TOKENGATE_CONFIG is set). A subcommand's own
    /// --config wins over this one.
    #[arg(long, short, value_name = "FILE", env = "TOKENGATE_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the token routes a configuration declares (the embedded demo without --config).
    ///
    /// Environment variables override any key of a table: TOKENGATE__SERVER__BIND=0.0.0.0:9000,
    /// TOKENGATE__SIGNING__SECRET_FILE=/run/secrets/jwt. Items of [[route]], [[client]] and
    /// [[user]], and [dialect.NAME] tables, cannot be reached this way; set those in the file. Stops gracefully on SIGINT or
    /// SIGTERM, finishing requests in flight. Log verbosity: RUST_LOG (default "info").
    #[command(verbatim_doc_comment)]
    Serve {
        /// The TOML configuration file (see fixtures/demo.toml for a complete example).
        #[arg(long, short, value_name = "FILE", env = "TOKENGATE_CONFIG")]
        config: Option<PathBuf>,
        /// Deterministic mode ([testing] deterministic = true with this seed): seeded ids, a
        /// signing key derived from the seed when none is configured, the clock frozen at
        /// [testing] start, so the same requests get byte-identical answers run after run.
        #[arg(long, value_name = "SEED")]
        deterministic: Option<u64>,
    },
    /// Validate a configuration and print every problem with its key path; exit 1 if any.
    ///
    /// Example: route[1].dialect: unknown dialect "vizseak"; known: vizseek, swagger, owin
    /// Environment overrides (TOKENGATE__...) are applied, as `serve` would apply them.
    /// With --connect, also open the store and check that it answers (Redis reachable within
    /// [store] timeout, the database file writable and not held by another process), and
    /// check the user directory of [directory] kind = "postgres": reachable, every table and
    /// column the lookups read present with a type they read (or the custom queries return
    /// the columns they must), tokengate's upgrades table present when upgrade_to is set.
    #[command(verbatim_doc_comment)]
    Check {
        /// The TOML configuration file; the embedded demo when omitted.
        #[arg(long, short, value_name = "FILE", env = "TOKENGATE_CONFIG")]
        config: Option<PathBuf>,
        /// Also check that the configured store and user directory are reachable and usable.
        #[arg(long)]
        connect: bool,
        /// With --connect: create tokengate's own upgrades table ([directory] upgrade_to) when
        /// it is missing. Never touches the legacy tables.
        #[arg(long, requires = "connect")]
        create: bool,
    },
    /// Print the effective profile of the route serving ROUTE_PATH, as TOML.
    ///
    /// What the route gets after every merge: its dialect's profile with the profiles it
    /// extends beneath it, each layer's `remove`s, then the route's own keys. ROUTE_PATH is
    /// matched as a request's path is (case-insensitively unless the route says
    /// path_case_sensitive). Exit 1 when no route serves it (the routes are listed) or the
    /// configuration is invalid (its problems are printed as `check` prints them).
    ///
    ///   tokengate profile /api/Token --config gateway.toml
    #[command(verbatim_doc_comment)]
    Profile {
        /// The path of a [[route]], e.g. /api/Token.
        #[arg(value_name = "ROUTE_PATH")]
        path: String,
        /// The TOML configuration file; the embedded demo when omitted.
        #[arg(long, short, value_name = "FILE", env = "TOKENGATE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Read a password and print the stored-hash string a [[user]] accepts as password_hash.
    ///
    /// The password is read from standard input when it is not a terminal (one line, the
    /// trailing newline dropped), otherwise prompted for twice without echo. By default the hash
    /// is argon2id over the password's SHA-1 hex digest, so the same user can sign in through
    /// dialects that send the plain password and dialects that send its SHA-1 digest.
    ///
    ///   echo -n 'P@ssw0rd!' | tokengate hash-password
    ///   echo -n 'P@ssw0rd!' | tokengate hash-password --format identity-v3
    #[command(verbatim_doc_comment)]
    HashPassword {
        /// argon2id (over the SHA-1 hex; the default), or identity-v3: ASP.NET Identity v3 as
        /// .NET 7+ writes it (HMAC-SHA512, 100 000 iterations) over the plain password, which a
        /// legacy ASP.NET server verifies too, but routes whose clients send SHA-1 hex cannot.
        #[arg(long, value_enum, default_value_t = HashFormat::Argon2id)]
        format: HashFormat,
    },
    /// Manage the users of the configured directory (see `tokengate users import --help`).
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Shadow mode's differences log (see `tokengate shadow report --help`, docs/shadow.md).
    Shadow {
        #[command(subcommand)]
        command: ShadowCommand,
    },
    /// Replay a recorded transcript against the legacy endpoint and the gateway; print every
    /// difference between their answers, exit 1 if any (a CI step for a migration).
    ///
    /// The transcript is a HAR file (as browsers, Playwright and proxies export it) or the
    /// test kit's capture (GET /capture on the control listener; its secrets are redacted, so
    /// its password grants replay as failures on both sides). Each request goes to
    /// --upstream (the legacy server's origin: the recorded path is appended) and to a
    /// gateway started here from --config on a loopback port, exactly as recorded; the
    /// answers are compared as shadow mode compares them ([shadow] compare_headers, ca_file
    /// and timeout apply). Nothing is written to the shadow log.
    ///
    ///   tokengate diff --config gateway.toml --upstream https://legacy.example.com --transcript run.har
    #[command(verbatim_doc_comment)]
    Diff {
        /// The TOML configuration file of the gateway to compare.
        #[arg(long, short, value_name = "FILE", env = "TOKENGATE_CONFIG")]
        config: Option<PathBuf>,
        /// The legacy server's origin, e.g. https://legacy.example.com.
        #[arg(long, value_name = "URL")]
        upstream: String,
        /// The recorded requests: a HAR file or a test kit capture (JSON).
        #[arg(long, value_name = "FILE")]
        transcript: PathBuf,
    },
}

/// `tokengate shadow ...`.
#[derive(Debug, Subcommand)]
enum ShadowCommand {
    /// Summarize the differences log of [shadow] log (and its rotated files): the classes of
    /// difference by route, with counts and the first examples of each.
    ///
    ///   tokengate shadow report --config gateway.toml
    #[command(verbatim_doc_comment)]
    Report {
        /// The TOML configuration file whose [shadow] log is read.
        #[arg(long, short, value_name = "FILE", env = "TOKENGATE_CONFIG")]
        config: Option<PathBuf>,
    },
}

/// `tokengate users ...`.
#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Load an AspNetUsers export into the configured user directory.
    ///
    /// CSV as SQL Server's export tools write it (a header row naming the columns; NULL or
    /// nothing for a null) or a JSON array as FOR JSON PATH writes it; Identity 2 and ASP.NET
    /// Core Identity columns. Every row is checked as the gateway will read it: a password hash
    /// of no kind tokengate verifies, a repeated Id or user name, a malformed cell is skipped,
    /// and the report names the row and the reason (never a hash). Idempotent: rerunning the
    /// same export imports and updates nothing. With [directory] kind = "postgres" the rows go
    /// into its AspNetUsers table; with the TOML directory, into --out as [[user]] items.
    ///
    ///   tokengate users import --config gateway.toml --from AspNetUsers.csv
    ///   tokengate users import --from users.json --out users.toml
    #[command(verbatim_doc_comment)]
    Import {
        /// The TOML configuration file whose [directory] receives the users; the embedded
        /// demo's (a TOML directory) when omitted.
        #[arg(long, short, value_name = "FILE", env = "TOKENGATE_CONFIG")]
        config: Option<PathBuf>,
        /// The export to read.
        #[arg(long, value_name = "EXPORT")]
        from: PathBuf,
        /// csv or json; by default json for a .json file, csv otherwise.
        #[arg(long, value_enum)]
        format: Option<ExportFormatArg>,
        /// For a TOML directory: the file of [[user]] items to write (created, or updated in
        /// place keeping the users the export does not name). Never standard output: the
        /// items hold password hashes.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Rows per write (one database transaction each).
        #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        batch: u32,
    },
}

/// `users import --format`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ExportFormatArg {
    Csv,
    Json,
}

/// `hash-password --format`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum HashFormat {
    Argon2id,
    IdentityV3,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A bare `tokengate` is `serve`: it must serve the file TOKENGATE_CONFIG or --config names,
    // never the demo (whose secrets are published) in its place.
    let named = cli.config;
    match cli.command.unwrap_or(Command::Serve {
        config: None,
        deterministic: None,
    }) {
        Command::Serve {
            config,
            deterministic,
        } => serve(config.or(named), deterministic),
        Command::Check {
            config,
            connect,
            create,
        } => check(config.or(named), connect, create),
        Command::Profile { path, config } => profile(&path, config.or(named)),
        Command::HashPassword { format } => hash_password(match format {
            HashFormat::Argon2id => NewHashFormat::Argon2id,
            HashFormat::IdentityV3 => NewHashFormat::IdentityV3,
        }),
        Command::Shadow {
            command: ShadowCommand::Report { config },
        } => shadow_report(config.or(named)),
        Command::Diff {
            config,
            upstream,
            transcript,
        } => diff(config.or(named), &upstream, &transcript),
        Command::Users {
            command:
                UsersCommand::Import {
                    config,
                    from,
                    format,
                    out,
                    batch,
                },
        } => users_import(UsersImport {
            config: config.or(named),
            from,
            format: format.map(|f| match f {
                ExportFormatArg::Csv => import::ExportFormat::Csv,
                ExportFormatArg::Json => import::ExportFormat::Json,
            }),
            out,
            batch: batch as usize,
        }),
    }
}

fn shadow_report(config: Option<PathBuf>) -> ExitCode {
    let settings = match config::load(&source(config)) {
        Ok(settings) => settings,
        Err(errors) => {
            print_problems(&errors);
            return ExitCode::FAILURE;
        }
    };
    let shadow = &settings.shadow.settings;
    let summary = match tokengate::shadow::journal::Summary::read(&shadow.log, shadow.log_keep) {
        Ok(summary) => summary,
        Err(e) => {
            eprintln!("cannot read {}: {e}", shadow.log.display());
            return ExitCode::FAILURE;
        }
    };
    let files = tokengate::shadow::journal::files(&shadow.log, shadow.log_keep).len();
    println!(
        "{}: {} exchanges differed ({files} files)",
        shadow.log.display(),
        summary.exchanges
    );
    print!("{}", summary.render());
    if summary.unreadable > 0 {
        println!("{} lines could not be read", summary.unreadable);
    }
    ExitCode::SUCCESS
}

fn diff(config: Option<PathBuf>, upstream: &str, transcript: &std::path::Path) -> ExitCode {
    use tokengate::shadow::{AnswerSide, ForwardedFor, Outgoing, Upstream, compare, journal};
    let mut settings = match config::load(&source(config)) {
        Ok(settings) => settings,
        Err(errors) => {
            print_problems(&errors);
            return ExitCode::FAILURE;
        }
    };
    let recorded = match std::fs::read_to_string(transcript)
        .map_err(|e| e.to_string())
        .and_then(|text| tokengate::shadow::transcript::read(&text).map_err(|e| e.to_string()))
    {
        Ok(recorded) => recorded,
        Err(e) => {
            eprintln!("{}: {e}", transcript.display());
            return ExitCode::FAILURE;
        }
    };
    // The gateway compared is this configuration's routes on a loopback port of its own, in
    // plain HTTP, shadowing nothing itself, its tokens in a memory store of its own.
    settings.bind = (std::net::Ipv4Addr::LOCALHOST, 0).into();
    settings.tls = None;
    settings.workers = 1;
    settings.control = None;
    settings.shadow.routes.iter_mut().for_each(|r| *r = None);
    // Replayed grants leave their tokens in memory, never in a shared store of the deployment.
    settings.store.backend = StoreBackend::Memory {
        max_entries: 1_000_000,
    };
    let shadow = settings.shadow.settings.clone();
    let upstream = upstream.trim_end_matches('/').to_owned();
    let replayed = recorded.len();
    let system = actix_web::rt::System::new();
    let result = system.block_on(async move {
        let app =
            Application::build_embedded(settings, Runtime::default()).map_err(|e| e.to_string())?;
        let gateway = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        actix_web::rt::spawn(app.run_until_stopped());
        let client = Upstream::new(&shadow).map_err(|e| e.to_string())?;
        let mut summary = journal::Summary::default();
        let mut failed = 0usize;
        for (i, request) in recorded.iter().enumerate() {
            let outgoing = Outgoing::new(
                &request.method,
                request.query.as_deref(),
                request
                    .headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str())),
                &request.body,
                std::net::Ipv4Addr::LOCALHOST.into(),
                ForwardedFor::Keep,
            );
            let sides = (
                client
                    .send(&format!("{upstream}{}", request.path), &outgoing)
                    .await,
                client
                    .send(&format!("{gateway}{}", request.path), &outgoing)
                    .await,
            );
            let (legacy, ours) = match sides {
                (Ok(legacy), Ok(ours)) => (legacy, ours),
                (legacy, ours) => {
                    failed += 1;
                    for (side, e) in [("upstream", legacy.err()), ("gateway", ours.err())] {
                        if let Some(e) = e {
                            println!(
                                "#{i} {} {}: the {side} did not answer: {e}",
                                request.method, request.path
                            );
                        }
                    }
                    continue;
                }
            };
            let differences = compare::compare(
                &tokengate::shadow::upstream::decoded(&legacy),
                &tokengate::shadow::upstream::decoded(&ours),
                &shadow.compare_headers,
            );
            if differences.is_empty() {
                continue;
            }
            println!(
                "#{i} {} {}: {} differences",
                request.method,
                request.path,
                differences.len()
            );
            for d in &differences {
                println!(
                    "    {} {}: legacy {}, gateway {}",
                    d.class, d.at, d.legacy, d.gateway
                );
            }
            summary.add(&journal::Entry::new(
                &request.path,
                &outgoing,
                AnswerSide::Gateway,
                [legacy.status, ours.status],
                differences,
            ));
        }
        handle.stop(true).await;
        Ok::<_, String>((summary, failed))
    });
    match result {
        Ok((summary, failed)) => {
            print!("{}", summary.render());
            println!(
                "{replayed} requests replayed: {} differed, {failed} without an answer",
                summary.exchanges
            );
            if summary.exchanges == 0 && failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("diff: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `users import`'s arguments.
struct UsersImport {
    config: Option<PathBuf>,
    from: PathBuf,
    format: Option<import::ExportFormat>,
    out: Option<PathBuf>,
    batch: usize,
}

fn users_import(args: UsersImport) -> ExitCode {
    let settings = match config::load(&source(args.config)) {
        Ok(settings) => settings,
        Err(errors) => {
            print_problems(&errors);
            return ExitCode::FAILURE;
        }
    };
    let file = match std::fs::File::open(&args.from) {
        Ok(file) => file,
        Err(e) => {
            eprintln!("cannot open {}: {e}", args.from.display());
            return ExitCode::FAILURE;
        }
    };
    let format = args
        .format
        .unwrap_or_else(|| import::ExportFormat::of_path(&args.from));
    let mut sink: Box<dyn import::Sink> = match import_sink(&settings, args.out.as_deref()) {
        Ok(sink) => sink,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    // A bar on a terminal, by bytes of the export read; nothing when stderr is a file or a
    // pipe (a CI log), where the report alone is what is wanted.
    let bar = if std::io::stderr().is_terminal() {
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let bar = indicatif::ProgressBar::new(len);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {msg} ({elapsed}, {eta} left)",
        ) {
            bar.set_style(style);
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let started = std::time::Instant::now();
    let progress_bar = bar.clone();
    let mut progress = move |rows: u64| progress_bar.set_message(format!("{rows} rows"));
    let outcome = import::import(
        bar.wrap_read(file),
        format,
        sink.as_mut(),
        import::Options {
            hash_input: settings.hash_input,
            batch: args.batch,
            progress: &mut progress,
        },
    );
    bar.finish_and_clear();
    match outcome {
        Ok(report) => {
            print!("{report}");
            let secs = started.elapsed().as_secs_f64();
            println!(
                "{:.1} s, {:.0} rows/s",
                secs,
                report.read as f64 / secs.max(1e-9)
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("import stopped: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Where `users import` writes: the configured directory.
fn import_sink(
    settings: &config::Settings,
    out: Option<&std::path::Path>,
) -> Result<Box<dyn import::Sink>, String> {
    match (&settings.users, out) {
        (DirectoryBackend::Postgres(options), None) => {
            Ok(Box::new(import::PostgresUsers::connect(options)?))
        }
        (DirectoryBackend::Postgres(_), Some(_)) => Err(
            "--out is for a TOML directory; this configuration's users are in PostgreSQL, \
             which the import writes to"
                .to_owned(),
        ),
        (DirectoryBackend::Toml, Some(out)) => {
            Ok(Box::new(import::TomlUsers::open(out, chrono::Utc::now())?))
        }
        (DirectoryBackend::Toml, None) => Err(
            "the directory is the TOML one: name the file of [[user]] items to write with --out"
                .to_owned(),
        ),
    }
}

fn source(config: Option<PathBuf>) -> Source {
    config.map_or(Source::Demo, Source::File)
}

fn serve(config: Option<PathBuf>, deterministic: Option<u64>) -> ExitCode {
    let source = source(config);
    // Read before the log exists, since `[log]` says what it looks like; reading logs nothing,
    // and an invalid configuration's problems go to a log of the default layout.
    let loaded = config::load(&source);
    let format = match &loaded {
        Ok(settings) => match settings.log.format {
            config::LogFormat::Text => tokengate::logging::Format::Text,
            config::LogFormat::Json => tokengate::logging::Format::Json,
        },
        Err(_) => tokengate::logging::Format::Text,
    };
    let _flush_on_exit = tokengate::logging::init(format);
    match &source {
        Source::File(path) => tracing::info!(config = %path.display(), "tokengate starting"),
        _ => tracing::info!(
            "tokengate starting with the embedded demo configuration (clients demo-client, \
             demo-confidential; user user@example.com); pass --config FILE for your own"
        ),
    }
    let mut settings = match loaded {
        Ok(settings) => settings,
        Err(errors) => {
            for problem in &errors.0 {
                tracing::error!("{problem}");
            }
            tracing::error!("configuration invalid; not starting (run `tokengate check`)");
            return ExitCode::FAILURE;
        }
    };
    if matches!(settings.store.backend, StoreBackend::Memory { .. }) {
        // The memory store's tables must leave in one piece when they shrink or grow (see
        // `tokengate::store::memory`), so glibc has to map large blocks on their own. That holds
        // for the whole process and costs every other large allocation a fresh mapping (see
        // `engine::password::argon2id`), so it is decided here, once, before the store exists, and only
        // when this store is the one in use.
        tokengate::sys::map_large_allocations();
    }
    if let Some(seed) = deterministic {
        settings.testing.deterministic = true;
        settings.testing.seed = seed;
    }
    open_connection_limits(&mut settings.connections);
    return_memory_after_floods();
    let bind = settings.bind;
    let system = actix_web::rt::System::new();
    let result = system.block_on(async move {
        let app = match source {
            // SIGHUP reads the file again; the embedded demo has nothing to re-read.
            Source::File(_) => Application::build_reloadable(settings, Runtime::default(), source)?,
            _ => Application::build(settings, Runtime::default())?,
        };
        tracing::info!(
            address = %format!("{}:{}", bind.ip(), app.port()),
            "listening; /healthz answers when ready"
        );
        app.run_until_stopped().await?;
        Ok::<_, tokengate::http::StartError>(())
    });
    match result {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Raises the open-files limit as far as it goes and, unless `[server] max_connections` is set,
/// caps connections below it, so the gateway stops accepting before it runs out of descriptors
/// for its store, its log and the connections it already serves.
fn open_connection_limits(connections: &mut config::ConnectionSettings) {
    match tokengate::sys::raise_open_files_limit() {
        Some(files) => {
            tracing::info!(
                soft = files.soft,
                hard = files.hard,
                started_with = files.before,
                "open-files limit"
            );
            let allowed = tokengate::http::max_connections_for(files.soft);
            match connections.max_connections {
                None => connections.max_connections = Some(allowed),
                Some(asked) if asked > allowed => tracing::warn!(
                    max_connections = asked,
                    open_files = files.soft,
                    "[server] max_connections is above what the open-files limit leaves for \
                     connections ({allowed}): accepting may fail with EMFILE under load"
                ),
                Some(_) => {}
            }
        }
        None => {
            tracing::warn!("the open-files limit cannot be read; connections capped by default")
        }
    }
}

/// Every connection costs the worker serving it ~24 KiB of small allocations (buffers, the
/// request, its futures), which glibc keeps in that worker's arena once freed: measured, 20 000
/// connections that sent a head and no body left 485 MB resident after every one had been
/// answered 408 and closed, and one `malloc_trim` brought it back to 22 MB. So a thread trims
/// now and then; with little free, a trim is a short walk of the free lists.
fn return_memory_after_floods() {
    const EVERY: std::time::Duration = std::time::Duration::from_secs(10);
    let started = std::thread::Builder::new()
        .name("tokengate-trim".into())
        .spawn(|| {
            loop {
                std::thread::sleep(EVERY);
                tokengate::sys::release_free_memory();
            }
        });
    if let Err(e) = started {
        tracing::warn!(
            "no memory trimming thread ({e}): memory freed after a flood stays resident"
        );
    }
}

fn check(config: Option<PathBuf>, connect: bool, create: bool) -> ExitCode {
    let source = source(config);
    match config::load(&source) {
        Ok(settings) => {
            let users = match settings.users {
                DirectoryBackend::Toml => format!("{} user(s)", settings.directory.user_count()),
                DirectoryBackend::Postgres(_) => "users in the database".to_owned(),
            };
            println!(
                "configuration is valid: {} route(s), {} client(s), {users}",
                settings.routes.len(),
                settings.directory.client_count(),
            );
            println!("  listens on {}", settings.bind);
            println!("  store: {}", settings.store.describe());
            println!("  directory: {}", settings.users.describe());
            for route in &settings.routes {
                println!("  {} -> {}", route.path(), route.dialect());
            }
            if !connect {
                return ExitCode::SUCCESS;
            }
            let mut failed = false;
            match connect_store(&settings.store) {
                Ok(()) => println!("store is reachable: {}", settings.store.describe()),
                Err(e) => {
                    eprintln!("store is not reachable: {e}");
                    failed = true;
                }
            }
            if let DirectoryBackend::Postgres(_) = settings.users {
                let report = config::check_directory(&settings, create);
                for note in &report.notes {
                    println!("{note}");
                }
                for problem in &report.problems {
                    eprintln!("{problem}");
                }
                if report.problems.is_empty() {
                    println!("directory is usable: {}", settings.users.describe());
                } else {
                    eprintln!("{} directory problem(s) found", report.problems.len());
                    failed = true;
                }
            }
            if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(errors) => {
            print_problems(&errors);
            ExitCode::FAILURE
        }
    }
}

fn print_problems(errors: &config::ConfigErrors) {
    for problem in &errors.0 {
        eprintln!("{problem}");
    }
    eprintln!("{} problem(s) found", errors.0.len());
}

fn profile(path: &str, config: Option<PathBuf>) -> ExitCode {
    match config::effective_profile(&source(config), path) {
        Ok(profile) => match toml::to_string_pretty(&profile.table) {
            Ok(text) => {
                println!(
                    "# route[{}] {:?}: dialect {:?}, every extends, remove and override applied",
                    profile.index, profile.path, profile.dialect
                );
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("cannot write the profile as TOML: {e}");
                ExitCode::FAILURE
            }
        },
        Err(config::ProfileError::Invalid(errors)) => {
            print_problems(&errors);
            ExitCode::FAILURE
        }
        Err(e @ config::ProfileError::NoRoute { .. }) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Opens the store and asks it whether it can serve, as `/healthz` would.
fn connect_store(store: &config::StoreSettings) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    runtime.block_on(async {
        let store = store.open().map_err(|e| e.to_string())?;
        store.health().await.map_err(|e| e.to_string())
    })
}

fn hash_password(format: NewHashFormat) -> ExitCode {
    let password = match read_password() {
        Ok(password) => password,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    match password::hash_password(&password, format) {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot hash: {e}");
            ExitCode::FAILURE
        }
    }
}

fn read_password() -> Result<Secret, String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?;
        let second = rpassword::prompt_password("Again: ").map_err(|e| e.to_string())?;
        if first != second {
            return Err("the two passwords differ".into());
        }
        if first.is_empty() {
            return Err("the password is empty".into());
        }
        return Ok(Secret::new(first));
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let password = text.strip_suffix('\n').unwrap_or(&text);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        return Err("the password on standard input is empty".into());
    }
    Ok(Secret::new(password))
}
