//! The frame every page is drawn in — title, company, language switch, the dashboards the
//! reader sees, the signed-in account and its anti-CSRF token, the workspace's errors — and
//! `render`, a template answered with its status. Part of the server's shared core.

use askama::Template;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use tablero_model::{Diagnostic, Locale};

use crate::access::View;
use crate::auth::Caller;
use crate::error::AppError;
use crate::i18n::{Texts, texts};
use crate::query::PageQuery;
use crate::state::Loaded;

/// What every page's frame shows.
pub struct Frame {
    pub t: &'static Texts,
    pub title: String,
    pub company: String,
    pub lang_link: String,
    pub carry: String,
    pub query: PageQuery,
    pub errors: Vec<String>,
    pub dashboards: Vec<(String, String)>,
    pub grain_options: Vec<(String, String, bool)>,
    pub problem: Option<String>,
    /// The signed-in account, for the header (none when the workspace has no accounts).
    pub account: Option<AccountBar>,
    /// The page is seen through a share link: no navigation, pickers, downloads or links.
    pub shared: bool,
}

/// Who is signed in: shown in the header with the sign-out button.
pub struct AccountBar {
    pub email: String,
    pub role: &'static str,
    /// For an editor limited to some owners: those owners.
    pub edits: String,
    pub csrf: String,
}

pub(crate) fn frame(
    state_errors: &[Diagnostic],
    loaded: &Loaded,
    caller: &Caller,
    query: &PageQuery,
    title: String,
) -> (Frame, Locale) {
    let workspace = loaded.engine.workspace();
    let (t, locale) = texts(query.lang.as_deref(), workspace.settings.locale);
    let grain = query.grain.clone().unwrap_or_default();
    let mut grain_options = vec![(String::new(), "—".to_string(), grain.is_empty())];
    grain_options.extend(
        t.grains
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string(), grain == *k)),
    );
    let frame = Frame {
        t,
        title,
        company: workspace.settings.name.clone(),
        lang_link: query.with_lang(t.other_lang),
        carry: query.carry(),
        query: query.clone(),
        errors: state_errors.iter().map(|d| d.to_string()).collect(),
        dashboards: View::new(caller, loaded)
            .dashboards()
            .into_iter()
            .map(|d| (d.id.clone(), d.title.clone()))
            .collect(),
        grain_options,
        problem: None,
        account: caller.visitor.principal().map(|p| AccountBar {
            email: p.email.clone(),
            role: p.role.as_str(),
            edits: match (p.role, p.owners()) {
                (tablero_access::Role::Editor, Some(owners)) => {
                    owners.iter().cloned().collect::<Vec<_>>().join(", ")
                }
                _ => String::new(),
            },
            csrf: caller.csrf.clone().unwrap_or_default(),
        }),
        shared: false,
    };
    (frame, locale)
}

impl Frame {
    /// Seen through a share link: nothing but the page itself — no navigation, account,
    /// workspace errors or links carried to other pages.
    pub(crate) fn share(&mut self) {
        self.shared = true;
        self.account = None;
        self.dashboards.clear();
        self.errors.clear();
        self.carry.clear();
    }
}

/// `template` rendered, answered with `status`.
pub(crate) fn render(status: StatusCode, template: impl Template) -> Result<Response, AppError> {
    let html = template.render().map_err(AppError::internal)?;
    Ok((status, Html(html)).into_response())
}

/// Static files, embedded in the binary.
pub async fn asset(Path(name): Path<String>) -> Response {
    let (body, kind): (&'static str, &str) = match name.as_str() {
        "app.css" => (include_str!("../assets/app.css"), "text/css; charset=utf-8"),
        "app.js" => (
            include_str!("../assets/app.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return AppError::not_found(format!("no asset `{name}`")).into_response(),
    };
    (
        [
            (axum::http::header::CONTENT_TYPE, kind),
            (axum::http::header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
