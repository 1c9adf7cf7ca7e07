//! `LIST_DB`'s scaling: one module changed over `DATABASES` databases on
//! one PostgreSQL, updated by 1, 2, 5 and 10 pods started at once; each
//! round's wall time next to one pod's, in one run. Each database's update
//! (the stand-in's) lasts `STEP_MS` without using the CPU, as an update
//! whose work is done by PostgreSQL and by Odoo on another node would:
//! what is measured is how the pods share the databases, not this
//! machine's two cores.
//!
//! Run alone: `cargo bench --bench inits -- many`.

use std::time::{Duration, Instant};

use super::common;
use common::addons;
use common::pg::{Pg, PASSWORD, USER};
use common::{Run, Scratch};

const DATABASES: usize = 60;
const STEP_MS: &str = "300";
const PODS: [usize; 4] = [1, 2, 5, 10];

/// Prints the scaling table.
pub(super) fn scaling() {
    eprintln!("many databases: a throwaway PostgreSQL, {DATABASES} databases ...");
    let pg = Pg::start();
    pg.role(USER, PASSWORD, true);
    let scratch = Scratch::new("bench-many");
    let dir = addons::three(&scratch.path);
    let names: Vec<String> = (0..DATABASES).map(|i| format!("tenant_{i:03}")).collect();
    addons::installed_copies(&pg, &dir, "tenant_model", &names);
    let mut took = Vec::new();
    for (round, pods) in PODS.iter().enumerate() {
        // A new image: m1 changed again, every database to update once.
        addons::write(
            &dir.join("m1/models/main.py"),
            &format!("# m1, image {round}\n"),
        );
        let started = Instant::now();
        let mut runs: Vec<Run> = (0..*pods)
            .map(|_| {
                addons::update_over(&pg, &dir, r"tenant_\d+$")
                    .env("STANDIN_STEP_MS", STEP_MS)
                    .start()
            })
            .collect();
        for run in &mut runs {
            assert_eq!(
                run.wait_exit(Duration::from_secs(1800)),
                0,
                "{}",
                run.stderr()
            );
        }
        took.push(started.elapsed().as_secs_f64());
        for db in &names {
            assert_eq!(pg.updates(db), round + 1, "{db}: once per image");
        }
    }
    let one = took[0];
    println!();
    println!(
        "| LIST_DB: {DATABASES} databases, one module changed, each update {STEP_MS} ms | wall time (s) | faster than one pod | pods |"
    );
    println!("|---|---:|---:|---:|");
    for (pods, secs) in PODS.iter().zip(&took) {
        println!(
            "| {pods} pod(s) started at once, UpdateOnly | {secs:.1} | {:.1}x | {pods} |",
            one / secs
        );
    }
}
