//! The `tablero` command line: parse arguments, resolve them into a request, dispatch, and
//! decide the exit code: 0 success, 1 a problem in the user's workspace, data or request,
//! 2 bad usage, 3 an internal error (a bug or a failure of the machine, not the user's doing).

/// Prints to standard output like `println!`; when the reader has gone away (`tablero compute
/// | head -1`), the command has nothing left to do and ends quietly with status 0.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::write_out(format_args!($($arg)*))
    };
}

mod alerting;
mod bench;
mod bench_postgres;
mod output;
mod people;
mod reporting;
mod reviews;
mod store;
mod top;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tablero_calendar::{Calendar, Grain};
use tablero_engine::{EngineError, Request};

/// Tablero: a company's KPIs as code, computed per period and dimension.
#[derive(Parser, Debug)]
#[command(name = "tablero", version, about)]
struct Cli {
    /// The workspace folder (holds tablero.toml).
    #[arg(short = 'w', long = "workspace", global = true, default_value = ".")]
    workspace: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a workspace: a small valid one, or the example company with its data.
    Init {
        /// The folder to create.
        dir: PathBuf,
        /// Write an example company: `23people`.
        #[arg(long)]
        example: Option<Example>,
        /// Write into a folder that is not empty.
        #[arg(long)]
        force: bool,
        /// Seed of the example's data generator (same seed and day, same files).
        #[arg(long, default_value_t = 23)]
        seed: u64,
        /// The example's last day of data (default: today in its time zone).
        #[arg(long)]
        today: Option<String>,
        /// Rows per invoice of the example (for benchmarks; large sizes are written as Parquet).
        #[arg(long, default_value_t = 1)]
        scale: u32,
    },
    /// Serve the web dashboard, the JSON API and /metrics.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: std::net::SocketAddr,
        /// Listen on a non-loopback address although no accounts are configured (everyone
        /// who reaches it reads every KPI: a loud warning is printed).
        #[arg(long)]
        insecure_bind: bool,
        /// Largest request body accepted (rows pushed to the store), in MiB.
        #[arg(long, default_value_t = 16)]
        max_body_mib: usize,
        /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The private key (PEM) of --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// A reverse proxy (its address) whose X-Forwarded-For and X-Forwarded-Proto are
        /// believed; it is expected to serve HTTPS, so cookies are Secure.
        #[arg(long)]
        trusted_proxy: Option<std::net::IpAddr>,
    },
    /// The example company in a temporary folder, served: the whole product in one command.
    Demo {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: std::net::SocketAddr,
        /// Write the example here instead of a temporary folder (kept afterwards).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Listen on a non-loopback address.
        #[arg(long)]
        insecure_bind: bool,
        /// Seed of the example's data generator (same seed and day, same data).
        #[arg(long, default_value_t = 23)]
        seed: u64,
        /// The example's last day of data (default: today in its time zone), for a demo
        /// whose numbers do not move.
        #[arg(long)]
        today: Option<String>,
    },
    /// Validate every definition of the workspace.
    Check {
        /// Also run the SMART lint (owner, measurable, target, grain, too many KPIs per owner).
        #[arg(long)]
        smart: bool,
        /// Also connect to each database a source reads and check its table and columns.
        #[arg(long)]
        connections: bool,
    },
    /// Compute KPIs per period (and dimension).
    Compute {
        /// KPI ids; all when none is given.
        kpis: Vec<String>,
        #[command(flatten)]
        range: RangeArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Write to this file instead of standard output (needed for xlsx).
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Show the plan and SQL a KPI compiles to.
    Explain {
        kpi: String,
        #[command(flatten)]
        range: RangeArgs,
    },
    /// Append rows (CSV, NDJSON, JSON array, Parquet, XLSX) to a store source, as one batch.
    Ingest {
        /// A source with `store: true`.
        source: String,
        /// Files read in order; all of them form one batch, stored whole or not at all.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// A batch with a key already committed is acknowledged and stores nothing.
        #[arg(long)]
        idempotency_key: Option<String>,
        /// The spreadsheet sheet to read (default: the first).
        #[arg(long)]
        sheet: Option<String>,
    },
    /// Look after a store source's table.
    Store {
        #[command(subcommand)]
        action: StoreAction,
    },
    /// Accounts: add, list, disable, set a password.
    Users {
        #[command(subcommand)]
        action: people::UsersAction,
    },
    /// API tokens: create (shown once), list, revoke.
    Tokens {
        #[command(subcommand)]
        action: people::TokensAction,
    },
    /// Alert rules (alerts/*.yaml): evaluate them once.
    Alerts {
        #[command(subcommand)]
        action: alerting::AlertsAction,
    },
    /// The home page's cards in the terminal: every KPI's latest value, target, status and
    /// change, by owner.
    Top {
        /// As if it were this moment: a date (end of that day) or an instant.
        #[arg(long = "as-of")]
        as_of: Option<String>,
        /// Print the cards once instead of the live board (also when the output is no
        /// terminal).
        #[arg(long)]
        once: bool,
    },
    /// Run a node of a cluster that computes KPIs (`engine = "ballista://HOST:PORT"`).
    Cluster {
        #[command(subcommand)]
        node: ClusterNode,
    },
    /// Generates the example company at a size and times its whole catalog, monthly over three
    /// years (SPEC §10).
    Bench {
        /// Invoice rows to generate (each invoice is split into equal parts).
        #[arg(long, default_value_t = 10_000_000)]
        rows: u64,
        /// Full-catalog computations to time; the median is reported.
        #[arg(long, default_value_t = 3)]
        runs: u32,
        /// Also compute the same KPIs in DuckDB (its Python package) and print the ratio.
        #[arg(long, value_enum)]
        compare: Option<Compare>,
        /// `text` for people, `json` for machines.
        #[arg(long, value_enum, default_value = "text")]
        format: BenchFormat,
        /// Seed of the data generator.
        #[arg(long, default_value_t = 23)]
        seed: u64,
        /// The company's last day of data (default: today in its time zone).
        #[arg(long)]
        today: Option<String>,
        /// Keep the generated workspace in this folder (it must be empty or not exist).
        #[arg(long)]
        keep: Option<PathBuf>,
        /// Where the catalog is computed: `embedded`, a cluster (`ballista://HOST:PORT`), or a
        /// PostgreSQL database (`postgres://USER@HOST:PORT/DB`, the password from
        /// TABLERO_CONN_BENCH_PASSWORD) that the invoices are loaded into first.
        #[arg(long, default_value = "embedded")]
        engine: String,
    },
    /// Scheduled reports (reports/*.yaml): send one by hand, or run the schedule once.
    Reports {
        #[command(subcommand)]
        action: reporting::ReportsAction,
    },
    /// KPI reviews: their comments, causes and actions.
    Reviews {
        #[command(subcommand)]
        action: ReviewsAction,
    },
}

#[derive(Subcommand, Debug)]
enum ReviewsAction {
    /// The reviews of a KPI (or of every KPI), newest first, with their actions.
    List {
        kpi: Option<String>,
        /// Only the KPIs of this owner, e.g. "Finances".
        #[arg(long)]
        owner: Option<String>,
        /// Only the open actions past their due date.
        #[arg(long)]
        overdue: bool,
    },
}

#[derive(Subcommand, Debug)]
enum ClusterNode {
    /// The scheduler: plans arrive here and are split into tasks for the executors.
    Scheduler {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:50050")]
        bind: std::net::SocketAddr,
    },
    /// An executor: runs tasks, reading the workspace's files itself.
    Executor {
        /// The scheduler, `HOST:PORT`.
        #[arg(long)]
        scheduler: String,
        /// Address of its data service (Arrow Flight); several executors on one machine each
        /// take their own port.
        #[arg(long, default_value = "127.0.0.1:50051")]
        bind: std::net::SocketAddr,
        /// Port of its task service (gRPC); the `--bind` port + 1 by default.
        #[arg(long)]
        grpc_port: Option<u16>,
        /// Folder for its intermediate files (a temporary one by default).
        #[arg(long)]
        work_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum StoreAction {
    /// Merge small files into large ones and checkpoint the log.
    Compact { source: String },
    /// Versions, files, rows and the last commit.
    Info { source: String },
    /// Set torn (never acknowledged) versions on top of the table aside, and say what was done.
    Repair { source: String },
}

#[derive(clap::Args, Debug)]
struct RangeArgs {
    /// First period (a label at the grain, e.g. 2026-01); default: eleven periods before --to.
    #[arg(long)]
    from: Option<String>,
    /// Last period, included; default: the current (partial) period.
    #[arg(long)]
    to: Option<String>,
    /// Grain to compute at; default: each KPI's own grain.
    #[arg(long, value_enum)]
    grain: Option<GrainArg>,
    /// One value per value of this dimension.
    #[arg(long)]
    by: Option<String>,
    /// A condition every row must meet, e.g. "department = 'Cloud'".
    #[arg(long = "where")]
    filter: Option<String>,
    /// Compute as if it were this moment: a date (end of that day) or an instant.
    #[arg(long = "as-of")]
    as_of: Option<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum GrainArg {
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl From<GrainArg> for Grain {
    fn from(g: GrainArg) -> Grain {
        match g {
            GrainArg::Day => Grain::Day,
            GrainArg::Week => Grain::Week,
            GrainArg::Month => Grain::Month,
            GrainArg::Quarter => Grain::Quarter,
            GrainArg::Year => Grain::Year,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum Example {
    #[value(name = "23people")]
    People23,
}

/// What `bench --compare` runs beside the engine.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Compare {
    Duckdb,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum BenchFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
    /// A workbook with one sheet per KPI (needs --output).
    Xlsx,
}

/// Exit status for a problem in the user's workspace, data or request.
pub(crate) const EXIT_USER: u8 = 1;
/// Exit status for a command line that does not parse.
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit status for an internal error: a bug in Tablero or a failure of the machine.
pub(crate) const EXIT_INTERNAL: u8 = 3;

/// A failure and the exit code it earns.
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl From<EngineError> for Failure {
    fn from(err: EngineError) -> Failure {
        Failure {
            code: if err.is_user_error() {
                EXIT_USER
            } else {
                EXIT_INTERNAL
            },
            message: err.to_string(),
        }
    }
}

/// One line of standard output (see `out!`).
pub(crate) fn write_out(args: std::fmt::Arguments<'_>) {
    write_text(&format!("{args}\n"));
}

/// Text on standard output, exactly as given; a reader that went away ends the command
/// quietly with status 0.
pub(crate) fn write_text(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
    if let Err(err) = written {
        if err.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {err}");
        std::process::exit(i32::from(EXIT_INTERNAL));
    }
}

/// The server's and the engine's diagnostics (a background refresh that failed, a reload) go
/// to standard error: warnings by default; `TABLERO_LOG` takes `TARGET=LEVEL` pairs and a
/// default level, e.g. `TABLERO_LOG=info`, or `TABLERO_LOG=tablero_server=info` for each
/// reload of the workspace.
fn init_logging() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let wanted = std::env::var("TABLERO_LOG").ok();
    let filter = wanted
        .as_deref()
        .and_then(|text| text.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_target("tablero", LevelFilter::WARN));
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .finish()
        .with(filter);
    let _ = subscriber.try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    // A panic is a bug: its message is printed by the default hook, and the exit status says
    // "internal error" rather than the runtime's 101.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(cli)))
        .unwrap_or_else(|_| {
            Err(Failure {
                code: EXIT_INTERNAL,
                message: "internal error: Tablero stopped on a bug; please report it with the command that caused it".into(),
            })
        });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            for line in failure.message.lines() {
                if line.starts_with("error:") || line.starts_with("warning:") {
                    eprintln!("{line}");
                } else {
                    eprintln!("error: {line}");
                }
            }
            ExitCode::from(failure.code)
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        // DataFusion plans, optimises and (on a cluster node) decodes plans recursively; a
        // formula at the parser's depth limit needs more than tokio's default 2 MiB when
        // DataFusion is built unoptimised (debug builds). Address space only: pages are
        // touched when used.
        .thread_stack_size(32 << 20)
        .enable_all()
        .build()
        .map_err(|e| Failure {
            code: 1,
            message: format!("cannot start the runtime: {e}"),
        })?;
    match cli.command {
        Command::Init {
            dir,
            example,
            force,
            seed,
            today,
            scale,
        } => init(&runtime, &dir, example, force, seed, today, scale),
        Command::Check { smart, connections } => {
            check(&runtime, &cli.workspace, smart, connections)
        }
        Command::Users { action } => runtime.block_on(people::users(&cli.workspace, action)),
        Command::Tokens { action } => runtime.block_on(people::tokens(&cli.workspace, action)),
        Command::Alerts { action } => runtime.block_on(alerting::alerts(&cli.workspace, action)),
        Command::Top { as_of, once } => runtime.block_on(top::top(&cli.workspace, as_of, once)),
        Command::Reports { action } => runtime.block_on(reporting::reports(&cli.workspace, action)),
        Command::Cluster { node } => runtime.block_on(cluster(node)),
        Command::Bench {
            rows,
            runs,
            compare,
            format,
            seed,
            today,
            keep,
            engine,
        } => {
            let today = example_today(today.as_deref())?;
            let engine = bench::Engine::parse(&engine)?;
            runtime.block_on(bench::bench(bench::Options {
                engine,
                rows,
                runs,
                compare_duckdb: compare == Some(Compare::Duckdb),
                json: format == BenchFormat::Json,
                seed,
                today,
                keep,
            }))
        }
        Command::Reviews {
            action:
                ReviewsAction::List {
                    kpi,
                    owner,
                    overdue,
                },
        } => runtime.block_on(reviews::list(
            &cli.workspace,
            reviews::ListOptions {
                kpi,
                owner,
                overdue,
            },
        )),
        Command::Serve {
            addr,
            insecure_bind,
            max_body_mib,
            tls_cert,
            tls_key,
            trusted_proxy,
        } => {
            let _entered = runtime.enter();
            let signals = tablero_server::Signals::install();
            let mut options = tablero_server::ServeOptions::new(addr);
            options.insecure_bind = insecure_bind;
            options.max_body_bytes = max_body_mib.saturating_mul(1 << 20);
            options.trusted_proxy = trusted_proxy;
            if let (Some(cert), Some(key)) = (tls_cert, tls_key) {
                options.tls = Some(tablero_server::Tls::from_pem_files(&cert, &key).map_err(
                    |message| Failure {
                        code: EXIT_USER,
                        message,
                    },
                )?);
            }
            runtime.block_on(serve(&cli.workspace, options, signals))
        }
        Command::Demo {
            addr,
            dir,
            insecure_bind,
            seed,
            today,
        } => {
            // Signals first: a Ctrl+C while the example is generated must still end through
            // here, so the temporary folder is removed on every way out.
            let _entered = runtime.enter();
            let signals = tablero_server::Signals::install();
            let (dir, _temporary) = match dir {
                Some(dir) => (dir, None),
                None => {
                    let temporary = tempfile::Builder::new()
                        .prefix("tablero-demo-")
                        .tempdir()
                        .map_err(|e| Failure {
                            code: 1,
                            message: format!("cannot create a temporary folder: {e}"),
                        })?;
                    (temporary.path().join("23people"), Some(temporary))
                }
            };
            if !dir.join("tablero.toml").exists() {
                let today = example_today(today.as_deref())?;
                let options = tablero_example::GenerateOptions {
                    seed,
                    ..tablero_example::GenerateOptions::new(today)
                };
                tablero_example::write_example(&dir, &options, false).map_err(|e| Failure {
                    code: 1,
                    message: e.to_string(),
                })?;
                runtime.block_on(store::seed_example(&dir))?;
                runtime.block_on(reviews::seed_example(&dir, today))?;
            }
            eprintln!("tablero demo: the 23people example in {}", dir.display());
            let mut options = tablero_server::ServeOptions::new(addr);
            options.insecure_bind = insecure_bind;
            runtime.block_on(serve(&dir, options, signals))
        }
        Command::Compute {
            kpis,
            range,
            format,
            output,
        } => runtime.block_on(async {
            if format == Format::Xlsx && output.is_none() {
                return Err(Failure {
                    code: 2,
                    message: "--format xlsx writes a file: add --output FILE.xlsx".into(),
                });
            }
            let (engine, _) = tablero_engine::open(&cli.workspace)?;
            let request = request(engine.calendar(), kpis, &range)?;
            let results = engine.compute(&request).await?;
            for warning in engine.warnings() {
                eprintln!("warning: {warning}");
            }
            let bytes = match format {
                Format::Xlsx => {
                    let workspace = engine.workspace();
                    let sheets: Vec<(String, tablero_export::Table)> = results
                        .iter()
                        .filter_map(|r| {
                            let kpi = workspace.kpi(&r.kpi)?;
                            Some((
                                kpi.id.value.clone(),
                                tablero_wire::values_table(kpi, r, None),
                            ))
                        })
                        .collect();
                    tablero_export::xlsx_sheets(&sheets).map_err(|e| Failure {
                        code: EXIT_INTERNAL,
                        message: e.to_string(),
                    })?
                }
                _ => output::render(&results, engine.workspace(), format).into_bytes(),
            };
            match &output {
                Some(path) => std::fs::write(path, &bytes).map_err(|e| Failure {
                    code: EXIT_USER,
                    message: format!("--output {}: {e}", path.display()),
                })?,
                None => write_text(&String::from_utf8_lossy(&bytes)),
            }
            Ok(())
        }),
        Command::Ingest {
            source,
            files,
            idempotency_key,
            sheet,
        } => runtime.block_on(store::ingest(
            &cli.workspace,
            &source,
            &files,
            idempotency_key.as_deref(),
            sheet.as_deref(),
        )),
        Command::Store { action } => match action {
            StoreAction::Compact { source } => {
                runtime.block_on(store::compact(&cli.workspace, &source))
            }
            StoreAction::Info { source } => runtime.block_on(store::info(&cli.workspace, &source)),
            StoreAction::Repair { source } => {
                runtime.block_on(store::repair(&cli.workspace, &source))
            }
        },
        Command::Explain { kpi, range } => runtime.block_on(async {
            let (engine, _) = tablero_engine::open(&cli.workspace)?;
            let request = request(engine.calendar(), vec![kpi.clone()], &range)?;
            let explanation = engine.explain(&kpi, &request).await?;
            out!("-- KPI {}", explanation.kpi);
            out!("-- Plan\n{}", explanation.plan);
            match &explanation.sql {
                Ok(sql) => out!("-- SQL\n{sql}\n"),
                Err(why) => out!("-- SQL: this plan has no SQL form ({why})\n"),
            }
            out!("-- Logical plan\n{}", explanation.logical_plan);
            out!("-- Optimized plan\n{}", explanation.optimized_plan);
            Ok(())
        }),
    }
}

fn init(
    runtime: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    example: Option<Example>,
    force: bool,
    seed: u64,
    today: Option<String>,
    scale: u32,
) -> Result<(), Failure> {
    let fail = |e: tablero_example::ExampleError| Failure {
        code: 1,
        message: e.to_string(),
    };
    match example {
        None => {
            tablero_example::write_empty(dir, force).map_err(fail)?;
            out!(
                "created {}: edit tablero.toml, sources/ and kpis/, then run `tablero -w {} compute`",
                dir.display(),
                dir.display()
            );
        }
        Some(Example::People23) => {
            let today = example_today(today.as_deref())?;
            let options = tablero_example::GenerateOptions {
                seed,
                today,
                invoice_scale: scale.max(1),
                progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            };
            let summary = tablero_example::write_example(dir, &options, force).map_err(fail)?;
            runtime.block_on(store::seed_example(dir))?;
            runtime.block_on(reviews::seed_example(dir, today))?;
            let rows: usize = summary.files.iter().map(|(_, n)| n).sum();
            out!(
                "created {}: the 23people example, {} data files, {rows} rows up to {today}",
                dir.display(),
                summary.files.len()
            );
            out!("next: tablero -w {} compute", dir.display());
        }
    }
    Ok(())
}

/// The example's last day of data: `--today`, or today in the example's time zone.
fn example_today(today: Option<&str>) -> Result<jiff::civil::Date, Failure> {
    match today {
        Some(text) => text.parse::<jiff::civil::Date>().map_err(|e| Failure {
            code: EXIT_USER,
            message: format!("--today {text}: expected a date like 2026-03-31 ({e})"),
        }),
        None => Ok(jiff::Timestamp::now()
            .to_zoned(
                jiff::tz::TimeZone::get("America/Santiago").unwrap_or(jiff::tz::TimeZone::UTC),
            )
            .date()),
    }
}

async fn serve(
    root: &std::path::Path,
    options: tablero_server::ServeOptions,
    signals: tablero_server::Signals,
) -> Result<(), Failure> {
    let scheme = if options.tls.is_some() {
        "https"
    } else {
        "http"
    };
    tablero_server::serve(root, &options, signals, |local| {
        // Not `out!`: with the reader gone the server keeps serving, and a demo must still
        // clean up its folder when it stops.
        use std::io::Write;
        let _ = writeln!(
            std::io::stdout(),
            "Tablero is serving {} at {scheme}://{local}/  (Ctrl+C stops it)",
            root.display()
        );
    })
    .await
    .map_err(|message| Failure { code: 1, message })
}

/// Runs a cluster node until the process ends.
async fn cluster(node: ClusterNode) -> Result<(), Failure> {
    let stopped = |e: tablero_cluster::ClusterError| Failure {
        code: 3,
        message: e.to_string(),
    };
    match node {
        ClusterNode::Scheduler { bind } => tablero_cluster::scheduler(bind).await.map_err(stopped),
        ClusterNode::Executor {
            scheduler,
            bind,
            grpc_port,
            work_dir,
        } => {
            let usage = |message: String| Failure { code: 2, message };
            let (host, port) = scheduler
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
                .ok_or_else(|| usage(format!("--scheduler {scheduler}: expected HOST:PORT")))?;
            let grpc_port = match grpc_port {
                Some(p) => p,
                None => bind.port().checked_add(1).ok_or_else(|| {
                    usage(format!("--bind {bind}: no port after it for --grpc-port"))
                })?,
            };
            tablero_cluster::executor(
                (host, port),
                bind,
                grpc_port,
                work_dir.map(|d| d.to_string_lossy().to_string()),
            )
            .await
            .map_err(stopped)
        }
    }
}

/// The workspace's state database, opened and migrated; a failure is the user's to fix
/// (its setting, its server, its file).
pub(crate) async fn open_state(root: &std::path::Path) -> Result<tablero_state::StateDb, Failure> {
    tablero_state::StateDb::open_workspace(root)
        .await
        .map_err(|err| Failure {
            code: EXIT_USER,
            message: err.to_string(),
        })
}

fn check(
    runtime: &tokio::runtime::Runtime,
    root: &std::path::Path,
    smart: bool,
    connections: bool,
) -> Result<(), Failure> {
    let (workspace, mut diagnostics) = tablero_model::load_workspace(root);
    if connections {
        diagnostics.extend(runtime.block_on(tablero_connections::check(&workspace)));
    }
    diagnostics.extend(runtime.block_on(people::account_warnings(root, &workspace)));
    let (catalog, problems) = tablero_formula::check_workspace(&workspace);
    diagnostics.extend(problems);
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    if errors == 0
        && let Err(err) = tablero_engine::Engine::new(workspace.clone(), catalog.clone())
    {
        return Err(err.into());
    }
    if smart {
        diagnostics.extend(tablero_formula::smart_lint(&workspace, &catalog));
    }
    diagnostics.sort_by(|a, b| a.location.cmp(&b.location));
    for d in &diagnostics {
        eprintln!("{d}");
    }
    let warnings = diagnostics.len() - errors;
    if errors > 0 {
        return Err(Failure {
            code: 1,
            message: format!(
                "{errors} error(s), {warnings} warning(s) in {}",
                root.display()
            ),
        });
    }
    out!(
        "ok: {} sources, {} KPIs, {warnings} warning(s)",
        workspace.sources.len(),
        workspace.kpis.len()
    );
    Ok(())
}

fn request(calendar: &Calendar, kpis: Vec<String>, range: &RangeArgs) -> Result<Request, Failure> {
    let as_of = match &range.as_of {
        Some(text) => Some(calendar.parse_as_of(text).map_err(|e| Failure {
            code: 1,
            message: format!("--as-of: {e}"),
        })?),
        None => None,
    };
    Ok(Request {
        kpis,
        from: range.from.clone(),
        to: range.to.clone(),
        grain: range.grain.map(Grain::from),
        by: range.by.clone(),
        filter: range.filter.clone(),
        as_of,
    })
}
