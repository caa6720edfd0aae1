//! CPU and memory of the platform's processes, read from /proc.

use std::path::Path;
use std::time::Instant;

/// Clock ticks per second of /proc's CPU times on Linux.
const TICKS_PER_SECOND: f64 = 100.0;

/// A process by name, found through `.local/run/<name>.pid`.
#[derive(Debug, Clone)]
pub struct Process {
    /// Its name (service, broker, postgres, mongo).
    pub name: String,
    /// Its pid.
    pub pid: u32,
}

/// The processes `./dev up` started that are running now. PostgreSQL's pid file names
/// only its postmaster; its backends are counted through their parent.
pub fn platform(run_dir: &Path) -> Vec<Process> {
    let names = [
        "broker",
        "postgres",
        "mongo",
        "gateway",
        "auth",
        "catalog",
        "order",
        "inventory",
        "payment",
        "cart",
    ];
    names
        .iter()
        .filter_map(|name| {
            let pid = std::fs::read_to_string(run_dir.join(format!("{name}.pid"))).ok()?;
            let pid: u32 = pid.trim().parse().ok()?;
            Path::new(&format!("/proc/{pid}"))
                .exists()
                .then(|| Process {
                    name: name.to_string(),
                    pid,
                })
        })
        .collect()
}

/// A process stopped with SIGSTOP until this is dropped (then SIGCONT). To the broker a
/// paused consumer is one that has gone quiet: it keeps its partitions for its session
/// timeout, so a pause must stay shorter than that.
pub struct Paused(Vec<u32>);

impl Paused {
    /// Stops `processes`.
    pub fn new(processes: &[&Process]) -> Self {
        let pids: Vec<u32> = processes.iter().map(|p| p.pid).collect();
        signal(&pids, "STOP");
        Self(pids)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        signal(&self.0, "CONT");
    }
}

fn signal(pids: &[u32], name: &str) {
    for pid in pids {
        let sent = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(pid.to_string())
            .status();
        if !sent.is_ok_and(|status| status.success()) {
            eprintln!("could not send SIG{name} to {pid}");
        }
    }
}

/// The pid and its children (one level: PostgreSQL backends, a shell's child).
fn family(pid: u32) -> Vec<u32> {
    let mut pids = vec![pid];
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(child) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if stat_fields(child).and_then(|f| f.get(1).and_then(|p| p.parse::<u32>().ok()))
                == Some(pid)
            {
                pids.push(child);
            }
        }
    }
    pids
}

/// The fields of /proc/<pid>/stat after the command name, starting with the state.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    Some(after_name.split_whitespace().map(String::from).collect())
}

/// CPU ticks (user + system) of a process and its children.
fn ticks(pid: u32) -> u64 {
    family(pid)
        .into_iter()
        .filter_map(stat_fields)
        .map(|f| {
            f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
                + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
        })
        .sum()
}

/// Resident memory of a process (without children), in MiB.
pub fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// CPU use between two moments, per process.
pub struct CpuMeter {
    start: Instant,
    before: Vec<(Process, u64)>,
}

/// One process's use over a phase.
#[derive(Debug, Clone)]
pub struct Usage {
    /// Its name.
    pub name: String,
    /// CPU in percent of one core.
    pub cpu_percent: f64,
    /// Resident memory at the end, MiB.
    pub rss_mib: f64,
}

impl CpuMeter {
    /// Starts measuring `processes`.
    pub fn start(processes: &[Process]) -> Self {
        Self {
            start: Instant::now(),
            before: processes
                .iter()
                .map(|p| (p.clone(), ticks(p.pid)))
                .collect(),
        }
    }

    /// Seconds since the start.
    pub fn elapsed_seconds(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Use since the start.
    pub fn stop(&self) -> Vec<Usage> {
        let seconds = self.start.elapsed().as_secs_f64().max(0.001);
        self.before
            .iter()
            .map(|(process, before)| Usage {
                name: process.name.clone(),
                cpu_percent: (ticks(process.pid).saturating_sub(*before)) as f64
                    / TICKS_PER_SECOND
                    / seconds
                    * 100.0,
                rss_mib: rss_mib(process.pid),
            })
            .collect()
    }
}
