//! `tablero users …` and `tablero tokens …` (SPEC §13): accounts and API tokens in the
//! workspace's state database, and the `check` warning for owners nobody edits.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::Path;

use clap::{Subcommand, ValueEnum};
use tablero_access::{AccessError, Role};
use tablero_model::{Diagnostic, Workspace};
use tablero_state::{StateDb, StateError};

use crate::{EXIT_INTERNAL, EXIT_USAGE, EXIT_USER, Failure};

/// Exit status for bad usage (as clap's).

#[derive(Subcommand, Debug)]
pub enum UsersAction {
    /// Create an account (asks for its password on the terminal, or reads --password-stdin).
    Add {
        email: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The owners whose KPIs it sees (an editor also edits them), comma-separated, as
        /// written in the KPIs' `owner:`; default: every owner.
        #[arg(long)]
        owners: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Every account: role, owners, status.
    List,
    /// Change an account's role or owners: the change applies at once and its sessions end.
    Set {
        email: String,
        #[arg(long, value_enum)]
        role: Option<RoleArg>,
        /// The owners whose KPIs it sees (an editor also edits them), comma-separated.
        #[arg(long, conflicts_with = "every_owner")]
        owners: Option<String>,
        /// It sees every owner's KPIs again.
        #[arg(long)]
        every_owner: bool,
    },
    /// Disable an account: its sessions end and its tokens stop working at once.
    Disable { email: String },
    /// Set a new password (its sessions end).
    Passwd {
        email: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokensAction {
    /// Create an API token for an account; it is printed once, only its hash is kept.
    Create {
        email: String,
        /// What the token is for, e.g. "ingest from the CRM".
        #[arg(long)]
        name: String,
    },
    /// The tokens of every account, or of one.
    List { email: Option<String> },
    /// Revoke an account's token by name or id; it stops working at once.
    Revoke { email: String, token: String },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RoleArg {
    Admin,
    Editor,
    Viewer,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Role {
        match role {
            RoleArg::Admin => Role::Admin,
            RoleArg::Editor => Role::Editor,
            RoleArg::Viewer => Role::Viewer,
        }
    }
}

impl From<AccessError> for Failure {
    fn from(err: AccessError) -> Failure {
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

impl From<StateError> for Failure {
    fn from(err: StateError) -> Failure {
        AccessError::from(err).into()
    }
}

/// Opens the workspace's state database (creating and migrating it when needed).
async fn open(root: &Path) -> Result<StateDb, Failure> {
    crate::open_state(root).await
}

pub async fn users(root: &Path, action: UsersAction) -> Result<(), Failure> {
    let db = open(root).await?;
    match action {
        UsersAction::Add {
            email,
            role,
            owners,
            password_stdin,
        } => {
            let owners = owners_of(root, owners.as_deref())?;
            let password = read_password(&email, password_stdin, true)?;
            let account =
                tablero_access::add_account(&db, &email, role.into(), &owners, password).await?;
            out!(
                "added {} ({}{})",
                account.email,
                account.role.as_str(),
                if owners.is_empty() {
                    String::new()
                } else {
                    format!(" of {}", owners.join(", "))
                }
            );
        }
        UsersAction::List => {
            let accounts = db.accounts().await?;
            if accounts.is_empty() {
                out!("no accounts: the server stays on loopback and asks nobody to sign in");
            }
            let width = accounts.iter().map(|a| a.email.len()).max().unwrap_or(5);
            for a in accounts {
                out!(
                    "{:width$}  {:6}  {:8}  {}",
                    a.email,
                    a.role.as_str(),
                    if a.is_disabled() {
                        "disabled"
                    } else {
                        "active"
                    },
                    if a.owners.is_empty() {
                        "every owner".to_string()
                    } else {
                        a.owners.join(", ")
                    }
                );
            }
        }
        UsersAction::Set {
            email,
            role,
            owners,
            every_owner,
        } => {
            if role.is_none() && owners.is_none() && !every_owner {
                return Err(Failure {
                    code: EXIT_USAGE,
                    message: "say what changes: --role, --owners or --every-owner".into(),
                });
            }
            let email = tablero_access::normalize_email(&email)?;
            let owners = match owners {
                Some(text) => Some(owners_of(root, Some(&text))?),
                None if every_owner => Some(Vec::new()),
                None => None,
            };
            let account = db
                .update_account(&email, role.map(Role::from), owners.as_deref())
                .await?;
            out!(
                "changed {}: {} of {}; its sessions ended",
                account.email,
                account.role.as_str(),
                if account.owners.is_empty() {
                    "every owner".to_string()
                } else {
                    account.owners.join(", ")
                }
            );
        }
        UsersAction::Disable { email } => {
            let email = tablero_access::normalize_email(&email)?;
            if db.disable_account(&email).await? {
                out!("disabled {email}: its sessions ended and its tokens no longer work");
            } else {
                out!("{email} was disabled already");
            }
        }
        UsersAction::Passwd {
            email,
            password_stdin,
        } => {
            let password = read_password(&email, password_stdin, true)?;
            tablero_access::set_password(&db, &email, password).await?;
            out!("new password set for {email}; its sessions ended");
        }
    }
    db.close().await;
    Ok(())
}

pub async fn tokens(root: &Path, action: TokensAction) -> Result<(), Failure> {
    let db = open(root).await?;
    match action {
        TokensAction::Create { email, name } => {
            let issued = tablero_access::create_token(&db, &email, &name).await?;
            eprintln!(
                "token {} (`{}`) for {}: it is shown only now; keep it secret",
                issued.id,
                name.trim(),
                email.trim().to_lowercase()
            );
            out!("{}", issued.secret);
        }
        TokensAction::List { email } => {
            let email = match email {
                Some(e) => Some(tablero_access::normalize_email(&e)?),
                None => None,
            };
            for t in db.tokens(email.as_deref()).await? {
                out!(
                    "{}  {}  {}  {}",
                    t.id,
                    t.email,
                    t.name,
                    match (t.revoked_at, t.last_used_at) {
                        (Some(at), _) => format!("revoked {}", date(at)),
                        (None, Some(at)) => format!("last used {}", date(at)),
                        (None, None) => "never used".into(),
                    }
                );
            }
        }
        TokensAction::Revoke { email, token } => {
            let email = tablero_access::normalize_email(&email)?;
            let revoked = db.revoke_token(&email, &token).await?;
            out!(
                "revoked token {} (`{}`) of {email}",
                revoked.id,
                revoked.name
            );
        }
    }
    db.close().await;
    Ok(())
}

fn date(unix: i64) -> String {
    jiff::Timestamp::from_second(unix)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// The owners named by `--owners`, each checked against the catalog's KPI owners.
fn owners_of(root: &Path, text: Option<&str>) -> Result<Vec<String>, Failure> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    let (workspace, _) = tablero_model::load_workspace(root);
    let known: BTreeSet<String> = catalog_owners(&workspace);
    let mut owners = Vec::new();
    for owner in text.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        if !known.contains(owner) {
            return Err(Failure {
                code: EXIT_USER,
                message: format!(
                    "--owners: `{owner}` owns no KPI in {}; the owners are: {}",
                    root.display(),
                    known.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            });
        }
        if !owners.iter().any(|o| o == owner) {
            owners.push(owner.to_string());
        }
    }
    if owners.is_empty() {
        return Err(Failure {
            code: EXIT_USAGE,
            message: "--owners names no owner; leave it out for every owner".into(),
        });
    }
    Ok(owners)
}

fn catalog_owners(workspace: &Workspace) -> BTreeSet<String> {
    workspace
        .kpis
        .iter()
        .filter_map(|k| k.owner.as_ref().map(|o| o.value.clone()))
        .collect()
}

/// A new password: the first line of standard input with `--password-stdin`, else asked
/// twice on the terminal.
fn read_password(email: &str, from_stdin: bool, confirm: bool) -> Result<String, Failure> {
    let failed = |e: std::io::Error| Failure {
        code: EXIT_USER,
        message: format!("cannot read the password: {e}"),
    };
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map_err(failed)?;
        let password = line.trim_end_matches(['\n', '\r']).to_string();
        if password.is_empty() {
            return Err(Failure {
                code: EXIT_USER,
                message: "--password-stdin: standard input has no password".into(),
            });
        }
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure {
            code: EXIT_USAGE,
            message: "no terminal to ask for the password; pass it on standard input with --password-stdin".into(),
        });
    }
    let password = rpassword::prompt_password(format!("Password for {email}: ")).map_err(failed)?;
    if confirm {
        let again = rpassword::prompt_password("Again: ").map_err(failed)?;
        if again != password {
            return Err(Failure {
                code: EXIT_USER,
                message: "the two passwords differ; nothing changed".into(),
            });
        }
    }
    Ok(password)
}

/// `check`'s warnings about people: once accounts exist, an owner of KPIs that no editor
/// covers (nobody can record those KPIs' reviews), and a report's address that is no active
/// account (it gets nothing, SPEC §13). Without a state database, nothing.
pub async fn account_warnings(root: &Path, workspace: &Workspace) -> Vec<Diagnostic> {
    let setting = tablero_model::load::state_setting(root).ok().flatten();
    if setting.is_none() && !root.join("data").join("tablero.db").is_file() {
        return Vec::new();
    }
    let Ok(db) = tablero_state::StateDb::open_workspace(root).await else {
        return vec![Diagnostic::warning(
            None,
            "the state database cannot be opened; accounts were not checked",
        )];
    };
    let accounts = db.accounts().await.unwrap_or_default();
    db.close().await;
    let editors: Vec<_> = accounts
        .iter()
        .filter(|a| a.role == Role::Editor && !a.is_disabled())
        .collect();
    if accounts.is_empty() {
        return Vec::new();
    }
    let mut warned = BTreeSet::new();
    let mut warnings = Vec::new();
    for kpi in &workspace.kpis {
        let Some(owner) = &kpi.owner else { continue };
        let covered = editors
            .iter()
            .any(|e| e.owners.is_empty() || e.owners.contains(&owner.value));
        if !covered && warned.insert(owner.value.clone()) {
            warnings.push(Diagnostic::warning(
                Some(owner.location.clone()),
                format!(
                    "owner `{}` has no editor: nobody can record its KPIs' reviews (tablero users add EMAIL --role editor --owners \"{}\")",
                    owner.value, owner.value
                ),
            ));
        }
    }
    for report in &workspace.reports {
        for address in &report.to {
            let email = tablero_access::normalize_email(&address.value)
                .unwrap_or_else(|_| address.value.clone());
            let active = accounts
                .iter()
                .any(|a| a.email == email && !a.is_disabled());
            if !active {
                warnings.push(Diagnostic::warning(
                    Some(address.location.clone()),
                    format!(
                        "report `{}`: `{}` is no active account, so it gets nothing (each address gets the dashboard as its account sees it)",
                        report.id.value, address.value
                    ),
                ));
            }
        }
    }
    warnings
}
