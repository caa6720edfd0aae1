//! Service binaries started as child processes, the way a deployment runs them.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use crate::bed::TestBed;
use crate::http::{http_get, http_status};

/// Starts a service binary against the test's prefix and database, waits until its
/// `/readyz` answers 200, sends SIGTERM, and asserts that it exits with status 0 within
/// 20 seconds: the life cycle every service must have.
pub async fn assert_service_starts_ready_and_stops_cleanly(binary: &str) {
    let bed = TestBed::new().await;
    kafka_runtime::admin::create_platform_topics(&bed.kafka, 1)
        .await
        .expect("platform topics");
    let service = ServiceProcess::start(binary, &bed.service_env()).await;
    assert_eq!(http_status(service.port, "/healthz").await, Some(200));
    service.stop().await;
}

/// A port nothing listens on right now, and never handed out before by this process.
///
/// The kernel may offer a port again as soon as its listener closes, which is before
/// the child it was picked for has bound it: two services of tests running side by side
/// could then be given one port, and the loser's tests would talk to the winner.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("addr")
            .port();
        if HANDED_OUT.lock().expect("port registry").insert(port) {
            return port;
        }
    }
}

/// The path of a binary of this workspace: a service, or testkit's `fixture-consumer`.
/// `cargo test --workspace` (what `./dev test` runs) and `cargo build --workspace
/// --bins` build them beside the test executables; `cargo test -p <package>` alone
/// builds only that package's.
pub fn service_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let profile_dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("tests run from target/<profile>/deps");
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` first, or the tests with \
         `cargo test --workspace` (./dev test)",
        path.display()
    );
    path
}

/// A service process started for a test, on its own port; killed if dropped running.
pub struct ServiceProcess {
    /// Its HTTP port.
    pub port: u16,
    child: tokio::process::Child,
}

impl ServiceProcess {
    /// Starts `binary` with `env` (plus `HTTP_ADDR` and, unless given, `RUST_LOG` from
    /// `TEST_SERVICE_LOG`, default `warn`)
    /// and waits up to a minute for its `/readyz` to answer 200.
    pub async fn start(
        binary: impl AsRef<std::ffi::OsStr>,
        env: &[(&'static str, String)],
    ) -> Self {
        let mut service = Self::launch(binary, env);
        service.ready().await;
        service
    }

    /// Like [`ServiceProcess::start`], without waiting for it to be ready.
    pub fn launch(binary: impl AsRef<std::ffi::OsStr>, env: &[(&'static str, String)]) -> Self {
        let port = free_port();
        let mut command = tokio::process::Command::new(binary);
        command
            .env("HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env(
                "RUST_LOG",
                std::env::var("TEST_SERVICE_LOG").unwrap_or("warn".into()),
            )
            .kill_on_drop(true);
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().expect("service starts");
        Self { port, child }
    }

    /// Waits up to a minute for its `/readyz` to answer 200; fails with its last answer,
    /// or at once if the process has exited (then whatever answers on its port is not it).
    pub async fn ready(&mut self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("child status") {
                panic!(
                    "the service meant for port {} exited before it was ready: {status}",
                    self.port
                );
            }
            let last = match http_get(self.port, "/readyz").await {
                Some((200, _)) => return,
                Some((status, body)) => format!("{status} {body}"),
                None => "nothing".to_string(),
            };
            assert!(
                std::time::Instant::now() < deadline,
                "the service on port {} is not ready after 60 s: /readyz answered {last}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends SIGTERM and asserts a clean exit within 20 seconds.
    pub async fn stop(mut self) {
        let pid = self.child.id().expect("running").to_string();
        let signalled = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(signalled.success());
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("the service stops within 20 s of SIGTERM")
            .expect("exit status");
        assert!(status.success(), "the service exited with {status}");
    }

    /// Kills it with SIGKILL, as a crash would.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("killed");
    }
}
