//! Criterion benchmarks of a password grant's user lookup: the TOML directory's map, and the
//! PostgreSQL directory answering from its warm cache (no query) and cold (`cache_ttl = "0s"`:
//! one query each). The PostgreSQL ones need `TOKENGATE_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`) and are left out, with a line saying so, without
//! it; they work in a schema of their own, dropped at the end.
//! Run: `cargo bench --bench directory`.

// A failed assumption in a test or a bench is a failure to see, not a request to survive.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use tokengate::config::{Source, load_with_env};
use tokengate::engine::UserDirectory;

const CLIENT: &str = r#"
[signing]
secret = "bench-signing-secret-0123456789abcdef0123"
[[client]]
id = "app"
[[route]]
dialect = "owin"
path = "/Token"
anonymous_client = "app"
"#;

const HASH: &str =
    "AQAAAAEAACcQAAAAEEuDadNhS43CcoT+bEs9k3FbuDtV0ZCctNanqdcBvDP8kOJK9NmOtQYwR7u8GrnhpQ==";

fn directory(text: &str) -> Arc<dyn UserDirectory> {
    let settings = load_with_env(&Source::Text(text.into()), false).expect("bench config");
    settings.users.open(&settings.directory).expect("directory")
}

/// A schema with one user, or `None` without the database.
fn schema(
    runtime: &tokio::runtime::Runtime,
    url: &str,
) -> Option<(tokio_postgres::Client, String)> {
    runtime.block_on(async {
        let (client, connection) = tokio::time::timeout(
            std::time::Duration::from_secs(3),
            tokio_postgres::connect(url, tokio_postgres::NoTls),
        )
        .await
        .ok()?
        .ok()?;
        tokio::spawn(connection);
        let name = format!("tg_bench_{}", std::process::id());
        let ddl = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/postgres/identity_core.sql"),
        )
        .expect("schema file");
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS \"{name}\" CASCADE; CREATE SCHEMA \"{name}\"; \
                 SET search_path TO \"{name}\";\n{ddl}\n\
                 INSERT INTO \"AspNetUsers\" (\"Id\", \"UserName\", \"NormalizedUserName\", \
                 \"EmailConfirmed\", \"PasswordHash\", \"PhoneNumberConfirmed\", \"TwoFactorEnabled\", \
                 \"LockoutEnabled\", \"AccessFailedCount\") VALUES ('u-1', 'bench@example.com', \
                 'BENCH@EXAMPLE.COM', true, '{HASH}', false, false, true, 0);"
            ))
            .await
            .expect("schema");
        Some((client, name))
    })
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let toml = directory(&format!(
        "{CLIENT}\n[[user]]\nusername = \"bench@example.com\"\nid = \"u-1\"\npassword_hash = \"{HASH}\"\n"
    ));
    c.bench_function("directory/toml_by_name", |b| {
        b.iter(|| runtime.block_on(toml.by_name(black_box("bench@example.com"))))
    });

    let url = std::env::var("TOKENGATE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let Some((client, name)) = schema(&runtime, &url) else {
        eprintln!("postgres unreachable at {url}: the postgres lookups are not measured");
        return;
    };
    let postgres = |extra: &str| {
        directory(&format!(
            "{CLIENT}\n[directory]\nkind = \"postgres\"\nurl = \"{url}\"\ntable_schema = \"{name}\"\n{extra}\n"
        ))
    };
    let warm = postgres("cache_ttl = \"1h\"");
    runtime
        .block_on(warm.by_name("bench@example.com"))
        .expect("found");
    c.bench_function("directory/postgres_by_name_cached", |b| {
        b.iter(|| runtime.block_on(warm.by_name(black_box("bench@example.com"))))
    });
    let cold = postgres("cache_ttl = \"0s\"");
    c.bench_function("directory/postgres_by_name_query", |b| {
        b.iter(|| runtime.block_on(cold.by_name(black_box("bench@example.com"))))
    });
    let stats = cold.stats();
    eprintln!(
        "postgres directory: {} lookups answered by a query (cold), warm cache hits {}",
        stats.queries,
        warm.stats().hits
    );
    runtime.block_on(async {
        let _ = client
            .batch_execute(&format!("DROP SCHEMA \"{name}\" CASCADE"))
            .await;
    });
}

criterion_group!(directory_benches, benches);
criterion_main!(directory_benches);
