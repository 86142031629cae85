//! The `tablero` command line: parse arguments, resolve them into a request, dispatch, and
//! decide the exit code (0 success, 1 user error, 2 bad usage).

mod output;
mod store;

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
        /// Listen on a non-loopback address although no accounts are configured.
        #[arg(long)]
        insecure_bind: bool,
        /// Largest request body accepted (rows pushed to the store), in MiB.
        #[arg(long, default_value_t = 16)]
        max_body_mib: usize,
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
    },
    /// Validate every definition of the workspace.
    Check {
        /// Also run the SMART lint (owner, measurable, target, grain, too many KPIs per owner).
        #[arg(long)]
        smart: bool,
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
}

#[derive(Subcommand, Debug)]
enum StoreAction {
    /// Merge small files into large ones and checkpoint the log.
    Compact { source: String },
    /// Versions, files, rows and the last commit.
    Info { source: String },
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

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
}

/// A failure and the exit code it earns.
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl From<EngineError> for Failure {
    fn from(err: EngineError) -> Failure {
        Failure {
            code: 1,
            message: err.to_string(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
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
        } => init(&dir, example, force, seed, today, scale),
        Command::Check { smart } => check(&cli.workspace, smart),
        Command::Serve {
            addr,
            insecure_bind,
            max_body_mib,
        } => runtime.block_on(serve(&cli.workspace, addr, insecure_bind, max_body_mib)),
        Command::Demo {
            addr,
            dir,
            insecure_bind,
        } => {
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
                let today = jiff::Timestamp::now()
                    .to_zoned(
                        jiff::tz::TimeZone::get("America/Santiago")
                            .unwrap_or(jiff::tz::TimeZone::UTC),
                    )
                    .date();
                let options = tablero_example::GenerateOptions::new(today);
                tablero_example::write_example(&dir, &options, false).map_err(|e| Failure {
                    code: 1,
                    message: e.to_string(),
                })?;
            }
            eprintln!("tablero demo: the 23people example in {}", dir.display());
            runtime.block_on(serve(&dir, addr, insecure_bind, 16))
        }
        Command::Compute {
            kpis,
            range,
            format,
        } => runtime.block_on(async {
            let (engine, _) = tablero_engine::open(&cli.workspace)?;
            let request = request(engine.calendar(), kpis, &range)?;
            let results = engine.compute(&request).await?;
            for warning in engine.warnings() {
                eprintln!("warning: {warning}");
            }
            let text = output::render(&results, engine.workspace(), format);
            print!("{text}");
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
        },
        Command::Explain { kpi, range } => runtime.block_on(async {
            let (engine, _) = tablero_engine::open(&cli.workspace)?;
            let request = request(engine.calendar(), vec![kpi.clone()], &range)?;
            let explanation = engine.explain(&kpi, &request).await?;
            println!("-- KPI {}", explanation.kpi);
            match &explanation.sql {
                Ok(sql) => println!("-- SQL\n{sql}\n"),
                Err(why) => println!("-- SQL: this plan has no SQL form ({why})\n"),
            }
            println!("-- Logical plan\n{}", explanation.logical_plan);
            println!("-- Optimized plan\n{}", explanation.optimized_plan);
            Ok(())
        }),
    }
}

fn init(
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
            println!(
                "created {}: edit tablero.toml, sources/ and kpis/, then run `tablero -w {} compute`",
                dir.display(),
                dir.display()
            );
        }
        Some(Example::People23) => {
            let today = match today {
                Some(text) => text.parse::<jiff::civil::Date>().map_err(|e| Failure {
                    code: 1,
                    message: format!("--today {text}: expected a date like 2026-03-31 ({e})"),
                })?,
                None => jiff::Timestamp::now()
                    .to_zoned(
                        jiff::tz::TimeZone::get("America/Santiago")
                            .unwrap_or(jiff::tz::TimeZone::UTC),
                    )
                    .date(),
            };
            let options = tablero_example::GenerateOptions {
                seed,
                today,
                invoice_scale: scale.max(1),
                progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            };
            let summary = tablero_example::write_example(dir, &options, force).map_err(fail)?;
            let rows: usize = summary.files.iter().map(|(_, n)| n).sum();
            println!(
                "created {}: the 23people example, {} data files, {rows} rows up to {today}",
                dir.display(),
                summary.files.len()
            );
            println!("next: tablero -w {} compute", dir.display());
        }
    }
    Ok(())
}

async fn serve(
    root: &std::path::Path,
    addr: std::net::SocketAddr,
    insecure_bind: bool,
    max_body_mib: usize,
) -> Result<(), Failure> {
    let options = tablero_server::ServeOptions {
        addr,
        insecure_bind,
        max_body_bytes: max_body_mib.saturating_mul(1 << 20),
    };
    tablero_server::serve(root, &options, |local| {
        println!(
            "Tablero is serving {} at http://{local}/  (Ctrl+C stops it)",
            root.display()
        );
    })
    .await
    .map_err(|message| Failure { code: 1, message })
}

fn check(root: &std::path::Path, smart: bool) -> Result<(), Failure> {
    let (workspace, mut diagnostics) = tablero_model::load_workspace(root);
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
    println!(
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
