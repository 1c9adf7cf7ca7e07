//! Odoo's arguments read as Odoo reads them: odoo-init's guard rails, its
//! redaction of secrets and its choice of what reaches the steps, against
//! Python's own `optparse` configured with the same options
//! (`odoo_init::odoo::optparse::OPTIONS`, Odoo 15 to 18) as the oracle,
//! on a table of command lines (prefixes, clusters, `=` or a separate
//! value, a value that looks like an option, `--`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use serde_json::{json, Value};
use std::ffi::OsString;

use odoo_init::odoo::args;
use odoo_init::odoo::optparse::OPTIONS;

/// What optparse makes of each command line: `None` where it refuses it
/// (Odoo would not start), else the value of every option (by its long
/// name without `--`).
fn optparse_reads(cases: &[Vec<String>]) -> Vec<Option<serde_json::Map<String, Value>>> {
    let script = r#"
import json, optparse, sys
class Parser(optparse.OptionParser):
    def error(self, msg):
        raise ValueError(msg)
given = json.load(sys.stdin)
parser = Parser(add_help_option=False)
for long, short, takes_value in given["options"]:
    names = [long] + (["-" + short] if short else [])
    parser.add_option(*names, dest=long[2:], action="store" if takes_value else "store_true")
out = []
for argv in given["cases"]:
    try:
        values, positional = parser.parse_args(list(argv))
        out.append({k: v for k, v in vars(values).items() if v is not None and v is not False})
    except ValueError:
        out.append(None)
json.dump(out, sys.stdout)
"#;
    let options: Vec<Value> = OPTIONS
        .iter()
        .map(|o| json!([o.long, o.short.map(String::from), o.takes_value]))
        .collect();
    let input = json!({"options": options, "cases": cases}).to_string();
    let out = common::python_stdout(script, &input);
    let read: Vec<Option<Value>> = serde_json::from_slice(&out).unwrap();
    read.into_iter()
        .map(|v| v.and_then(|v| v.as_object().cloned()))
        .collect()
}

const CASES: &[&[&str]] = &[
    &["-u", "all"],
    &["--upd=all"],
    &["--upda", "all"],
    &["-su", "all"],
    &["-sustock"],
    &["--stop"],
    &["--ini=crm"],
    &["-si", "crm"],
    &["--datab=other"],
    &["-sdother"],
    &["-ssd", "other"],
    &["-d", "odoo"],
    &["-dodoo", "-d", "other"],
    &["--database", "odoo", "--datab", "odoo"],
    &["--database=odoo", "--dev=xml"],
    &["--logfile", "-u"],
    &["--log-handler", "--update"],
    &["--", "-u", "all"],
    &["positional", "-u", "x"],
    &["--workers", "2"],
    &["--u", "all"],
    &["--d", "x"],
    &["--log", "x"],
    &["-D"],
    &["--no-http", "--stop-after-init"],
    &["--db_passw=Sec1"],
    &["--smtp-pass", "Sec2"],
    &["-swSec3"],
    &["-w", "Sec4", "--workers", "2"],
    &["--db_password", "Sec5", "-u", "x"],
    &["-rodoo", "-wSec6"],
    &[
        "--smtp",
        "mail.example",
        "--smtp-user=u",
        "--smtp-password=Sec7",
    ],
    &["-s", "-w", "Sec8", "--db_p", "Sec9"],
    &["-c", "/etc/x.conf", "--addons", "/a", "-D", "/d"],
    &["-sc", "/etc/y.conf", "-sD/data"],
    &["--log-level=debug", "--log-handler", ":INFO", "--log-web"],
    &["--without-demo=all", "-i", "base"],
    &["-p8070", "--http-interface=0.0.0.0", "--proxy-mode"],
    &["-l", "fr_FR", "--load=web,base", "--load-language=fr_FR"],
    &[
        "--db_host",
        "db",
        "--db_port=5433",
        "-r",
        "odoo",
        "--db_sslmode",
        "require",
    ],
    &[
        "--upgrade-path=/u",
        "--db-filter",
        "^odoo$",
        "--pg_path",
        "/usr/bin",
    ],
    &["--test-enable", "--test-tags", ":TestX", "--syslog"],
];

/// Options that reach the steps (what `args::for_steps` must pass on, and
/// nothing else).
const STEP_OPTIONS: &[&str] = &[
    "config",
    "addons-path",
    "upgrade-path",
    "pre-upgrade-scripts",
    "load",
    "data-dir",
    "without-demo",
    "db-filter",
    "db_user",
    "db_host",
    "db_port",
    "db_sslmode",
    "db_maxconn",
    "db-template",
    "pg_path",
    "db_replica_host",
    "db_replica_port",
    "logfile",
    "syslog",
    "log-handler",
    "log-level",
    "log-web",
    "log-sql",
    "log-request",
    "log-response",
    "log-db",
    "log-db-level",
];

fn os(args: &[String]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

#[test]
fn guard_rails_redaction_and_step_options_read_as_optparse_does() {
    let cases: Vec<Vec<String>> = CASES
        .iter()
        .map(|c| c.iter().map(|a| a.to_string()).collect())
        .collect();
    // The steps' share of each case, read by optparse too.
    let for_steps: Vec<Vec<String>> = cases
        .iter()
        .map(|c| {
            args::for_steps(&os(c))
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect()
        })
        .collect();
    let mut all = cases.clone();
    all.extend(for_steps.iter().cloned());
    let read = optparse_reads(&all);
    let (whole, steps) = read.split_at(cases.len());
    let mut refused = 0;
    for (i, case) in cases.iter().enumerate() {
        let Some(values) = &whole[i] else {
            // Odoo would not start: whatever odoo-init says.
            refused += 1;
            continue;
        };
        let text = |k: &str| values.get(k).and_then(Value::as_str);
        let bypasses = values.contains_key("update")
            || values.contains_key("init")
            || values.contains_key("stop-after-init")
            || text("database").is_some_and(|d| d != "odoo");
        let said = args::refused_in_run(&os(case), Some("odoo"));
        assert_eq!(
            said.is_some(),
            bypasses,
            "{case:?}: optparse {values:?}, odoo-init {said:?}"
        );

        let mut argv = vec!["odoo".to_string()];
        argv.extend(case.iter().cloned());
        let shown = args::redacted(&os(&argv));
        for secret in ["db_password", "smtp-password"]
            .iter()
            .filter_map(|k| text(k))
        {
            assert!(
                !shown.iter().any(|w| w.contains(secret)),
                "{case:?}: {secret} shown in {shown:?}"
            );
        }

        let Some(passed) = &steps[i] else {
            panic!(
                "{case:?}: optparse refuses the steps' share {:?}",
                for_steps[i]
            );
        };
        for (key, value) in values {
            let step = STEP_OPTIONS.contains(&key.as_str());
            let got = passed.get(key);
            if step {
                assert_eq!(got, Some(value), "{case:?} -> {:?}: {key}", for_steps[i]);
            }
        }
        for key in passed.keys() {
            assert!(
                STEP_OPTIONS.contains(&key.as_str()),
                "{case:?} -> {:?}: {key} reaches the steps",
                for_steps[i]
            );
        }
    }
    assert!(
        refused >= 3,
        "the table has lines optparse refuses: {refused}"
    );
}
