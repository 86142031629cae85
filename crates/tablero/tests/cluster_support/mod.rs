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

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(port: u16) {
    for _ in 0..600 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("nothing listens on port {port}");
}

impl Cluster {
    pub fn start() -> Cluster {
        let scratch = tempfile::tempdir().unwrap();
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
        let scheduler_port = free_port();
        let scheduler = node(
            vec![
                "cluster".into(),
                "scheduler".into(),
                "--bind".into(),
                format!("127.0.0.1:{scheduler_port}"),
            ],
            "scheduler",
        );
        wait_for(scheduler_port);
        let mut executors = Vec::new();
        for n in 0..2 {
            let (flight, grpc) = (free_port(), free_port());
            let work = scratch.path().join(format!("executor{n}"));
            std::fs::create_dir_all(&work).unwrap();
            executors.push(node(
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
                &format!("executor{n}"),
            ));
            wait_for(flight);
            wait_for(grpc);
        }
        Cluster {
            scheduler_port,
            executors,
            _scheduler: scheduler,
            scratch,
        }
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

    /// The last lines of the scheduler's and the first executor's logs, newest first.
    pub fn log_tails(&self) -> String {
        let mut out = String::new();
        for name in ["scheduler.err", "executor0.err"] {
            let text = std::fs::read_to_string(self.scratch.path().join(name)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(20).collect();
            out.push_str(&format!(
                "--- {name} (last lines, newest first)\n{}\n",
                tail.join("\n")
            ));
        }
        out
    }
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
