//! `./dev bench`: drives the running platform with open-loop load and measures the
//! machine's limits in the same run, then writes `docs/benchmarks.md` and its plots.
//!
//! Orders: offered rates rise until p99 from POST to CONFIRMED passes 1 s or errors
//! appear; CONFIRMED is seen on `order.events` by a reader of its own, not by polling.
//! Registration (bcrypt-bound) the same way. `--smoke` runs one short step of each and
//! writes its report under `target/bench-smoke/` (CI runs it to keep the harness
//! working; it asserts nothing about speed).

mod counts;
mod hops;
mod limits;
mod load;
mod platform;
mod procs;
mod produced;
mod report;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_runtime::follow::{follow_envelopes, Start};
use kafka_runtime::KafkaConfig;
use serde_json::json;
use shared_events::messages::order::{OrderCancelled, OrderConfirmed, OrderRejected};
use shared_events::{Message, RawEnvelope, Topic};
use tokio_util::sync::CancellationToken;

use crate::load::{histogram, percentiles, record};
use crate::platform::Gateway;
use crate::procs::{CpuMeter, Usage};

/// The settings of a run: `./dev bench [--smoke] [--orders RATE [--seconds S]]`.
#[derive(Debug, clap::Parser)]
#[command(about = "Drives the gateway like any client and measures the platform's limits")]
struct Args {
    /// One short step of each measure, to keep the harness working (CI).
    #[arg(long)]
    smoke: bool,
    /// The gateway to drive.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    gateway: String,
    /// Where the report goes (default `docs`, or `target/bench-smoke` with --smoke).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Where `./dev` keeps the processes' pid files.
    #[arg(long, default_value = ".local/run")]
    run_dir: PathBuf,
    /// PostgreSQL for the store limits.
    #[arg(
        long,
        default_value = "postgres://commerce:commerce@127.0.0.1:5432/postgres"
    )]
    database_url: String,
    /// The MongoDB-protocol server, for its operation counts.
    #[arg(long, env = "MONGODB_URI", default_value = "mongodb://127.0.0.1:27017")]
    mongodb_uri: String,
    /// The report's label (default `run`, or `smoke` with --smoke).
    #[arg(long)]
    label: Option<String>,
    /// One step of orders at this rate, printed, no report (for profiling the platform
    /// at a chosen load).
    #[arg(long = "orders", value_name = "RATE")]
    orders_at: Option<f64>,
    /// How long that step offers load.
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
}

impl Args {
    /// Where the report goes.
    fn out(&self) -> PathBuf {
        let default = if self.smoke {
            "target/bench-smoke"
        } else {
            "docs"
        };
        self.out.clone().unwrap_or_else(|| default.into())
    }

    /// The report's label.
    fn label(&self) -> String {
        let default = if self.smoke { "smoke" } else { "run" };
        self.label.clone().unwrap_or_else(|| default.into())
    }
}

/// One step of offered load.
#[derive(Debug, Clone)]
pub struct Step {
    /// Requests a second offered.
    pub offered: f64,
    /// 202s a second.
    pub accepted_per_sec: f64,
    /// p50, p99, max of the 202 in ms.
    pub accept_ms: (f64, f64, f64),
    /// Orders confirmed a second (orders only).
    pub confirmed_per_sec: f64,
    /// p50, p99, max from due to CONFIRMED in ms (orders only).
    pub end_to_end_ms: (f64, f64, f64),
    /// Every end-to-end latency in ms, for the CDF.
    pub end_to_end: Vec<f64>,
    /// Answers that were not 202, by status.
    pub refused: HashMap<u16, u64>,
    /// Accepted orders that did not confirm within the drain time.
    pub unfinished: u64,
    /// Requests sent.
    pub sent: u64,
    /// CPU and memory of every process over the step.
    pub usage: Vec<Usage>,
    /// Time per record in each service's consumers over the step (orders only).
    pub hops: Vec<hops::Hop>,
    /// PostgreSQL's work per confirmed order over the step (orders only).
    pub work: Option<counts::Snapshot>,
}

impl Step {
    fn errors(&self) -> u64 {
        self.refused.values().sum::<u64>() + self.unfinished
    }

    /// Within the bound: p99 end to end at most 1 s, errors at most 1 %.
    fn sustainable(&self) -> bool {
        self.end_to_end_ms.1 <= 1000.0 && self.errors() * 100 <= self.sent
    }

    /// The saga keeps up, whatever the latency: errors at most 1 % (every order
    /// confirmed within the drain) and confirmed/s at least 80 % of the offered rate.
    fn keeps_up(&self) -> bool {
        self.errors() * 100 <= self.sent && self.confirmed_per_sec >= 0.8 * self.offered
    }
}

/// Seen order outcomes: order id → when, and whether it was confirmed.
type Outcomes = Arc<Mutex<HashMap<String, (Instant, bool)>>>;

async fn follow_outcomes(
    kafka: &KafkaConfig,
    stop: &CancellationToken,
) -> anyhow::Result<Outcomes> {
    let outcomes: Outcomes = Arc::default();
    let seen = outcomes.clone();
    // Stopped by `stop` when the run ends; the process exits right after, so nothing
    // waits for the reader to close.
    let _reader = follow_envelopes(
        kafka,
        &kafka.topics.name(Topic::OrderEvents),
        Start::End,
        stop.clone(),
        move |e: RawEnvelope| {
            let outcome = match e.kind.as_str() {
                OrderConfirmed::TYPE => e.data_as::<OrderConfirmed>().map(|d| (d.order_id, true)),
                OrderCancelled::TYPE => e.data_as::<OrderCancelled>().map(|d| (d.order_id, false)),
                OrderRejected::TYPE => e.data_as::<OrderRejected>().map(|d| (d.order_id, false)),
                _ => return,
            };
            if let Ok((order_id, confirmed)) = outcome {
                seen.lock()
                    .expect("not poisoned")
                    .insert(order_id.to_string(), (Instant::now(), confirmed));
            }
        },
    )
    .await?;
    Ok(outcomes)
}

struct Fixture {
    gateway: Gateway,
    buyers: Vec<String>,
    products: Vec<String>,
}

/// Where every benchmark order goes.
fn address() -> serde_json::Value {
    json!({
        "name": "Bench Buyer", "line1": "1 Load Street", "city": "Berlin",
        "postalCode": "10115", "country": "DE"
    })
}

async fn setup(gateway: Gateway, buyers: usize, products: usize) -> anyhow::Result<Fixture> {
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let (seller, _) = gateway
        .user(&format!("bench-seller-{run}@example.com"), "seller")
        .await?;
    let mut product_ids = Vec::new();
    for n in 0..products {
        product_ids.push(
            gateway
                .product(&seller, &format!("BENCH-{run}-{n}"), 1_000_000_000)
                .await?,
        );
    }
    let signing_up = (0..buyers).map(|n| {
        let gateway = gateway.clone();
        let run = run.clone();
        async move {
            gateway
                .user(&format!("bench-buyer-{run}-{n}@example.com"), "buyer")
                .await
        }
    });
    let buyers = futures::future::try_join_all(signing_up).await?;
    Ok(Fixture {
        gateway,
        buyers: buyers.into_iter().map(|(token, _)| token).collect(),
        products: product_ids,
    })
}

async fn order_step(
    fixture: &Fixture,
    outcomes: &Outcomes,
    processes: &[procs::Process],
    stats: &counts::Stores,
    rate: f64,
    duration: Duration,
) -> Step {
    let meter = CpuMeter::start(processes);
    let handled_before = hops::totals(&fixture.gateway.client).await;
    let work_before = counts::snapshot(stats).await;
    let gateway = fixture.gateway.clone();
    let (buyers, products) = (
        Arc::new(fixture.buyers.clone()),
        Arc::new(fixture.products.clone()),
    );
    let samples = load::open_loop(rate, duration, |n| {
        let (gateway, buyers, products) = (gateway.clone(), buyers.clone(), products.clone());
        async move {
            let buyer = &buyers[n as usize % buyers.len()];
            let product = &products[n as usize % products.len()];
            let body = json!({ "items": [{ "productId": product, "quantity": 1 }], "paymentToken": "tok_visa", "shippingAddress": address() });
            let answer = gateway.call("POST", "/api/orders", Some(buyer), Some(&body)).await;
            (answer.status, answer.body["orderId"].as_str().map(String::from))
        }
    })
    .await;
    let accepted: Vec<_> = samples.iter().filter(|s| s.status == 202).collect();
    await_outcomes(outcomes, &accepted, Duration::from_secs(10)).await;
    let usage = meter.stop();
    let seen = outcomes.lock().expect("not poisoned").clone();
    let mut e2e = histogram();
    let mut end_to_end = Vec::new();
    let mut unfinished = 0;
    let mut last_confirmed = None::<Instant>;
    for sample in &accepted {
        match sample.id.as_ref().and_then(|id| seen.get(id)) {
            Some((at, true)) => {
                let latency = at.saturating_duration_since(sample.due);
                record(&mut e2e, latency);
                end_to_end.push(latency.as_secs_f64() * 1000.0);
                last_confirmed = Some(last_confirmed.map_or(*at, |l: Instant| l.max(*at)));
            }
            _ => unfinished += 1,
        }
    }
    let first_due = samples.iter().map(|s| s.due).min();
    let confirmed_per_sec = match (first_due, last_confirmed) {
        (Some(first), Some(last)) => {
            end_to_end.len() as f64 / (last - first).as_secs_f64().max(duration.as_secs_f64())
        }
        _ => 0.0,
    };
    let mut step = summarize(
        rate,
        duration,
        &samples,
        usage,
        confirmed_per_sec,
        percentiles(&e2e),
        end_to_end,
        unfinished,
    );
    step.hops = hops::between(
        &handled_before,
        &hops::totals(&fixture.gateway.client).await,
    );
    let confirmed = step.end_to_end.len() as f64;
    step.work = match (work_before, counts::snapshot(stats).await) {
        (Ok(before), Ok(after)) => Some(counts::per_order(&before, &after, confirmed)),
        (Err(err), _) | (_, Err(err)) => {
            eprintln!("PostgreSQL's statistics unread: {err:#}");
            None
        }
    };
    step
}

/// Connections for reading PostgreSQL's statistics views, the MongoDB-protocol server's
/// counters and the topics' ends.
async fn statistics(args: &Args, kafka: &KafkaConfig) -> anyhow::Result<counts::Stores> {
    let pg = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&args.database_url)
        .await?;
    counts::prepare(&pg).await;
    let mongo = mongodb::Client::with_uri_str(&args.mongodb_uri).await?;
    let topics = produced::TopicEnds::new(kafka)?;
    Ok(counts::Stores { pg, mongo, topics })
}

/// Waits until every one of `accepted` has its outcome on `order.events`, or `limit`
/// passed; whether they all have.
async fn await_outcomes(outcomes: &Outcomes, accepted: &[&load::Sample], limit: Duration) -> bool {
    let until = Instant::now() + limit;
    loop {
        let done = {
            let seen = outcomes.lock().expect("not poisoned");
            accepted
                .iter()
                .all(|s| s.id.as_ref().is_some_and(|id| seen.contains_key(id)))
        };
        if done || Instant::now() > until {
            return done;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until no order outcome has arrived for `quiet`, at most `limit`: the saga has
/// finished what earlier steps left behind.
async fn await_rest(outcomes: &Outcomes, quiet: Duration, limit: Duration) {
    let until = Instant::now() + limit;
    let mut last = (outcomes.lock().expect("not poisoned").len(), Instant::now());
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let seen = outcomes.lock().expect("not poisoned").len();
        if seen != last.0 {
            last = (seen, Instant::now());
        } else if last.1.elapsed() >= quiet {
            return;
        }
    }
    println!("the saga was still busy after {} s", limit.as_secs());
}

#[allow(clippy::too_many_arguments)]
fn summarize(
    rate: f64,
    duration: Duration,
    samples: &[load::Sample],
    usage: Vec<Usage>,
    confirmed_per_sec: f64,
    end_to_end_ms: (f64, f64, f64),
    end_to_end: Vec<f64>,
    unfinished: u64,
) -> Step {
    let mut accept = histogram();
    let mut refused = HashMap::new();
    for sample in samples {
        if sample.status == 202 {
            record(&mut accept, sample.answered - sample.due);
        } else {
            *refused.entry(sample.status).or_default() += 1;
        }
    }
    let accepted = samples.iter().filter(|s| s.status == 202).count();
    Step {
        offered: rate,
        accepted_per_sec: accepted as f64 / duration.as_secs_f64(),
        accept_ms: percentiles(&accept),
        confirmed_per_sec,
        end_to_end_ms,
        end_to_end,
        refused,
        unfinished,
        sent: samples.len() as u64,
        usage,
        hops: Vec::new(),
        work: None,
    }
}

/// The gateway's intake alone: `place_order` at `rate` while the order service, the one
/// reader of `order.commands`, is paused, so the broker and the cores serve the
/// gateway and the load generator only. Each order names a product nobody sells:
/// resumed, the order service rejects it (`unknown_product`) without a saga, and the
/// step ends once it has rejected them all.
async fn accept_step(
    fixture: &Fixture,
    outcomes: &Outcomes,
    processes: &[procs::Process],
    rate: f64,
    duration: Duration,
) -> Step {
    let order_service: Vec<&procs::Process> =
        processes.iter().filter(|p| p.name == "order").collect();
    let paused = procs::Paused::new(&order_service);
    let meter = CpuMeter::start(processes);
    let gateway = fixture.gateway.clone();
    let buyers = Arc::new(fixture.buyers.clone());
    let samples = load::open_loop(rate, duration, |n| {
        let (gateway, buyers) = (gateway.clone(), buyers.clone());
        async move {
            let buyer = &buyers[n as usize % buyers.len()];
            let nobody_sells = uuid::Uuid::new_v4();
            let body = json!({ "items": [{ "productId": nobody_sells, "quantity": 1 }], "paymentToken": "tok_visa", "shippingAddress": address() });
            let answer = gateway.call("POST", "/api/orders", Some(buyer), Some(&body)).await;
            (answer.status, answer.body["orderId"].as_str().map(String::from))
        }
    })
    .await;
    let usage = meter.stop();
    drop(paused);
    let accepted: Vec<_> = samples.iter().filter(|s| s.status == 202).collect();
    let started = Instant::now();
    let rejected = await_outcomes(outcomes, &accepted, Duration::from_secs(180)).await;
    println!(
        "  the order service {} the {} orders in {:.1} s after it was resumed",
        if rejected {
            "rejected"
        } else {
            "had not yet rejected"
        },
        accepted.len(),
        started.elapsed().as_secs_f64()
    );
    summarize(
        rate,
        duration,
        &samples,
        usage,
        0.0,
        (0.0, 0.0, 0.0),
        Vec::new(),
        0,
    )
}

async fn registration_step(
    gateway: &Gateway,
    processes: &[procs::Process],
    rate: f64,
    duration: Duration,
) -> Step {
    let meter = CpuMeter::start(processes);
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let gateway = gateway.clone();
    let samples = load::open_loop(rate, duration, |n| {
        let gateway = gateway.clone();
        let email = format!("bench-reg-{run}-{n}@example.com");
        async move {
            let body = json!({ "email": email, "password": "bench password 1", "name": "Bench" });
            let answer = gateway
                .call("POST", "/api/auth/register", None, Some(&body))
                .await;
            (answer.status, None)
        }
    })
    .await;
    summarize(
        rate,
        duration,
        &samples,
        meter.stop(),
        0.0,
        (0.0, 0.0, 0.0),
        Vec::new(),
        0,
    )
}

fn print_step(kind: &str, step: &Step) {
    println!(
        "{kind:>12} offered {:>7.0}/s  accepted {:>7.1}/s  202 p99 {:>8.1} ms  confirmed {:>7.1}/s  e2e p50 {:>7.1} p99 {:>8.1} ms  errors {}",
        step.offered, step.accepted_per_sec, step.accept_ms.1, step.confirmed_per_sec, step.end_to_end_ms.0, step.end_to_end_ms.1, step.errors()
    );
}

/// `--orders RATE`: sets up, offers orders at one rate and prints the step with each
/// process's CPU and each service's time per record.
async fn one_order_step(
    args: &Args,
    kafka: &KafkaConfig,
    processes: &[procs::Process],
    rate: f64,
) -> anyhow::Result<()> {
    let fixture = setup(Gateway::new(&args.gateway)?, 8, 16).await?;
    let stop = CancellationToken::new();
    let outcomes = follow_outcomes(kafka, &stop).await?;
    let stats = statistics(args, kafka).await?;
    let step = order_step(
        &fixture,
        &outcomes,
        processes,
        &stats,
        rate,
        Duration::from_secs_f64(args.seconds),
    )
    .await;
    stop.cancel();
    print_step("orders", &step);
    let mut tables = String::new();
    report::usage_table(&mut tables, &step);
    tables.push('\n');
    report::hops_table(&mut tables, &step);
    tables.push('\n');
    report::work_table(&mut tables, std::slice::from_ref(&step));
    print!("{tables}");
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = <Args as clap::Parser>::parse();
    let kafka = KafkaConfig::from_env()?;
    let processes = procs::platform(&args.run_dir);
    if let Some(rate) = args.orders_at {
        return one_order_step(&args, &kafka, &processes, rate).await;
    }
    let idle: Vec<(String, f64)> = processes
        .iter()
        .map(|p| (p.name.clone(), procs::rss_mib(p.pid)))
        .collect();

    println!("measuring the limits");
    let (messages, seconds) = if args.smoke {
        (2_000, 0.5)
    } else {
        (20_000, 3.0)
    };
    let broker: Vec<procs::Process> = processes
        .iter()
        .filter(|p| p.name == "broker")
        .cloned()
        .collect();
    let kafka_limits = limits::kafka(&kafka, messages, 420, seconds, &broker).await?;
    let (pg_one, pg_eight) = limits::postgres(&args.database_url, seconds).await?;
    let store_per_sec = limits::store(&args.database_url, &kafka, seconds).await?;
    let limits = limits::Limits {
        pg_commits_per_sec: pg_one,
        pg_commits_per_sec_8: pg_eight,
        store_per_sec,
        ..kafka_limits
    };
    println!("{limits:?}");

    println!("setting up users and products");
    let gateway = Gateway::new(&args.gateway)?;
    let fixture = setup(
        gateway.clone(),
        if args.smoke { 2 } else { 8 },
        if args.smoke { 2 } else { 16 },
    )
    .await?;
    let stop = CancellationToken::new();
    let outcomes = follow_outcomes(&kafka, &stop).await?;

    let (order_rates, step_time): (Vec<f64>, _) = if args.smoke {
        (vec![20.0], Duration::from_secs(5))
    } else {
        let rates = [
            5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0, 1280.0, 2560.0, 5120.0,
        ];
        (rates.to_vec(), Duration::from_secs(10))
    };
    let stats = statistics(&args, &kafka).await?;
    let mut orders = Vec::new();
    for rate in order_rates {
        let step = order_step(&fixture, &outcomes, &processes, &stats, rate, step_time).await;
        print_step("orders", &step);
        // Past p99 1 s (the bound) the search goes on while the saga still keeps
        // up, to find where throughput, not latency, gives out.
        let saturated = !step.keeps_up();
        orders.push(step);
        if saturated {
            break;
        }
    }
    let (registration_rates, registration_time): (Vec<f64>, _) = if args.smoke {
        (vec![2.0], Duration::from_secs(3))
    } else {
        (vec![2.0, 4.0, 8.0, 16.0, 32.0], Duration::from_secs(10))
    };
    let mut registrations = Vec::new();
    for rate in registration_rates {
        let step = registration_step(&gateway, &processes, rate, registration_time).await;
        print_step("registration", &step);
        registrations.push(step);
    }
    // The gateway alone: how many place_order it accepts (202 after the broker's ack),
    // once the saga has finished what the order steps left, with the order service
    // paused for each step. A step of 4 s, plus answers that may take the 4 s send
    // timeout, stays within the services' 10 s session timeout.
    let acceptance_rates: Vec<f64> = if args.smoke {
        vec![50.0]
    } else {
        vec![100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0, 6400.0, 12800.0]
    };
    await_rest(&outcomes, Duration::from_secs(5), Duration::from_secs(300)).await;
    let mut acceptance = Vec::new();
    for rate in acceptance_rates {
        let step = accept_step(
            &fixture,
            &outcomes,
            &processes,
            rate,
            Duration::from_secs(4),
        )
        .await;
        print_step("acceptance", &step);
        let saturated = step.accept_ms.1 > 100.0 || step.errors() * 100 > step.sent;
        acceptance.push(step);
        if saturated {
            break;
        }
    }
    stop.cancel();
    let idle_after: Vec<(String, f64)> = processes
        .iter()
        .map(|p| (p.name.clone(), procs::rss_mib(p.pid)))
        .collect();
    let written = report::write(
        &args.out(),
        &report::Run {
            limits,
            orders,
            registrations,
            acceptance,
            idle,
            idle_after,
            smoke: args.smoke,
            label: args.label(),
        },
    )?;
    println!("report written to {}", written.display());
    Ok(())
}
