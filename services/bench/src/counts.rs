//! What one confirmed order costs in work, not time: PostgreSQL's transactions, rows
//! written, statements and WAL flushes (its statistics views), the MongoDB-protocol
//! server's operations (`serverStatus`) and the records produced to each topic, read
//! before and after a step. Counts do not drift with the machine's load as CPU time
//! does, so a change shows in them even on a busy machine.

use std::collections::BTreeMap;

use mongodb::bson::{doc, Bson};
use sqlx::PgPool;

/// The PostgreSQL statistics of one database, or of the cluster (`wal_syncs`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PgCounts {
    /// Transactions committed.
    pub commits: f64,
    /// Rows inserted, updated or deleted.
    pub rows_written: f64,
    /// Statements run, when `pg_stat_statements` is loaded.
    pub statements: Option<f64>,
}

/// The counts of every platform database, and the cluster's WAL flushes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Database → its counts.
    pub databases: BTreeMap<String, PgCounts>,
    /// WAL flushes to disk (`pg_stat_wal.wal_sync`), cluster-wide.
    pub wal_syncs: f64,
    /// Operations the MongoDB-protocol server counted, where it says.
    pub mongo_operations: Option<f64>,
    /// Topic → records produced to it.
    pub produced: BTreeMap<String, f64>,
}

/// Where the counts are read: PostgreSQL's statistics views, the MongoDB-protocol
/// server and the broker.
pub struct Stores {
    /// A connection to PostgreSQL.
    pub pg: PgPool,
    /// A client of the MongoDB-protocol server.
    pub mongo: mongodb::Client,
    /// The topics' ends.
    pub topics: crate::produced::TopicEnds,
}

/// The platform's databases: what the services own.
const DATABASES: &str = "datname LIKE 'commerce\\_%'";

/// Reads the counts now. Statements stay `None` where `pg_stat_statements` is not
/// loaded (`./dev` loads it in the clusters it starts).
pub async fn snapshot(stores: &Stores) -> anyhow::Result<Snapshot> {
    let pool = &stores.pg;
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(&format!(
        "SELECT datname, xact_commit, tup_inserted + tup_updated + tup_deleted
         FROM pg_stat_database WHERE {DATABASES}"
    ))
    .fetch_all(pool)
    .await?;
    let statements = statements(pool).await;
    let databases = rows
        .into_iter()
        .map(|(name, commits, rows_written)| {
            let counts = PgCounts {
                commits: commits as f64,
                rows_written: rows_written as f64,
                statements: statements
                    .as_ref()
                    .map(|s| s.get(&name).copied().unwrap_or(0.0)),
            };
            (name, counts)
        })
        .collect();
    let wal_syncs: i64 = sqlx::query_scalar("SELECT wal_sync FROM pg_stat_wal")
        .fetch_one(pool)
        .await?;
    Ok(Snapshot {
        databases,
        wal_syncs: wal_syncs as f64,
        mongo_operations: mongo_operations(&stores.mongo).await,
        produced: stores
            .topics
            .read()
            .await?
            .into_iter()
            .map(|(topic, end)| (topic, end as f64))
            .collect(),
    })
}

/// Every operation the MongoDB-protocol server has counted (`serverStatus`'s
/// `opcounters`: inserts, queries, updates, deletes, getMores and commands, which include
/// transactions' commits and the drivers' heartbeats); `None` where it does not say.
async fn mongo_operations(mongo: &mongodb::Client) -> Option<f64> {
    let status = mongo
        .database("admin")
        .run_command(doc! { "serverStatus": 1 })
        .await
        .ok()?;
    let counters = status.get_document("opcounters").ok()?;
    let count = |value: &Bson| match value {
        Bson::Int32(n) => Some(f64::from(*n)),
        Bson::Int64(n) => Some(*n as f64),
        Bson::Double(n) => Some(*n),
        _ => None,
    };
    Some(counters.values().filter_map(count).sum())
}

/// Makes `pg_stat_statements` readable where the server loaded it; elsewhere the
/// statements stay unknown. Once, before the first [`snapshot`].
pub async fn prepare(pool: &PgPool) {
    let created = sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .execute(pool)
        .await;
    if let Err(err) = created {
        eprintln!("statements per order unknown: {err}");
    }
}

/// Statements run per database, or `None` when the extension is not there.
async fn statements(pool: &PgPool) -> Option<BTreeMap<String, f64>> {
    let rows: Vec<(String, f64)> = sqlx::query_as(&format!(
        "SELECT d.datname, sum(s.calls)::float8 FROM pg_stat_statements s
         JOIN pg_database d ON d.oid = s.dbid WHERE d.{DATABASES} GROUP BY d.datname"
    ))
    .fetch_all(pool)
    .await
    .ok()?;
    Some(rows.into_iter().collect())
}

/// What changed from `before` to `after`, divided by `orders`: the cost of one order.
pub fn per_order(before: &Snapshot, after: &Snapshot, orders: f64) -> Snapshot {
    let orders = orders.max(1.0);
    let databases = after
        .databases
        .iter()
        .map(|(name, now)| {
            let was = before.databases.get(name).copied().unwrap_or_default();
            let counts = PgCounts {
                commits: (now.commits - was.commits) / orders,
                rows_written: (now.rows_written - was.rows_written) / orders,
                statements: now
                    .statements
                    .zip(was.statements.or(Some(0.0)))
                    .map(|(now, was)| (now - was) / orders),
            };
            (name.clone(), counts)
        })
        .collect();
    Snapshot {
        databases,
        wal_syncs: (after.wal_syncs - before.wal_syncs) / orders,
        mongo_operations: after
            .mongo_operations
            .zip(before.mongo_operations)
            .map(|(now, was)| (now - was) / orders),
        produced: after
            .produced
            .iter()
            .map(|(topic, now)| {
                let was = before.produced.get(topic).copied().unwrap_or_default();
                (topic.clone(), (now - was) / orders)
            })
            .filter(|(_, produced)| *produced > 0.0)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cost_of_an_order_is_the_change_divided_by_the_orders() {
        let at = |commits, rows, statements, wal| Snapshot {
            databases: BTreeMap::from([(
                "commerce_order".to_string(),
                PgCounts {
                    commits,
                    rows_written: rows,
                    statements,
                },
            )]),
            wal_syncs: wal,
            mongo_operations: Some(wal * 10.0),
            produced: BTreeMap::from([("order.events".to_string(), wal * 3.0)]),
        };
        let cost = per_order(
            &at(10.0, 100.0, Some(50.0), 7.0),
            &at(30.0, 160.0, Some(150.0), 27.0),
            10.0,
        );
        assert_eq!(cost, at(2.0, 6.0, Some(10.0), 2.0),);
        let unknown = Snapshot {
            mongo_operations: None,
            ..at(0.0, 0.0, None, 0.0)
        };
        let cost = per_order(&unknown, &at(4.0, 4.0, None, 4.0), 2.0);
        assert_eq!(cost.mongo_operations, None);
        let unloaded = per_order(&at(0.0, 0.0, None, 0.0), &at(4.0, 4.0, None, 4.0), 2.0);
        assert_eq!(unloaded.databases["commerce_order"].statements, None);
    }
}
