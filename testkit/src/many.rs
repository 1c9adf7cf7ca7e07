//! Many databases on one server (`LIST_DB`), as the tests make them: three
//! Odoo databases and one without Odoo, and pods over them.

use super::pg::{Pg, PASSWORD, USER};
use super::{Setup, LONG};

/// The Odoo databases of [`server`].
pub const ODOOS: [&str; 3] = ["shop_a", "shop_b", "shop_c"];

/// Three Odoo databases (installed by the stand-in) and one without Odoo.
pub fn server() -> Pg {
    let pg = Pg::start();
    pg.role(USER, PASSWORD, true);
    for db in ODOOS {
        let mut run = pg.job("InstallOnly").env("DB_NAME", db).start();
        assert_eq!(run.wait_exit(LONG), 0, "{}", run.stderr());
    }
    pg.database("plain", USER);
    pg
}

/// `mode` over the databases `LIST_DB` chooses.
pub fn over_all<'a>(pg: &Pg, mode: &str) -> Setup<'a> {
    let mut s = Setup::main_job(mode)
        .env("LIST_DB", "True")
        .env("DB_USER", USER)
        .env("DB_PASSWORD", PASSWORD);
    for (k, v) in pg.host_env() {
        s = s.env(k, v);
    }
    s
}

/// `UpdateOnly` of everything over the databases `LIST_DB` chooses.
pub fn update_all<'a>(pg: &Pg) -> Setup<'a> {
    over_all(pg, "UpdateOnly").env("UPDATE", "all")
}

/// How many updates each of `ODOOS` got (its own `Updating` rows that
/// ended `Ready`), and whether `plain` got a state table.
pub fn updated(pg: &Pg) -> (Vec<usize>, bool) {
    let counts = ODOOS.iter().map(|db| pg.updates(db)).collect();
    (counts, pg.states("plain").is_some())
}
