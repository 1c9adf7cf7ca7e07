//! Odoo's config file read as Odoo reads it: odoo-init's reader against
//! Python's own `configparser.RawConfigParser` (what Odoo 15 to 18 use,
//! then `items('options')` and Odoo's renames of old option names), on a
//! table of config files, the tricky ones included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use odoo_init_testkit as common;

use std::collections::HashMap;

/// Each file of the table, read by Python: the options, or `None` where
/// `read_string` raises (Odoo could not start with it).
fn python_reads(files: &[&str]) -> Vec<Option<HashMap<String, String>>> {
    let script = r#"
import configparser, json, sys
renamed = {'xmlrpc_port': 'http_port', 'xmlrpc_interface': 'http_interface', 'xmlrpc': 'http_enable'}
out = []
for text in json.load(sys.stdin):
    p = configparser.RawConfigParser()
    try:
        p.read_string(text)
    except configparser.Error:
        out.append(None)
        continue
    try:
        items = p.items('options')
    except configparser.NoSectionError:
        items = []
    out.append({renamed.get(k, k): v for k, v in items})
json.dump(out, sys.stdout)
"#;
    let input = serde_json::to_string(files).unwrap();
    let out = common::python_stdout(script, &input);
    serde_json::from_slice(&out).unwrap()
}

const FILES: &[&str] = &[
    "[options]\ndb_host = db\ndb_port = 5432\n",
    "[options]\ndb_host: db\ndb_port:5432\n",
    "[options]\nDB_HOST = Upper\nDb_User = Mixed\n",
    "[options]\naddons_path = /mnt/a,\n    /mnt/b,\n\t/mnt/c\n",
    "[options]\naddons_path = /mnt/a,\n\n    /mnt/b\n\n\ndb_host = x\n",
    "[options]\naddons_path = /mnt/a,\n# a comment inside\n    /mnt/b\n",
    "[options]\n  db_host = indented key\ndb_port = 1\n",
    "[options]\ndb_host = x ; not a comment\n; a comment\n# another\n",
    "[options]\ndb_password = a=b:c\nx = = y\n",
    "[options]\nempty =\nspaces =    \ndb_host = False\n",
    "[options]\r\ndb_host = crlf\r\ndb_port = 2\r\n",
    "[DEFAULT]\ndb_host = from default\ndb_user = d\n[options]\ndb_user = own\n",
    "[other]\ndb_host = elsewhere\n",
    "",
    "# just a comment\n",
    "[ options ]\ndb_host = spaced header\n",
    "[options] trailing words\ndb_host = t\n",
    "[options]\nxmlrpc_port = 8070\nxmlrpc_interface = 0.0.0.0\n",
    // Odoo renames in file order: the later of the two names wins.
    "[options]\nxmlrpc_port = 8070\nhttp_port = 8069\n",
    "[options]\nhttp_port = 8069\nxmlrpc_port = 8070\n",
    "[DEFAULT]\nhttp_port = 1\n[options]\nxmlrpc_port = 2\nhttp_port = 3\n",
    "[DEFAULT]\nxmlrpc_port = 1\n[options]\nhttp_port = 3\nxmlrpc_port = 2\n",
    "[options]\nkey with spaces = v\n",
    "[options]\nunicode = café ünïcode\n",
    "[options]\nlast = no newline at the end",
    "[options]\n    \n\ndb_host = after blank lines\n",
    "[options]\na = 1\n  b = 2\nc = 3\n",
    // Refused by Python, so by Odoo.
    "db_host = before any section\n",
    "[options]\ndb_host = a\ndb_host = b\n",
    "[options]\ndb_host = a\nDB_HOST = b\n",
    "[options]\n[options]\n",
    "[options]\njust words\n",
    "[options]\n= no key\n",
    "[]\n",
    "[DEFAULT]\na = 1\n[DEFAULT]\na = 2\n",
];

#[test]
fn odoo_conf_reads_as_pythons_raw_config_parser_reads_it() {
    let oracle = python_reads(FILES);
    assert_eq!(oracle.len(), FILES.len());
    let mut refused = 0;
    for (file, expected) in FILES.iter().zip(oracle) {
        let ours = odoo_init::odoo::rc::parse(file);
        match (&ours, &expected) {
            (Ok(got), Some(want)) => assert_eq!(got, want, "{file:?}"),
            (Err(_), None) => refused += 1,
            _ => panic!("{file:?}: odoo-init read {ours:?}, Python {expected:?}"),
        }
    }
    assert!(
        refused >= 7,
        "the table has files Python refuses: {refused}"
    );
}
