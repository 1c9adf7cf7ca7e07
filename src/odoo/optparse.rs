//! Odoo's command line read as Odoo reads it: Python's `optparse` with
//! Odoo's options (`odoo/tools/config.py`, the union of 15 to 18). What
//! optparse accepts, this reads the same way: a long option by any
//! unambiguous prefix (`--upd` is `--update`; an exact name wins over a
//! longer one), its value after `=` or in the next argument; short options
//! clustered (`-su all` is `-s` then `-u all`, `-sustock` is `-s` then
//! `-u stock`), a value option taking the rest of its argument or the
//! next one; the next argument is a value whatever it looks like (`--logfile
//! -u` logs to a file named `-u`); `--` ends the options. Used by the guard
//! rails, the redaction of secrets and the choice of what reaches the steps
//! (`super::args`); the tests check it against Python's own `optparse`.

/// One of Odoo's options: its long name, its short letter, whether it
/// takes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OdooOption {
    pub long: &'static str,
    pub short: Option<char>,
    pub takes_value: bool,
}

const fn value(long: &'static str, short: Option<char>) -> OdooOption {
    OdooOption {
        long,
        short,
        takes_value: true,
    }
}

const fn flag(long: &'static str, short: Option<char>) -> OdooOption {
    OdooOption {
        long,
        short,
        takes_value: false,
    }
}

/// Odoo's options, 15 to 18 together (an option one version lacks makes
/// some prefixes ambiguous here that it accepts: the guard rails then count
/// the prefix as every option it may name), and optparse's own.
pub const OPTIONS: &[OdooOption] = &[
    flag("--help", Some('h')),
    flag("--version", None),
    // Common options.
    value("--config", Some('c')),
    flag("--save", Some('s')),
    value("--init", Some('i')),
    value("--update", Some('u')),
    value("--without-demo", None),
    flag("--with-demo", None),
    value("--import-partial", Some('P')),
    value("--pidfile", None),
    value("--addons-path", None),
    value("--upgrade-path", None),
    value("--pre-upgrade-scripts", None),
    value("--load", None),
    value("--data-dir", Some('D')),
    // HTTP.
    value("--http-interface", None),
    value("--http-port", Some('p')),
    value("--longpolling-port", None),
    value("--gevent-port", None),
    flag("--no-http", None),
    flag("--proxy-mode", None),
    flag("--x-sendfile", None),
    value("--xmlrpc-interface", None),
    value("--xmlrpc-port", None),
    flag("--no-xmlrpc", None),
    // Web.
    value("--db-filter", None),
    // Testing.
    value("--test-file", None),
    value("--test-report-directory", None),
    flag("--test-enable", None),
    value("--test-tags", None),
    flag("--test-commit", None),
    value("--screencasts", None),
    value("--screenshots", None),
    // Logging.
    value("--logfile", None),
    flag("--logrotate", None),
    flag("--syslog", None),
    value("--log-handler", None),
    flag("--log-web", None),
    flag("--log-sql", None),
    flag("--log-request", None),
    flag("--log-response", None),
    value("--log-db", None),
    value("--log-db-level", None),
    value("--log-level", None),
    // SMTP.
    value("--email-from", None),
    value("--from-filter", None),
    value("--smtp", None),
    value("--smtp-port", None),
    flag("--smtp-ssl", None),
    value("--smtp-user", None),
    value("--smtp-password", None),
    value("--smtp-ssl-certificate-filename", None),
    value("--smtp-ssl-private-key-filename", None),
    // Database.
    value("--database", Some('d')),
    value("--db_user", Some('r')),
    value("--db_password", Some('w')),
    value("--pg_path", None),
    value("--db_host", None),
    value("--db_replica_host", None),
    value("--db_port", None),
    value("--db_replica_port", None),
    value("--db_sslmode", None),
    value("--db_maxconn", None),
    value("--db_maxconn_gevent", None),
    value("--db-template", None),
    value("--db_app_name", None),
    // Internationalisation.
    value("--load-language", None),
    value("--language", Some('l')),
    value("--i18n-export", None),
    value("--i18n-import", None),
    flag("--i18n-overwrite", None),
    value("--modules", None),
    // Security.
    flag("--no-database-list", None),
    // Advanced.
    value("--dev", None),
    value("--shell-interface", None),
    flag("--stop-after-init", None),
    value("--osv-memory-count-limit", None),
    value("--osv-memory-age-limit", None),
    value("--transient-age-limit", None),
    value("--max-cron-threads", None),
    value("--limit-time-worker-cron", None),
    flag("--unaccent", None),
    value("--geoip-db", None),
    value("--geoip-city-db", None),
    value("--geoip-country-db", None),
    // Multiprocessing.
    value("--workers", None),
    value("--limit-memory-soft", None),
    value("--limit-memory-soft-gevent", None),
    value("--limit-memory-hard", None),
    value("--limit-memory-hard-gevent", None),
    value("--limit-time-cpu", None),
    value("--limit-time-real", None),
    value("--limit-time-real-cron", None),
    value("--limit-request", None),
    // Websocket.
    value("--websocket-keep-alive-timeout", None),
    value("--websocket-rate-limit-burst", None),
    value("--websocket-rate-limit-delay", None),
];

/// Where a value stands in the arguments: argument `arg`, from byte `at`
/// (0: the whole argument; otherwise attached after `=` or a letter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueAt {
    pub arg: usize,
    pub at: usize,
}

/// One option as optparse took it from the arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    /// The options it may be: one, or (a prefix ambiguous here) several.
    pub options: Vec<&'static OdooOption>,
    /// The argument that names it.
    pub arg: usize,
    /// Its value and where it stands (value options).
    pub value: Option<(String, ValueAt)>,
    /// A value option with no value left: optparse stops with an error.
    pub missing_value: bool,
}

impl Taken {
    /// True when it is (or may be) `long`.
    pub fn is(&self, long: &str) -> bool {
        self.options.iter().any(|o| o.long == long)
    }
}

/// The options of `args` (no program name), in their order, as optparse
/// takes them; arguments that name no option (positional, unknown) are
/// passed over, as are those after `--`.
pub fn options_of(args: &[String]) -> Vec<Taken> {
    let mut taken = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if arg == "--" {
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, attached) = match long.split_once('=') {
                Some((name, v)) => (name, Some(v)),
                None => (long, None),
            };
            let options = matching(name);
            let takes_value = options.iter().any(|o| o.takes_value);
            let mut t = Taken {
                options,
                arg: i,
                value: None,
                missing_value: false,
            };
            if let Some(v) = attached {
                // `--name=value`: optparse puts the value back as the next
                // argument, whether the option takes one or not.
                let at = ValueAt {
                    arg: i,
                    at: arg.len() - v.len(),
                };
                t.value = Some((v.to_string(), at));
            } else if takes_value {
                match args.get(i + 1) {
                    Some(v) => {
                        t.value = Some((v.clone(), ValueAt { arg: i + 1, at: 0 }));
                        i += 1;
                    }
                    None => t.missing_value = true,
                }
            }
            if !t.options.is_empty() {
                taken.push(t);
            }
            i += 1;
            continue;
        }
        if arg.len() > 1 && arg.starts_with('-') {
            // A cluster of short options; a value option takes the rest.
            for (at, ch) in arg.char_indices().skip(1) {
                let Some(option) = OPTIONS.iter().find(|o| o.short == Some(ch)) else {
                    // optparse stops with "no such option": the rest is Odoo's error.
                    break;
                };
                let mut t = Taken {
                    options: vec![option],
                    arg: i,
                    value: None,
                    missing_value: false,
                };
                if option.takes_value {
                    let rest = at + ch.len_utf8();
                    if rest < arg.len() {
                        t.value = Some((arg[rest..].to_string(), ValueAt { arg: i, at: rest }));
                    } else if let Some(v) = args.get(i + 1) {
                        t.value = Some((v.clone(), ValueAt { arg: i + 1, at: 0 }));
                        i += 1;
                    } else {
                        t.missing_value = true;
                    }
                    taken.push(t);
                    break;
                }
                taken.push(t);
            }
        }
        i += 1;
    }
    taken
}

/// The options `name` (without `--`) names: the one of that exact name,
/// else every one it is a prefix of (more than one: optparse refuses it as
/// ambiguous).
fn matching(name: &str) -> Vec<&'static OdooOption> {
    let exact = OPTIONS.iter().find(|o| &o.long[2..] == name);
    match exact {
        Some(o) => vec![o],
        None if name.is_empty() => Vec::new(),
        None => OPTIONS
            .iter()
            .filter(|o| o.long[2..].starts_with(name))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    fn names(args: &[&str]) -> Vec<(String, Option<String>)> {
        options_of(&words(args))
            .into_iter()
            .map(|t| {
                let names: Vec<&str> = t.options.iter().map(|o| o.long).collect();
                (names.join("|"), t.value.map(|(v, _)| v))
            })
            .collect()
    }

    #[test]
    fn prefixes_clusters_and_values_are_read_as_optparse_reads_them() {
        let one = |n: &str, v: Option<&str>| (n.to_string(), v.map(str::to_string));
        assert_eq!(names(&["--upd=all"]), [one("--update", Some("all"))]);
        assert_eq!(names(&["--upda", "all"]), [one("--update", Some("all"))]);
        assert_eq!(
            names(&["-su", "all"]),
            [one("--save", None), one("--update", Some("all"))]
        );
        assert_eq!(
            names(&["-sustock"]),
            [one("--save", None), one("--update", Some("stock"))]
        );
        assert_eq!(names(&["--stop"]), [one("--stop-after-init", None)]);
        assert_eq!(names(&["--logfile", "-u"]), [one("--logfile", Some("-u"))]);
        assert_eq!(names(&["--", "-u", "all"]), []);
        // An exact name wins over the longer ones it is a prefix of.
        assert_eq!(names(&["--smtp", "mail"]), [one("--smtp", Some("mail"))]);
        assert_eq!(names(&["--log", "x"]).len(), 1);
        assert!(names(&["--log", "x"])[0].0.contains('|'), "ambiguous");
    }
}
