//! The nodes of a Tablero cluster (SPEC §9): `tablero cluster scheduler` and `tablero cluster
//! executor` embed Apache Ballista's scheduler and executor, on the same DataFusion as the
//! engine, with Tablero's own functions (`tablero_local_instant`, the rollups'
//! `tablero_sum_at_*`) registered on every node, so the plans the engine sends
//! (`engine = "ballista://HOST:PORT"`) run there as they would here.
//!
//! Nodes read the files they scan themselves: a workspace computed on a cluster must live on
//! storage every node reads at the same path.

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("the scheduler stopped: {0}")]
    Scheduler(String),
    #[error("the executor stopped: {0}")]
    Executor(String),
}

/// Runs a scheduler listening on `bind` until the process ends.
pub async fn scheduler(bind: SocketAddr) -> Result<(), ClusterError> {
    let failed = |e: ballista_core::error::BallistaError| ClusterError::Scheduler(e.to_string());
    let mut config = SchedulerConfig::default()
        .with_hostname(bind.ip().to_string())
        .with_port(bind.port());
    config.bind_host = bind.ip().to_string();
    config.override_session_builder = Some(Arc::new(|session_config| {
        use datafusion::execution::FunctionRegistry;
        let mut state = ballista_core::utils::default_session_builder(session_config)?;
        for function in tablero_engine::functions() {
            state.register_udf(function)?;
        }
        for function in tablero_engine::aggregate_functions() {
            state.register_udaf(function)?;
        }
        Ok(state)
    }));
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(failed)?;
    start_server(cluster, bind, Arc::new(config))
        .await
        .map_err(failed)
}

/// Runs an executor serving Arrow Flight on `bind` and its gRPC on `grpc_port`, registered
/// with the scheduler at `scheduler`, until the process ends. `work_dir` holds its shuffle
/// files (a temporary folder when `None`).
pub async fn executor(
    scheduler: (String, u16),
    bind: SocketAddr,
    grpc_port: u16,
    work_dir: Option<String>,
) -> Result<(), ClusterError> {
    // Ballista's executors know DataFusion's core functions; the engine's plans also sort and
    // slice arrays (percentiles, `top`), and call Tablero's own.
    let mut functions = BallistaFunctionRegistry::default();
    let nested = datafusion::functions_nested::all_default_nested_functions();
    for function in nested.into_iter().chain(tablero_engine::functions()) {
        functions
            .scalar_functions
            .insert(function.name().to_string(), function);
    }
    for function in tablero_engine::aggregate_functions() {
        functions
            .aggregate_functions
            .insert(function.name().to_string(), function);
    }
    let config = ExecutorProcessConfig {
        bind_host: bind.ip().to_string(),
        external_host: Some(bind.ip().to_string()),
        port: bind.port(),
        grpc_port,
        scheduler_host: scheduler.0,
        scheduler_port: scheduler.1,
        scheduler_connect_timeout_seconds: 30,
        work_dir,
        print_thread_info: false,
        executor_heartbeat_interval_seconds: 5,
        override_function_registry: Some(Arc::new(functions)),
        ..ExecutorProcessConfig::default()
    };
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| ClusterError::Executor(e.to_string()))
}
