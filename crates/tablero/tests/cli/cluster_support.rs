//! A real Apache Ballista cluster for the tests: one scheduler and two executor processes of
//! the `tablero` binary on free loopback ports, stopped when dropped. Their logs stay in the
//! cluster's scratch folder for a failing test to show.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct Cluster {
    /// The scheduler's port on 127.0.0.1.
    pub scheduler_port: u16,
    // Executors first: they stop before their scheduler.
    executors: Vec<Node>,
    _scheduler: Node,
    scratch: tempfile::TempDir,
}

/// `count` distinct free ports on 127.0.0.1: each is held until all are chosen, so two are
/// never the same.
fn free_ports(count: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// Why a node did not come up.
enum Failed {
    /// The process ended: most likely another process took its port after it was chosen.
    Exited(String),
    /// Still running, but nothing listened in time.
    Silent(String),
}

/// Waits until something listens on `port`, unless `node` ends first.
fn wait_for(node: &mut Node, name: &str, port: u16) -> Result<(), Failed> {
    for _ in 0..900 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = node.0.try_wait() {
            return Err(Failed::Exited(format!(
                "{name} ended ({status}) before listening on port {port}"
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Err(Failed::Silent(format!(
        "{name} did not listen on port {port} in 90 s"
    )))
}

impl Cluster {
    /// Starts the cluster, on new ports up to three times if a node ends before it listens
    /// (a port chosen free may be taken by another process before the node binds it).
    pub fn start() -> Cluster {
        let mut tries = Vec::new();
        for _ in 0..3 {
            let scratch = tempfile::tempdir().unwrap();
            match Cluster::try_start(&scratch) {
                Ok((scheduler_port, scheduler, executors)) => {
                    return Cluster {
                        scheduler_port,
                        executors,
                        _scheduler: scheduler,
                        scratch,
                    };
                }
                Err(failed) => {
                    let (why, again) = match failed {
                        Failed::Exited(why) => (why, true),
                        Failed::Silent(why) => (why, false),
                    };
                    tries.push(format!("{why}\n{}", logs(scratch.path())));
                    if !again {
                        break;
                    }
                }
            }
        }
        panic!("the cluster did not start:\n{}", tries.join("\n"));
    }

    fn try_start(scratch: &tempfile::TempDir) -> Result<(u16, Node, Vec<Node>), Failed> {
        let node = |args: Vec<String>, name: &str| {
            let log = |ext: &str| {
                std::fs::File::create(scratch.path().join(format!("{name}.{ext}"))).unwrap()
            };
            Node(
                Command::new(env!("CARGO_BIN_EXE_tablero"))
                    .args(args)
                    .stdout(Stdio::from(log("out")))
                    .stderr(Stdio::from(log("err")))
                    .spawn()
                    .unwrap(),
            )
        };
        let ports = free_ports(5);
        let scheduler_port = ports[0];
        let mut scheduler = node(
            vec![
                "cluster".into(),
                "scheduler".into(),
                "--bind".into(),
                format!("127.0.0.1:{scheduler_port}"),
            ],
            "scheduler",
        );
        wait_for(&mut scheduler, "the scheduler", scheduler_port)?;
        let mut executors = Vec::new();
        for n in 0..2 {
            let (flight, grpc) = (ports[1 + 2 * n], ports[2 + 2 * n]);
            let work = scratch.path().join(format!("executor{n}"));
            std::fs::create_dir_all(&work).unwrap();
            let name = format!("executor{n}");
            let mut executor = node(
                vec![
                    "cluster".into(),
                    "executor".into(),
                    "--scheduler".into(),
                    format!("127.0.0.1:{scheduler_port}"),
                    "--bind".into(),
                    format!("127.0.0.1:{flight}"),
                    "--grpc-port".into(),
                    grpc.to_string(),
                    "--work-dir".into(),
                    work.to_string_lossy().to_string(),
                ],
                &name,
            );
            wait_for(&mut executor, &name, flight)?;
            wait_for(&mut executor, &name, grpc)?;
            executors.push(executor);
        }
        Ok((scheduler_port, scheduler, executors))
    }

    /// `engine = "…"` for a workspace computing on this cluster.
    pub fn url(&self) -> String {
        format!("ballista://127.0.0.1:{}", self.scheduler_port)
    }

    /// A copy of the workspace at `from`, named `name` in the cluster's scratch folder, whose
    /// `tablero.toml` computes on this cluster.
    pub fn workspace(&self, from: &Path, name: &str) -> PathBuf {
        let copy = self.scratch.path().join("workspaces").join(name);
        copy_dir(from, &copy);
        let toml = std::fs::read_to_string(copy.join("tablero.toml")).unwrap_or_default();
        std::fs::write(
            copy.join("tablero.toml"),
            format!("engine = \"{}\"\n{toml}", self.url()),
        )
        .unwrap();
        copy
    }

    /// A folder that lives as long as the cluster.
    pub fn scratch(&self) -> PathBuf {
        self.scratch.path().to_path_buf()
    }

    /// The last lines of the scheduler's and the executors' logs, newest first.
    pub fn log_tails(&self) -> String {
        logs(self.scratch.path())
    }
}

/// The last lines of the scheduler's and the executors' logs in `scratch`, newest first.
fn logs(scratch: &Path) -> String {
    let mut out = String::new();
    for name in ["scheduler.err", "executor0.err", "executor1.err"] {
        let text = std::fs::read_to_string(scratch.join(name)).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(20).collect();
        out.push_str(&format!(
            "--- {name} (last lines, newest first)\n{}\n",
            tail.join("\n")
        ));
    }
    out
}

/// Copies the folder `from` to `to`, recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
