//! The JSON API under `/api/v1` (SPEC §7), documented by an OpenAPI 3.1 document generated
//! from these handlers, so routes and document cannot drift apart.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::{Extension, Json};
use serde::Serialize;
use tablero_engine::Request;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{KpiDefinition, View};
use crate::auth::Caller;
use crate::error::{AppError, Code, ErrorBody};
use crate::query::{ValuesQuery, loaded};
use crate::state::AppState;
use tablero_wire::{KpiValues, kpi_values};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tablero API",
        description = "KPIs computed per period and dimension, with targets and status."
    ),
    components(schemas(ErrorBody))
)]
pub struct ApiDoc;

/// The KPI API's own routes (catalog, values, health, pushed rows) with their document; each
/// other feature adds its routes in `app`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(list_kpis))
        .routes(routes!(get_kpi))
        .routes(routes!(kpi_values_handler))
        .routes(routes!(health))
        .routes(routes!(ingest_rows))
}

#[derive(Serialize, ToSchema)]
pub struct KpiList {
    pub kpis: Vec<KpiDefinition>,
}

#[derive(Serialize, ToSchema)]
pub struct KpiDetail {
    #[serde(flatten)]
    pub definition: KpiDefinition,
    /// SMART lint warnings for this KPI.
    pub lint: Vec<String>,
    /// The SQL the KPI compiles to for its default range.
    pub sql: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `degraded` when the files on disk have errors and the last good catalog is served.
    pub status: String,
    pub kpis: usize,
    pub errors: Vec<String>,
}

/// Every KPI of the catalog the caller may see.
#[utoipa::path(get, path = "/kpis", tag = "kpis",
    responses((status = 200, body = KpiList), (status = 401, body = ErrorBody, description = "Accounts exist and no valid token was sent"),
        (status = 503, body = ErrorBody, description = "The workspace does not check")))]
async fn list_kpis(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<KpiList>, AppError> {
    let loaded = loaded(&state).await?;
    let view = View::new(&caller, &loaded);
    let kpis = view.kpis().map(|k| view.definition(k)).collect();
    Ok(Json(KpiList { kpis }))
}

/// One KPI's definition, SMART lint and SQL.
#[utoipa::path(get, path = "/kpis/{id}", tag = "kpis",
    params(("id" = String, Path, description = "KPI id")),
    responses((status = 200, body = KpiDetail), (status = 404, body = ErrorBody)))]
async fn get_kpi(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<KpiDetail>, AppError> {
    let loaded = loaded(&state).await?;
    let view = View::new(&caller, &loaded);
    let kpi = view.kpi(&id)?;
    let lint = loaded.lint_for(&id);
    let sql = if view.hides_a_dependency(&id) {
        None
    } else {
        let engine = loaded.engine.clone();
        let explained = id.clone();
        state
            .run(async move { engine.explain(&explained, &Request::default()).await })
            .await
            .ok()
            .and_then(|e| e.sql.ok())
    };
    Ok(Json(KpiDetail {
        definition: view.definition(kpi),
        lint,
        sql,
    }))
}

/// A KPI's values per period (and dimension value), with target and status.
#[utoipa::path(get, path = "/kpis/{id}/values", tag = "kpis",
    params(("id" = String, Path, description = "KPI id"), ValuesQuery),
    responses((status = 200, description = "JSON, or with `Accept: text/csv` the CSV `kpi,period,<dim>,value,target,status`", content((KpiValues = "application/json"), (String = "text/csv"))), (status = 400, body = ErrorBody, description = "A parameter is invalid or asks for too much; the message names it"),
        (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "The server is busy with other computations, or the workspace does not check"),
        (status = 504, body = ErrorBody, description = "The computation ran past the server's deadline and was stopped")))]
async fn kpi_values_handler(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(query): Query<ValuesQuery>,
    headers: HeaderMap,
) -> Result<axum::response::Response, AppError> {
    use axum::response::IntoResponse;
    let loaded = loaded(&state).await?;
    let kpi = View::new(&caller, &loaded).kpi(&id)?;
    let wants_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"));
    let request = query.request(&loaded, vec![id])?;
    let computed = state
        .computed(&loaded, &request)
        .await
        .map_err(AppError::from_compute)?;
    let result = computed
        .results
        .first()
        .ok_or_else(|| AppError::internal("no result"))?;
    let calendar = loaded.engine.calendar();
    let computed_at = calendar.format_instant(computed.at);
    let mut response = if wants_csv {
        crate::downloads::values_csv(kpi, result)?
    } else {
        let mut values = kpi_values(result, calendar);
        if result.by.is_none() {
            values.latest = tablero_wire::latest(result);
        }
        values.computed_at = Some(computed_at.clone());
        values.computation_ms = Some(computed.took.as_millis().try_into().unwrap_or(u64::MAX));
        Json(values).into_response()
    };
    // Also for CSV, which has no place for it.
    if let Ok(value) = header::HeaderValue::from_str(&computed_at) {
        response.headers_mut().insert("x-computed-at", value);
    }
    Ok(response)
}

/// Whether the server and its workspace are well.
#[utoipa::path(get, path = "/health", tag = "server", responses((status = 200, body = Health)))]
async fn health(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Json<Health> {
    let snapshot = state.snapshot().await;
    if caller.visitor.is_anonymous() {
        // Nobody signed in: whether the server is up, and nothing about the catalog.
        let status = if snapshot.errors.is_empty() {
            "ok"
        } else {
            "degraded"
        };
        return Json(Health {
            status: status.into(),
            kpis: 0,
            errors: Vec::new(),
        });
    }
    let kpis = snapshot
        .loaded
        .as_ref()
        .map(|l| l.engine.workspace().kpis.len())
        .unwrap_or(0);
    let status = if snapshot.errors.is_empty() {
        "ok"
    } else {
        "degraded"
    };
    Json(Health {
        status: status.into(),
        kpis,
        errors: snapshot.errors.iter().map(|d| d.to_string()).collect(),
    })
}

/// The outcome of a batch pushed to a store source.
#[derive(Serialize, ToSchema)]
pub struct Ingested {
    pub source: String,
    /// Rows stored by this request (0 when its idempotency key had been committed before).
    pub rows: usize,
    /// The table version that holds the batch (the current version for a repeated key).
    pub version: Option<u64>,
    /// The idempotency key had been committed before: nothing was stored.
    pub duplicate: bool,
}

/// Appends rows to a store source as one batch: every row is checked against the source's
/// columns, and one bad row rejects the whole batch with nothing stored.
#[utoipa::path(post, path = "/sources/{name}/rows", tag = "store",
    params(
        ("name" = String, Path, description = "A source with `store: true`"),
        ("Idempotency-Key" = Option<String>, Header, description = "A batch whose key was committed before is acknowledged and stores nothing"),
    ),
    request_body(description = "Rows as CSV (header naming every column), NDJSON (one object per line) or a JSON array of objects",
        content(
            (String = "text/csv"),
            (String = "application/x-ndjson"),
            (Vec<serde_json::Value> = "application/json"),
        )),
    responses(
        (status = 201, body = Ingested, description = "The batch is stored and durable"),
        (status = 200, body = Ingested, description = "The idempotency key was committed before, or the batch had no rows: nothing stored"),
        (status = 400, body = ErrorBody, description = "A row does not fit the source; the message names row and column"),
        (status = 404, body = ErrorBody, description = "No store source of that name"),
        (status = 401, body = ErrorBody, description = "Accounts exist and no valid token was sent"),
        (status = 403, body = ErrorBody, description = "The account is a viewer (`forbidden`), or a session cookie came without its X-CSRF-Token (`csrf`)"),
        (status = 413, description = "The body is larger than the server accepts"),
        (status = 409, body = ErrorBody, description = "The source's declared columns no longer match its stored table (`table_mismatch`), or the Idempotency-Key was used before for a different body (`idempotency_conflict`): nothing stored"),
        (status = 503, body = ErrorBody, description = "The disk refused the write (`storage_failure`, e.g. full; the message says whether the batch was stored) or the table is damaged"),
        (status = 415, body = ErrorBody, description = "Not CSV, NDJSON or JSON"),
        (status = 503, body = ErrorBody, description = "The table is damaged for writing, or other batches are being stored"),
    ))]
async fn ingest_rows(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<(StatusCode, Json<Ingested>), AppError> {
    let loaded = loaded(&state).await?;
    let view = View::new(&caller, &loaded);
    if !view.pushes_rows() {
        return Err(AppError {
            status: StatusCode::FORBIDDEN,
            code: Code::Forbidden,
            message: "pushing rows needs an editor's or an admin's token".into(),
        });
    }
    let workspace = loaded.engine.workspace();
    let source = workspace
        .source(&name)
        .filter(|s| s.data == tablero_model::SourceData::Store)
        .ok_or_else(|| AppError::not_found(format!("no store source named `{name}`")))?;
    if !view.writes_source(source) {
        return Err(AppError {
            status: StatusCode::FORBIDDEN,
            code: Code::Forbidden,
            message: format!(
                "pushing rows to `{name}` needs an admin's token or an editor's of its owner (the source's `owner:`, or every owner of the KPIs that read it)"
            ),
        });
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let format = tablero_store::rows::Format::from_content_type(content_type).ok_or_else(|| {
        AppError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: Code::UnsupportedMediaType,
            message: format!(
                "Content-Type `{content_type}`: expected text/csv, application/x-ndjson or application/json"
            ),
        }
    })?;
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(value) => Some(value.to_str().map_err(|_| {
            AppError::bad_parameter("Idempotency-Key", "must be visible ASCII characters")
        })?),
    };
    let key = key.map(str::to_string);
    let body = read_body(body, state.body_read).await?;
    let Some(_turn) = state.ingest_turn().await else {
        return Err(AppError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: Code::Busy,
            message: "other batches are being stored; try again shortly".into(),
        });
    };
    // Parsing a large body and flushing files to disk would hold an async worker for
    // seconds: the batch is stored on a blocking thread.
    let runtime = tokio::runtime::Handle::current();
    let (root, source, calendar) = (
        state.root().to_path_buf(),
        source.clone(),
        loaded.engine.calendar().clone(),
    );
    let appended = tokio::task::spawn_blocking(move || {
        let input = tablero_store::rows::Input {
            bytes: &body,
            format,
            label: "request body",
            sheet: None,
        };
        runtime.block_on(tablero_store::ingest(
            &root,
            &source,
            &calendar,
            &[input],
            key.as_deref(),
            &mut |_| {},
        ))
    })
    .await
    .map_err(|e| AppError::internal(format!("storing the batch stopped: {e}")))?
    .map_err(store_error)?;
    if appended.rows > 0 {
        state.invalidate();
    }
    let status = if appended.duplicate || appended.rows == 0 {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(Ingested {
            source: name,
            rows: appended.rows,
            version: appended.version,
            duplicate: appended.duplicate,
        }),
    ))
}

/// The whole request body, received within `deadline` (a client that dribbles it is cut
/// off) and within the body limit of the router's layer.
async fn read_body(
    body: axum::body::Body,
    deadline: std::time::Duration,
) -> Result<Bytes, AppError> {
    match tokio::time::timeout(deadline, axum::body::to_bytes(body, usize::MAX)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(err)) => {
            let err = err.into_inner();
            let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err.as_ref());
            while let Some(e) = cause {
                if e.is::<http_body_util::LengthLimitError>() {
                    return Err(AppError {
                        status: StatusCode::PAYLOAD_TOO_LARGE,
                        code: Code::PayloadTooLarge,
                        message: "the request body is larger than this server accepts (serve --max-body-mib)".into(),
                    });
                }
                cause = e.source();
            }
            Err(AppError::bad_parameter(
                "body",
                format!("cannot read the request body: {err}"),
            ))
        }
        Err(_) => Err(AppError {
            status: StatusCode::REQUEST_TIMEOUT,
            code: Code::RequestTimeout,
            message: format!(
                "the request body did not arrive within {} s",
                deadline.as_secs()
            ),
        }),
    }
}

fn store_error(err: tablero_store::StoreError) -> AppError {
    use tablero_store::StoreError;
    match err {
        StoreError::Input(message) => AppError {
            status: StatusCode::BAD_REQUEST,
            code: Code::BadRows,
            message,
        },
        StoreError::Usage(message) => AppError {
            status: StatusCode::BAD_REQUEST,
            code: Code::BadParameter,
            message,
        },
        StoreError::Mismatch(message) => AppError {
            status: StatusCode::CONFLICT,
            code: Code::TableMismatch,
            message,
        },
        StoreError::Conflict(message) => AppError {
            status: StatusCode::CONFLICT,
            code: Code::IdempotencyConflict,
            message,
        },
        StoreError::Damaged(message) => AppError::unavailable(message),
        StoreError::Disk(message) => AppError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: Code::StorageFailure,
            message,
        },
        StoreError::Internal(message) => AppError::internal(message),
    }
}
