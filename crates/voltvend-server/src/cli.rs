//! The `voltvend` command line. Every failure prints one line on stderr and exits non-zero.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use voltvend_domain::{BuiltinRole, Clock, Operator, OperatorId, Premises, PremisesId};

use crate::clock::{IdGenerator, SystemClock};
use crate::serve::Access;
use crate::settings::{Overrides, Settings, default_toml};

#[derive(Debug, Parser)]
#[command(name = "voltvend", version, about = "Prepaid electricity and water vending and metering")]
pub struct Cli {
    /// Configuration file (TOML); see `voltvend config print-default`.
    #[arg(long, global = true, env = "VOLTVEND_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Database URL (sqlite://PATH or postgres://…); overrides the configuration.
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve(ListenArgs),
    /// Run a demonstration server on a fresh embedded database with seeded premises, customers and meters,
    /// and a simulated fleet for those meters.
    Demo(DemoArgs),
    /// Run a fleet of simulated prepaid meters on real sockets (DL/T 645 over TCP).
    Simulate(crate::simulate::SimulateArgs),
    /// Apply pending database migrations.
    Migrate,
    /// Manage operators.
    #[command(subcommand)]
    User(UserCommand),
    /// Show configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Write a consistent backup of the database to a directory while the server runs.
    Backup {
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
    },
    /// Restore a backup into the configured database, then verify it; or list the backups (`--list`).
    Restore {
        #[arg(long, value_name = "FILE", required_unless_present = "list")]
        from: Option<PathBuf>,
        /// Replace an existing database (never one a running server holds).
        #[arg(long)]
        force: bool,
        /// List the backups in the backup directory (`backup.dir`, or `--dir`) with their verification.
        #[arg(long, conflicts_with_all = ["from", "force"])]
        list: bool,
        #[arg(long, value_name = "DIR", requires = "list")]
        dir: Option<PathBuf>,
    },
    /// Check every invariant of the database: the ledger sums to zero, cached balances equal their entries,
    /// receipt numbers are gapless, the audit chain is intact. One line per problem; non-zero exit if any.
    Check {
        /// Only what the server checks at start-up (sums, receipt counters, the end of the audit chain).
        #[arg(long)]
        bounded: bool,
        /// 集团财务 (ADR 0007): record what each property's books are out by (transfers posted between properties
        /// before they were balanced through inter-property accounts) as owed between them, in one transfer per
        /// currency between their inter-property accounts, after the check.
        #[arg(long, conflicts_with = "bounded")]
        settle_properties: bool,
    },
    /// The tamper-evident audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Measurements printed beside a baseline from the same run.
    #[command(subcommand)]
    Bench(crate::bench::BenchCommand),
    /// Issue, decode and derive keys for STS and OpenPAYGO tokens (works without a database).
    #[command(subcommand)]
    Token(crate::token_cli::TokenCommand),
    /// Import, export, show and quote tariffs (quote and show of a file work without a database).
    #[command(subcommand)]
    Tariff(crate::tariff_cli::TariffCommand),
    /// The master key that seals vending keys and device secrets at rest.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// A CPU card emulated in software, for trials and tests without a physical card.
    #[command(subcommand)]
    Card(crate::card_cli::CardCommand),
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Make a new random master key and write it to a new file readable by its owner only; prints the key's
    /// identifier (never the key). Point `keys.master_key_file` at the file.
    Generate {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

#[derive(Debug, Args)]
struct ListenArgs {
    /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free port).
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<String>,
}

#[derive(Debug, Args)]
struct DemoArgs {
    #[command(flatten)]
    listen: ListenArgs,
    /// Keep the temporary database (and the master key made for it) after a clean stop; it is removed
    /// otherwise. A database given with --database-url is always kept.
    #[arg(long)]
    keep: bool,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add an operator (the first administrator on a new installation).
    Add {
        #[arg(long)]
        username: String,
        /// administrator, manager, cashier, field_engineer, auditor or read_only.
        #[arg(long, default_value = "administrator")]
        role: String,
        #[arg(long)]
        display_name: Option<String>,
        /// Premises id the operator is scoped to; defaults to the (single) root group.
        #[arg(long)]
        scope: Option<String>,
        /// Read the password from the first line of standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
        /// Name of the root group created on an empty installation (default "Voltvend"); refused once one
        /// exists.
        #[arg(long, conflicts_with = "scope")]
        organisation: Option<String>,
        /// IANA time zone of that root group (default UTC); refused once one exists.
        #[arg(long, conflicts_with = "scope")]
        time_zone: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Verify the whole audit chain and print its head. With --expect-head, also check that the chain still
    /// holds a head recorded earlier (from the server's log or an earlier run): history before it is unchanged.
    Verify {
        /// A head as printed before: SEQ:HASH.
        #[arg(long, value_name = "SEQ:HASH")]
        expect_head: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the documented configuration file with every default.
    PrintDefault,
    /// Print the effective configuration after files, environment and flags.
    Show,
}

pub fn main() -> ExitCode {
    crate::redact::register_environment();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version are not errors; usage errors exit 2 with clap's message.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let message = crate::redact::scrub(&format!("{e:#}").replace('\n', " "));
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Config(ConfigCommand::PrintDefault) => {
            print!("{}", default_toml());
            return Ok(());
        }
        Command::Keys(KeysCommand::Generate { out }) => {
            let ids = IdGenerator::new(Arc::new(SystemClock));
            let id = crate::keys::generate_file(&out, &ids)?;
            println!("wrote a new master key to {} (key id {id}); keep a copy apart from the backups", out.display());
            return Ok(());
        }
        Command::Card(command) => {
            // A card needs no configuration or database; its I/O blocks, off the runtime's threads.
            return tokio::task::spawn_blocking(move || crate::card_cli::run(command)).await?;
        }
        Command::Token(command) => {
            // Tokens need no configuration or database; only the clock and a random source.
            let clock: Arc<dyn Clock> = Arc::new(SystemClock);
            let ids = IdGenerator::new(clock.clone());
            return crate::token_cli::run(command, clock.now(), &ids);
        }
        _ => {}
    }
    let listen = match &cli.command {
        Command::Serve(a) | Command::Demo(DemoArgs { listen: a, .. }) => a.listen.clone(),
        _ => None,
    };
    let overrides = Overrides { database_url: cli.database_url.clone(), listen };
    let settings = Settings::load(cli.config.as_deref(), &overrides)?;
    crate::redact::register_settings(&settings);
    init_logging(&settings);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match cli.command {
        Command::Config(ConfigCommand::PrintDefault) => Ok(()),
        Command::Config(ConfigCommand::Show) => {
            // Secrets are hidden: this output goes into tickets and chat.
            let shown = crate::redact::shown_settings(&settings);
            print!("{}", toml::to_string_pretty(&shown).context("cannot print configuration")?);
            Ok(())
        }
        Command::Serve(_) => {
            // The port first: a port in use must fail before a database is created or migrated.
            let listener = crate::serve::bind(&settings).await?;
            let store = crate::serve::open_store(&settings, clock.clone(), Access::Create).await?;
            let addr = listener.local_addr()?;
            let database = voltvend_store::redact_url(&settings.database.url);
            let ready = move || {
                tracing::info!(%addr, %database, "serving");
                println!("listening on http://{addr}");
            };
            crate::serve::run(&settings, store, clock, listener, crate::serve::shutdown_signal(), ready).await
        }
        Command::Demo(DemoArgs { keep, .. }) => {
            if keep && cli.database_url.is_some() {
                bail!("--keep is for the demo's temporary database; one given with --database-url is always kept");
            }
            crate::demo::run(settings, clock, cli.database_url.is_some(), keep).await
        }
        Command::Migrate => {
            let spinner = spinner("applying migrations");
            let store = voltvend_store::open(&settings.open_options().creating(), clock).await?;
            // Never under a running server: it would go on with the schema it started with.
            let result = async {
                let lock = crate::serve::lock_for_writing(store.as_ref()).await?;
                let migrated = async {
                    let pending = store.pending_migrations().await?;
                    store.migrate().await?;
                    anyhow::Ok(pending)
                }
                .await;
                lock.release().await;
                migrated
            }
            .await;
            store.close().await;
            spinner.finish_and_clear();
            let database = voltvend_store::redact_url(&settings.database.url);
            let applied = result?;
            if applied.is_empty() {
                println!("{database}: the schema was already up to date; nothing to apply");
            } else {
                println!(
                    "{database}: applied the schema migrations {}; the database is up to date",
                    applied.join(", ")
                );
            }
            Ok(())
        }
        Command::User(UserCommand::Add {
            username,
            role,
            display_name,
            scope,
            password_stdin,
            organisation,
            time_zone,
        }) => {
            let args = AddUser { username, role, display_name, scope, password_stdin, organisation, time_zone };
            add_user(&settings, clock, args).await
        }
        Command::Backup { to } => {
            let store = voltvend_store::open(&settings.open_options(), clock.clone()).await?;
            let stamp = clock.now().strftime("%Y%m%dT%H%M%SZ").to_string();
            let spinner = spinner("writing backup");
            let result = store.backup_to(&to, &stamp).await;
            store.close().await;
            spinner.finish_and_clear();
            let file = result?;
            println!("backup written to {}", file.display());
            Ok(())
        }
        Command::Restore { list: true, dir, .. } => {
            let dir = match dir {
                Some(d) => d,
                None if !settings.backup.dir.trim().is_empty() => PathBuf::from(&settings.backup.dir),
                None => anyhow::bail!("no backup directory: set backup.dir or give --dir"),
            };
            let entries = crate::backups::list(&dir)?;
            if entries.is_empty() {
                println!("no backups in {}", dir.display());
            }
            for e in entries {
                let name = e.file.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
                let verdict = match &e.verification {
                    Some(v) if v.ok => format!("verified {}", v.verified_at),
                    Some(v) => format!("FAILED verification {}: {}", v.verified_at, v.detail),
                    None => "not verified".to_string(),
                };
                println!("{name}  {}  {} bytes  {verdict}", e.taken_at, e.bytes);
            }
            Ok(())
        }
        Command::Restore { from, force, .. } => {
            let from = from.context("give --from FILE")?;
            let spinner = spinner("verifying and restoring");
            let result = voltvend_store::backup::restore(&from, &settings.database.url, force, clock).await;
            spinner.finish_and_clear();
            let report = result?;
            println!(
                "restored into {}: {} ledger accounts, {} transfers, {} entries, {} sales, {} audit records; \
                 every invariant holds",
                report.restored_to,
                report.check.accounts,
                report.check.transfers,
                report.check.entries,
                report.check.sales,
                report.check.audit_records
            );
            Ok(())
        }
        Command::Check { bounded, settle_properties } => {
            if settle_properties {
                settle_properties_books(&settings, clock.clone()).await?;
            }
            check(&settings, clock, bounded).await
        }
        Command::Audit(AuditCommand::Verify { expect_head }) => audit_verify(&settings, clock, expect_head).await,
        Command::Bench(command) => crate::bench::run(&settings, clock, command).await,
        Command::Token(_) | Command::Keys(_) | Command::Card(_) => Ok(()),
        Command::Simulate(args) => crate::simulate::run(args, clock).await,
        Command::Tariff(command) => crate::tariff_cli::run(&settings, clock, command).await,
    }
}

fn init_logging(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour only on a terminal: logs written to a file or a pipe carry no escape codes.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = if settings.log.format == "json" { builder.json().try_init() } else { builder.try_init() };
}

/// A spinner on stderr, shown only on a terminal.
pub fn spinner(message: &str) -> ProgressBar {
    let bar = if std::io::stderr().is_terminal() { ProgressBar::new_spinner() } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(message.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// The root group an empty installation gets when `user add` is not told otherwise.
const DEFAULT_ORGANISATION: &str = "Voltvend";
const DEFAULT_TIME_ZONE: &str = "UTC";

struct AddUser {
    username: String,
    role: String,
    display_name: Option<String>,
    scope: Option<String>,
    password_stdin: bool,
    organisation: Option<String>,
    time_zone: Option<String>,
}

async fn add_user(settings: &Settings, clock: Arc<dyn Clock>, args: AddUser) -> anyhow::Result<()> {
    if Operator::validate_username(&args.username).is_err() {
        let lower = args.username.to_lowercase();
        if lower != args.username && Operator::validate_username(&lower).is_ok() {
            bail!("--username {:?}: usernames are lowercase; use {lower:?}", args.username);
        }
        bail!("--username {:?}: a username is 2–64 of a-z, 0-9, '.', '_' and '-'", args.username);
    }
    let role: BuiltinRole = args.role.parse()?;
    let ids = IdGenerator::new(clock.clone());
    let store = crate::serve::open_store(settings, clock, Access::Existing).await?;
    let result = async {
        let lock = crate::serve::lock_for_writing(store.as_ref()).await?;
        let outcome = async {
            if store.operator_by_username(&args.username).await?.is_some() {
                bail!("operator {:?} already exists", args.username);
            }
            // Read before anything is written, so that a failure here leaves the installation as it was.
            let (password, generated) = read_password(args.password_stdin, &ids)?;
            let scope = match &args.scope {
                Some(s) => {
                    let id: PremisesId =
                        s.parse().map_err(|_| anyhow::anyhow!("--scope {s:?} is not a premises id"))?;
                    store.premises(id).await?.id
                }
                None => {
                    let roots = store.premises_roots().await?;
                    match roots.as_slice() {
                        [] => {
                            let root = Premises::new_root(
                                ids.id(),
                                args.organisation.as_deref().unwrap_or(DEFAULT_ORGANISATION),
                                args.time_zone.as_deref().unwrap_or(DEFAULT_TIME_ZONE),
                            )?;
                            store.run(ids.id(), "cli", voltvend_ops::Command::CreatePremises(root.clone())).await?;
                            println!("created root group {:?} ({})", root.name, root.id);
                            root.id
                        }
                        [only] => {
                            // These describe the root group made on an empty installation; taking them and
                            // doing nothing would leave the operator believing the group was set up so.
                            if args.organisation.is_some() || args.time_zone.is_some() {
                                bail!(
                                    "--organisation and --time-zone set up the root group of an empty installation; \
                                     {:?} ({}) exists already — leave them out",
                                    only.name,
                                    only.time_zone
                                );
                            }
                            only.id
                        }
                        _ => bail!("several root groups exist; pass --scope PREMISES_ID"),
                    }
                }
            };
            let display_name = args.display_name.clone().unwrap_or_else(|| args.username.clone());
            let operator = Operator::new(
                ids.id::<OperatorId>(),
                &args.username,
                &display_name,
                role.as_str(),
                scope,
                &crate::passwords::hash(&password, &ids)?,
            );
            store.run(ids.id(), "cli", voltvend_ops::Command::AddOperator(operator.clone())).await?;
            println!("added {} {:?}", operator.role, operator.username);
            if generated {
                println!("generated password (shown once): {password}");
            }
            Ok(())
        }
        .await;
        lock.release().await;
        outcome
    }
    .await;
    store.close().await;
    result
}

/// Records each set of books' difference as owed between the properties (ADR 0007, docs/operators/upgrade.md):
/// one transfer per currency between the inter-property accounts alone — the one transfer posted as it is —
/// crediting the books whose debits exceed and debiting those whose credits exceed. It balances every property's
/// books, and the ledger (which sums to zero) makes the differences sum to zero.
async fn settle_properties_books(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<()> {
    use voltvend_domain::{LedgerAccountId, Posting, Side, TransferId, TransferKind, TransferRequest};
    let store = crate::serve::open_store(settings, clock.clone(), Access::Existing).await?;
    let result = async {
        let imbalances = store.property_imbalances().await?;
        let ids = IdGenerator::new(clock);
        let mut currencies: Vec<&str> = imbalances.iter().map(|x| x.currency.as_str()).collect();
        currencies.sort_unstable();
        currencies.dedup();
        for code in currencies {
            let mut postings = Vec::new();
            for x in imbalances.iter().filter(|x| x.currency == code) {
                let books = x.books.with_context(|| {
                    format!(
                        "the books of {} in {code} are out of balance and no books are kept there to record it",
                        x.property
                    )
                })?;
                let net = x.debits_minor - x.credits_minor;
                let side = if net > 0 { Side::Credit } else { Side::Debit };
                let account = LedgerAccountId::from_uuid(books.as_uuid());
                postings.push(Posting { account, side, amount_minor: net.saturating_abs() });
            }
            let currency: voltvend_domain::Currency = code.parse().map_err(|_| anyhow::anyhow!("currency {code}"))?;
            let id = ids.uuid();
            let request = TransferRequest {
                id: TransferId::from_uuid(id),
                kind: TransferKind::Adjustment,
                currency,
                postings,
                corrects: None,
                memo: "differences between properties' books from before inter-property accounts, recorded as owed"
                    .into(),
            };
            let op = voltvend_ops::Operation::new(
                voltvend_domain::OperationId::from_uuid(id),
                voltvend_ops::Actor::system("settle-properties"),
                voltvend_ops::Command::PostTransfer(request),
            );
            store.submit(op).await.with_context(|| format!("recording the differences in {code}"))?;
            println!("recorded the differences between properties' books in {code} as owed between them");
        }
        anyhow::Ok(())
    }
    .await;
    store.close().await;
    result
}

async fn check(settings: &Settings, clock: Arc<dyn Clock>, bounded: bool) -> anyhow::Result<()> {
    let store = crate::serve::open_store(settings, clock, Access::Existing).await?;
    let scope = if bounded {
        voltvend_store::CheckScope::Bounded { audit_tail: crate::serve::STARTUP_AUDIT_TAIL }
    } else {
        voltvend_store::CheckScope::Full
    };
    let spinner = spinner("checking");
    let result = store.check(scope).await;
    spinner.finish_and_clear();
    store.close().await;
    let report = result?;
    for p in &report.problems {
        println!("problem: {p}");
    }
    for w in &report.warnings {
        println!("warning: {w}");
    }
    if !report.is_ok() {
        bail!("{} problem(s) found", report.problems.len());
    }
    if bounded {
        println!("ok: the start-up check passes (sums, receipt counters, the end of the audit chain)");
        return Ok(());
    }
    println!(
        "ok: {} ledger accounts, {} transfers, {} entries, {} sales, {} audit records; every invariant holds",
        report.accounts, report.transfers, report.entries, report.sales, report.audit_records
    );
    Ok(())
}

async fn audit_verify(settings: &Settings, clock: Arc<dyn Clock>, expect_head: Option<String>) -> anyhow::Result<()> {
    use voltvend_ops::audit;
    let expected = match &expect_head {
        Some(s) => {
            let (seq, hash) = s.split_once(':').context("--expect-head is SEQ:HASH, as `audit verify` prints it")?;
            let seq: i64 = seq.parse().context("--expect-head: SEQ is a number")?;
            Some((seq, audit::parse_hex(hash).context("--expect-head: HASH is 64 hex digits")?))
        }
        None => None,
    };
    let store = crate::serve::open_store(settings, clock, Access::Existing).await?;
    let result = store.verify_audit(expected.map(|(seq, hash)| voltvend_ops::AuditHead { seq, hash })).await;
    store.close().await;
    let (problems, head) = result?;
    for p in &problems {
        println!("problem: {p}");
    }
    if !problems.is_empty() {
        bail!("the audit trail fails verification ({} problem(s))", problems.len());
    }
    println!("audit trail intact: {} records; head {}:{}", head.seq, head.seq, audit::hex(&head.hash));
    Ok(())
}

/// The password from stdin, from a prompt on a terminal, or generated (and then printed once).
fn read_password(from_stdin: bool, ids: &IdGenerator) -> anyhow::Result<(String, bool)> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("cannot read the password from stdin")?;
        let password = line.trim_end_matches(['\r', '\n']).to_string();
        return Ok((password, false));
    }
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("password: ").context("cannot read the password")?;
        let second = rpassword::prompt_password("again: ").context("cannot read the password")?;
        if first != second {
            bail!("the passwords differ");
        }
        return Ok((first, false));
    }
    let _ = std::io::stdout().flush();
    Ok((crate::passwords::generate(ids), true))
}
