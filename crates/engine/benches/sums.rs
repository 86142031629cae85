//! Benchmark: what an exact sum costs against a float sum — 10 M amounts with cents (and as
//! many ratios), alone and over 1,000 groups, as plain loops and as DataFusion aggregates
//! (`SUM` against `tablero_sum`, grouped).
//!
//! Run with `cargo bench -p tablero-engine --bench sums` (`TABLERO_BENCH_ROWS` changes the
//! count). Under `cargo test` it runs once on a small data set, so it cannot rot.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use tablero_engine::exact_sum::{self, ExactSum, Output};

/// SplitMix64, so every run sees the same values.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

const GROUPS: u64 = 1_000;

fn sums(c: &mut Criterion) {
    let quick = !std::env::args().any(|a| a == "--bench");
    let rows: usize = std::env::var("TABLERO_BENCH_ROWS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(if quick { 5_000 } else { 10_000_000 });
    let mut rng = Rng(7);
    let amounts: Vec<f64> = (0..rows)
        .map(|_| (rng.next() % 10_000_000) as f64 / 100.0)
        .collect();
    let ratios: Vec<f64> = (0..rows)
        .map(|_| (rng.next() >> 11) as f64 / (1u64 << 53) as f64 * 3.7 - 1.2)
        .collect();
    let groups: Vec<usize> = (0..rows).map(|_| (rng.next() % GROUPS) as usize).collect();

    let mut group = c.benchmark_group("sums");
    group.sample_size(10);
    for (name, values) in [("amounts", &amounts), ("ratios", &ratios)] {
        group.bench_function(format!("float sum, {rows} {name}"), |b| {
            b.iter(|| black_box(values.iter().sum::<f64>()))
        });
        group.bench_function(format!("exact sum, {rows} {name}"), |b| {
            b.iter(|| {
                let mut sum = ExactSum::new();
                values.iter().for_each(|&x| sum.add(x));
                black_box(sum.value())
            })
        });
        group.bench_function(
            format!("float sums, {rows} {name} in {GROUPS} groups"),
            |b| {
                b.iter(|| {
                    let mut sums = vec![0.0; GROUPS as usize];
                    for (&x, &g) in values.iter().zip(&groups) {
                        sums[g] += x;
                    }
                    black_box(sums)
                })
            },
        );
        group.bench_function(
            format!("exact sums, {rows} {name} in {GROUPS} groups"),
            |b| {
                b.iter(|| {
                    let mut sums = vec![ExactSum::new(); GROUPS as usize];
                    for (&x, &g) in values.iter().zip(&groups) {
                        sums[g].add(x);
                    }
                    black_box(sums.iter().map(ExactSum::value).count())
                })
            },
        );
    }

    // The aggregates in DataFusion, over two partitions as the engine loads a file.
    let schema = Arc::new(Schema::new(vec![
        Field::new("g", DataType::Int64, false),
        Field::new("x", DataType::Float64, false),
    ]));
    let batches: Vec<RecordBatch> = (0..rows)
        .step_by(8192)
        .map(|from| {
            let to = (from + 8192).min(rows);
            let g: Int64Array = groups[from..to].iter().map(|&g| g as i64).collect();
            let x = Float64Array::from(amounts[from..to].to_vec());
            let columns: Vec<ArrayRef> = vec![Arc::new(g), Arc::new(x)];
            RecordBatch::try_new(schema.clone(), columns).expect("batch")
        })
        .collect();
    let mut partitions = vec![Vec::new(), Vec::new()];
    for (i, batch) in batches.into_iter().enumerate() {
        partitions[i % 2].push(batch);
    }
    let ctx = SessionContext::new();
    let table = MemTable::try_new(schema, partitions).expect("table");
    ctx.register_table("r", Arc::new(table))
        .expect("registered");
    ctx.register_udaf(exact_sum::udaf(Output::Rounded));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    for function in ["sum", "tablero_sum"] {
        let sql = format!("SELECT g, {function}(x) FROM r GROUP BY g");
        group.bench_function(
            format!("{function}, {rows} amounts in {GROUPS} groups"),
            |b| {
                b.iter(|| {
                    runtime.block_on(async {
                        let frame = ctx.sql(&sql).await.expect("planned");
                        frame.collect().await.expect("computed")
                    })
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, sums);
criterion_main!(benches);
