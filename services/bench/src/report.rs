//! The report: a markdown page with the machine, the limits and every step, and two
//! SVG plots (latency CDF; throughput against offered load).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::limits::Limits;
use crate::Step;

/// Everything a run measured.
pub struct Run {
    /// The machine's limits.
    pub limits: Limits,
    /// Order steps, by rising offered rate.
    pub orders: Vec<Step>,
    /// Registration steps.
    pub registrations: Vec<Step>,
    /// The gateway's acceptance of `place_order` alone (202s).
    pub acceptance: Vec<Step>,
    /// RSS of each process before the load, MiB.
    pub idle: Vec<(String, f64)>,
    /// RSS after the load, MiB.
    pub idle_after: Vec<(String, f64)>,
    /// A smoke run (numbers mean nothing).
    pub smoke: bool,
    /// Names this run's page and plots (e.g. `fetch10ms`).
    pub label: String,
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores ({model}), {memory:.0} GiB")
}

fn steps_table(out: &mut String, steps: &[Step], orders: bool) {
    if orders {
        out.push_str("| offered/s | 202/s | 202 p50 / p99 / max ms | confirmed/s | POST→CONFIRMED p50 / p99 / max ms | errors |\n|---|---|---|---|---|---|\n");
    } else {
        out.push_str("| offered/s | 202/s | 202 p50 / p99 / max ms | refused (status: count) |\n|---|---|---|---|\n");
    }
    for s in steps {
        let refused: Vec<String> = s.refused.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let (a50, a99, amax) = s.accept_ms;
        if orders {
            let (e50, e99, emax) = s.end_to_end_ms;
            let _ = writeln!(
                out,
                "| {:.0} | {:.1} | {a50:.1} / {a99:.1} / {amax:.1} | {:.1} | {e50:.1} / {e99:.1} / {emax:.1} | {} {} |",
                s.offered, s.accepted_per_sec, s.confirmed_per_sec, s.errors(),
                if refused.is_empty() && s.unfinished == 0 { String::new() } else { format!("({} unfinished; {})", s.unfinished, refused.join(", ")) }
            );
        } else {
            let _ = writeln!(
                out,
                "| {:.0} | {:.1} | {a50:.1} / {a99:.1} / {amax:.1} | {} |",
                s.offered,
                s.accepted_per_sec,
                refused.join(", ")
            );
        }
    }
}

/// Time per record of each consumer the step's orders crossed, as a markdown table.
pub fn hops_table(out: &mut String, step: &Step) {
    out.push_str("| service | topic | records | mean ms per record (queue + transaction + publish) |\n|---|---|---|---|\n");
    for hop in &step.hops {
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {:.1} |",
            hop.service, hop.topic, hop.records, hop.mean_ms
        );
    }
}

/// CPU milliseconds each process spent per confirmed order, one column per step: which
/// process holds the platform back, and whether its cost per order falls with load.
fn cpu_per_order_table(out: &mut String, steps: &[Step]) {
    let steps: Vec<&Step> = steps.iter().filter(|s| s.confirmed_per_sec > 0.0).collect();
    let Some(first) = steps.first() else {
        return;
    };
    out.push_str(
        "CPU milliseconds per confirmed order, by process and offered rate:\n\n| process |",
    );
    for step in &steps {
        let _ = write!(out, " {:.0}/s |", step.offered);
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(steps.len()));
    out.push('\n');
    let per_order = |step: &Step, cpu_percent: f64| cpu_percent * 10.0 / step.confirmed_per_sec;
    for (i, usage) in first.usage.iter().enumerate() {
        let _ = write!(out, "| {} |", usage.name);
        for step in &steps {
            let cpu = step.usage.get(i).map_or(0.0, |u| u.cpu_percent);
            let _ = write!(out, " {:.1} |", per_order(step, cpu));
        }
        out.push('\n');
    }
    out.push_str("| **all** |");
    for step in &steps {
        let total: f64 = step.usage.iter().map(|u| u.cpu_percent).sum();
        let _ = write!(out, " **{:.1}** |", per_order(step, total));
    }
    out.push_str("\n\n");
}

/// The work one confirmed order costs, one column per step: records the services
/// handled, PostgreSQL's commits, rows written and statements per database, its WAL
/// flushes, the MongoDB-protocol server's operations, each service's records handled,
/// and the records produced to each topic. Counts, unlike CPU time, do not move with
/// the machine's other load.
pub fn work_table(out: &mut String, steps: &[Step]) {
    let steps: Vec<(&Step, &crate::counts::Snapshot)> = steps
        .iter()
        .filter(|s| !s.end_to_end.is_empty())
        .filter_map(|s| Some((s, s.work.as_ref()?)))
        .collect();
    let Some((_, first)) = steps.first() else {
        return;
    };
    out.push_str("Work per confirmed order, by offered rate:\n\n| what |");
    for (step, _) in &steps {
        let _ = write!(out, " {:.0}/s |", step.offered);
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(steps.len()));
    out.push('\n');
    let row = |out: &mut String,
               what: &str,
               value: &dyn Fn(&Step, &crate::counts::Snapshot) -> Option<f64>| {
        let _ = write!(out, "| {what} |");
        for (step, work) in &steps {
            match value(step, work) {
                Some(value) => {
                    let _ = write!(out, " {value:.1} |");
                }
                None => out.push_str(" n/a |"),
            }
        }
        out.push('\n');
    };
    row(out, "records the services handled", &|step, _| {
        let records: f64 = step.hops.iter().map(|hop| hop.records).sum();
        Some(records / step.end_to_end.len() as f64)
    });
    for name in first.databases.keys() {
        let of =
            |work: &crate::counts::Snapshot| work.databases.get(name).copied().unwrap_or_default();
        row(out, &format!("{name}: commits"), &|_, work| {
            Some(of(work).commits)
        });
        row(out, &format!("{name}: rows written"), &|_, work| {
            Some(of(work).rows_written)
        });
        row(out, &format!("{name}: statements"), &|_, work| {
            of(work).statements
        });
    }
    row(out, "PostgreSQL WAL flushes (cluster)", &|_, work| {
        Some(work.wal_syncs)
    });
    row(out, "MongoDB-protocol server: operations", &|_, work| {
        work.mongo_operations
    });
    for service in services_at_work(&steps) {
        row(out, &format!("{service}: records handled"), &|step, _| {
            let handled = step.hops.iter().filter(|hop| hop.service == service);
            Some(handled.map(|hop| hop.records).sum::<f64>() / step.end_to_end.len() as f64)
        });
    }
    let topics: BTreeSet<&String> = steps.iter().flat_map(|(_, w)| w.produced.keys()).collect();
    for topic in topics {
        row(out, &format!("records produced to {topic}"), &|_, work| {
            Some(work.produced.get(topic).copied().unwrap_or_default())
        });
    }
    out.push('\n');
}

/// The services that handled anything in any of `steps`, by name.
fn services_at_work(steps: &[(&Step, &crate::counts::Snapshot)]) -> BTreeSet<String> {
    let hops = steps.iter().flat_map(|(step, _)| &step.hops);
    hops.map(|hop| hop.service.clone()).collect()
}

/// CPU and RSS of every process over the step, as a markdown table.
pub fn usage_table(out: &mut String, step: &Step) {
    out.push_str("| process | CPU % of one core | RSS MiB |\n|---|---|---|\n");
    for u in &step.usage {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.0} |",
            u.name, u.cpu_percent, u.rss_mib
        );
    }
}

/// A section for steps measured at the gateway only: the table, then CPU over the last.
fn http_only_section(out: &mut String, heading: &str, steps: &[Step]) {
    let _ = writeln!(out, "## {heading}\n");
    steps_table(out, steps, false);
    if let Some(last) = steps.last() {
        let _ = writeln!(
            out,
            "\nCPU over the last step ({:.0}/s offered):\n",
            last.offered
        );
        usage_table(out, last);
    }
}

/// Writes `benchmarks.md` (or the smoke report) and the plots under `dir`; the page.
pub fn write(dir: &Path, run: &Run) -> anyhow::Result<PathBuf> {
    let plots = dir.join("bench").join(&run.label);
    std::fs::create_dir_all(&plots)?;
    cdf(&plots.join("latency-cdf.svg"), &run.orders)?;
    throughput(&plots.join("throughput.svg"), &run.orders)?;
    let mut out = String::new();
    let commit = std::env::var("BENCH_COMMIT").unwrap_or_else(|_| "unknown".into());
    let broker = std::env::var("BENCH_BROKER").unwrap_or_else(|_| "unknown".into());
    let _ = writeln!(out, "# Benchmark results\n");
    if run.smoke {
        out.push_str("A smoke run: it proves the harness works; its numbers mean nothing.\n\n");
    }
    let fetch_wait =
        std::env::var("RDKAFKA_FETCH_WAIT_MAX_MS").unwrap_or_else(|_| "librdkafka default".into());
    let _ = writeln!(out, "- machine: {}\n- broker: {broker}, consumers' fetch.wait.max.ms: {fetch_wait}\n- commit: `{commit}`\n- everything on one machine: broker, PostgreSQL, MongoDB-protocol server, the seven services, load generator\n", machine());
    let l = &run.limits;
    let _ = writeln!(
        out,
        "## Limits, measured in the same run\n\n| limit | value |\n|---|---|"
    );
    let _ = writeln!(
        out,
        "| runtime producer alone, acks=all, 420-byte messages | {:.0} msg/s |",
        l.produce_per_sec
    );
    let _ = writeln!(
        out,
        "| the same, one message at a time (a produce request each) | {:.0} msg/s |",
        l.produce_one_at_a_time_per_sec
    );
    let _ = writeln!(
        out,
        "| broker CPU per message: in bulk / one at a time | {:.3} / {:.3} ms |",
        l.broker_cpu_ms_per_message.0, l.broker_cpu_ms_per_message.1
    );
    let _ = writeln!(
        out,
        "| one message through the broker, p50 / p99 | {:.1} / {:.1} ms |",
        l.round_trip_ms.0, l.round_trip_ms.1
    );
    let _ = writeln!(
        out,
        "| PostgreSQL single-row commits, 1 connection | {:.0} /s |",
        l.pg_commits_per_sec
    );
    let _ = writeln!(
        out,
        "| PostgreSQL single-row commits, 8 connections | {:.0} /s |",
        l.pg_commits_per_sec_8
    );
    let _ = writeln!(
        out,
        "| runtime store (inbox, one row, outbox), 1 connection: a transaction per message / group commit of {} | {:.0} / {:.0} msg/s (× {:.1}) |\n",
        crate::limits::GROUP,
        l.store_per_sec.0,
        l.store_per_sec.1,
        l.store_per_sec.1 / l.store_per_sec.0.max(1.0)
    );
    let _ = writeln!(
        out,
        "## Orders (open loop, POST /api/orders → CONFIRMED on order.events)\n"
    );
    steps_table(&mut out, &run.orders, true);
    match run.orders.iter().rfind(|s| s.sustainable()) {
        Some(best) => {
            let _ = writeln!(out, "\nHighest sustainable rate (p99 end to end ≤ 1 s, errors ≤ 1 %): **{:.0} orders/s offered, {:.1} confirmed/s**.", best.offered, best.confirmed_per_sec);
            let _ = writeln!(out, "Ratios at that rate: confirmed/s ÷ producer limit = {:.3}; ÷ PostgreSQL commits (8 connections) = {:.3}.", best.confirmed_per_sec / l.produce_per_sec.max(1.0), best.confirmed_per_sec / l.pg_commits_per_sec_8.max(1.0));
        }
        None => {
            let _ = writeln!(
                out,
                "\nNo rate tried stayed within p99 end to end ≤ 1 s and errors ≤ 1 %."
            );
        }
    }
    if let Some(kept) = run.orders.iter().rfind(|s| s.keeps_up()) {
        let _ = writeln!(out, "Highest rate the saga kept up with, whatever the latency (errors ≤ 1 %, confirmed ≥ 80 % of offered): **{:.0} orders/s offered, {:.1} confirmed/s, p99 {:.0} ms**.\n", kept.offered, kept.confirmed_per_sec, kept.end_to_end_ms.1);
    } else {
        out.push('\n');
    }
    cpu_per_order_table(&mut out, &run.orders);
    work_table(&mut out, &run.orders);
    if let Some(last) = run.orders.last() {
        let _ = writeln!(
            out,
            "CPU and memory over the last step ({:.0}/s offered):\n",
            last.offered
        );
        usage_table(&mut out, last);
        let _ = writeln!(out, "\nWhere the time goes, per hop, over the same step:\n");
        hops_table(&mut out, last);
    }
    let _ = writeln!(
        out,
        "\n![latency CDF](bench/{label}/latency-cdf.svg)\n\n![throughput](bench/{label}/throughput.svg)\n",
        label = run.label
    );
    http_only_section(
        &mut out,
        "Gateway acceptance of place_order (202 only; the order service paused, the saga at rest)",
        &run.acceptance,
    );
    out.push('\n');
    http_only_section(&mut out, "Registration (bcrypt-bound)", &run.registrations);
    let _ = writeln!(out, "\n## Memory when idle\n\n| process | RSS before load MiB | after load MiB |\n|---|---|---|");
    for ((name, before), (_, after)) in run.idle.iter().zip(&run.idle_after) {
        let _ = writeln!(out, "| {name} | {before:.0} | {after:.0} |");
    }
    let page = dir.join(format!("benchmarks-{}.md", run.label));
    std::fs::write(&page, out)?;
    Ok(page)
}

fn cdf(path: &Path, steps: &[Step]) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (900, 540)).into_drawing_area();
    root.fill(&WHITE)?;
    let max_ms = steps
        .iter()
        .flat_map(|s| s.end_to_end.iter().copied())
        .fold(10.0_f64, f64::max)
        .min(5000.0);
    let mut chart = ChartBuilder::on(&root)
        .caption("POST → CONFIRMED latency (CDF)", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..max_ms, 0.0..1.0)?;
    chart
        .configure_mesh()
        .x_desc("ms")
        .y_desc("share of orders")
        .draw()?;
    for (i, step) in steps.iter().enumerate() {
        let mut sorted = step.end_to_end.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len().max(1) as f64;
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                sorted
                    .iter()
                    .enumerate()
                    .map(|(k, ms)| (ms.min(max_ms), (k + 1) as f64 / n)),
                color,
            ))?
            .label(format!("{:.0}/s", step.offered))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()?;
    root.present()?;
    Ok(())
}

fn throughput(path: &Path, steps: &[Step]) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (900, 540)).into_drawing_area();
    root.fill(&WHITE)?;
    let top = steps.iter().map(|s| s.offered).fold(10.0_f64, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Throughput against offered load (orders)",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..top, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("offered /s")
        .y_desc("/s")
        .draw()?;
    let accepted: Vec<(f64, f64)> = steps
        .iter()
        .map(|s| (s.offered, s.accepted_per_sec))
        .collect();
    let confirmed: Vec<(f64, f64)> = steps
        .iter()
        .map(|s| (s.offered, s.confirmed_per_sec))
        .collect();
    chart
        .draw_series(LineSeries::new(accepted, BLUE))?
        .label("202 /s")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    chart
        .draw_series(LineSeries::new(confirmed, RED))?
        .label("confirmed /s")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    chart
        .draw_series(LineSeries::new(
            vec![(0.0, 0.0), (top, top)],
            BLACK.mix(0.3),
        ))?
        .label("offered")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.3)));
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()?;
    root.present()?;
    Ok(())
}
