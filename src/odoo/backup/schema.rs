//! A dump's schema (`pg_restore`'s `pre-data` section: a few statements
//! per table) split into parts that separate transactions can restore at
//! once. One transaction creates a few hundred tables at one server
//! process's pace; two, on two cores, took a third less (docs/benchmark.md).
//!
//! The split follows the dump's own dependencies, the ones `pg_restore
//! --jobs` trusts for the rows and indexes: every entry that depends,
//! directly or not, on a relation (a table, sequence or view: a catalog
//! entry of `pg_class`) goes with the relations it depends on; what
//! depends on none (schemas, types, functions, extensions) is restored
//! first, on its own. Each part keeps the dump's order, so an entry still
//! comes after everything it depends on, within its part or before it.
//! Knows nothing of Odoo: only of what `pg_restore --verbose` writes.

/// `pg_class`: the catalog of relations, as the dump names an entry's kind.
const RELATION: &str = "1259";

/// An entry of the schema, as `pg_restore --verbose --file=-` heads it
/// (`-- TOC entry 217 (class 1259 OID 16385)`, `-- Dependencies: 216 25`).
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    id: u32,
    relation: bool,
    depends_on: Vec<u32>,
}

/// The entries of a schema script, in its order. A head is a `--` line,
/// the entry's line, then its dependencies' if it has any: the same words
/// inside a definition (a function's body) are not taken for one.
fn entries(script: &str) -> Vec<Entry> {
    let mut found: Vec<Entry> = Vec::new();
    let (mut previous, mut in_head) = ("", false);
    for line in script.lines() {
        let head = line
            .strip_prefix("-- TOC entry ")
            .filter(|_| previous == "--");
        if let Some(rest) = head {
            // `217 (class 1259 OID 16385)`
            let mut words = rest.split_whitespace();
            let id = words.next().and_then(|w| w.parse().ok());
            let class = words.nth(1);
            if let Some(id) = id {
                found.push(Entry {
                    id,
                    relation: class == Some(RELATION),
                    depends_on: Vec::new(),
                });
            }
        } else if let Some(rest) = line.strip_prefix("-- Dependencies:").filter(|_| in_head) {
            if let Some(entry) = found.last_mut() {
                let ids = rest
                    .split_whitespace()
                    .filter_map(|w| w.parse::<u32>().ok());
                entry.depends_on.extend(ids);
            }
        }
        in_head = head.is_some();
        previous = line;
    }
    found
}

/// How a schema is restored: `first` on its own, then each of `parts` in
/// a transaction of its own, all at once. Entry ids, in the dump's order.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Split {
    pub(super) first: Vec<u32>,
    pub(super) parts: Vec<Vec<u32>>,
}

/// The schema script `script` (`pg_restore --verbose --section=pre-data
/// --file=-`) split into at most `jobs` parts; `None` when fewer than two
/// parts would have work (one transaction then, as before).
pub(super) fn split(script: &str, jobs: usize) -> Option<Split> {
    let entries = entries(script);
    let at: std::collections::HashMap<u32, usize> =
        entries.iter().enumerate().map(|(i, e)| (e.id, i)).collect();
    // Which entries depend on a relation, in the dump's order: an entry's
    // dependencies come before it.
    let mut grouped = vec![false; entries.len()];
    let mut group: Vec<usize> = (0..entries.len()).collect();
    for (i, entry) in entries.iter().enumerate() {
        let deps: Vec<usize> = entry
            .depends_on
            .iter()
            .filter_map(|d| at.get(d).copied())
            .collect();
        grouped[i] = entry.relation || deps.iter().any(|&d| grouped[d]);
        for d in deps.into_iter().filter(|&d| grouped[d]) {
            join(&mut group, i, d);
        }
    }
    // The groups, largest first, each into the part with least work so far.
    let mut members: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for i in (0..entries.len()).filter(|&i| grouped[i]) {
        let root = root(&mut group, i);
        members.entry(root).or_default().push(i);
    }
    let mut groups: Vec<Vec<usize>> = members.into_values().collect();
    groups.sort_by_key(|g| std::cmp::Reverse(g.len()));
    let mut parts: Vec<Vec<usize>> = vec![Vec::new(); jobs.max(1)];
    for g in groups {
        if let Some(part) = parts.iter_mut().min_by_key(|p| p.len()) {
            part.extend(g);
        }
    }
    parts.retain(|p| !p.is_empty());
    if parts.len() < 2 {
        return None;
    }
    let ids = |mut at: Vec<usize>| {
        at.sort_unstable();
        at.into_iter().map(|i| entries[i].id).collect::<Vec<u32>>()
    };
    Some(Split {
        first: ids((0..entries.len()).filter(|&i| !grouped[i]).collect()),
        parts: parts.into_iter().map(ids).collect(),
    })
}

/// The group `i` is in (union-find, its paths halved on the way).
fn root(group: &mut [usize], mut i: usize) -> usize {
    while group[i] != i {
        group[i] = group[group[i]];
        i = group[i];
    }
    i
}

fn join(group: &mut [usize], a: usize, b: usize) {
    let (a, b) = (root(group, a), root(group, b));
    group[a.max(b)] = a.min(b);
}

/// A list for `pg_restore --use-list`: an entry id per line.
pub(super) fn list(ids: &[u32]) -> String {
    ids.iter().map(|id| format!("{id}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The heads `pg_restore --verbose` (PostgreSQL 15) wrote for a schema
    /// `s2`, a type, a function, a table using both, its serial sequence,
    /// a child table inheriting it, a table with a standalone sequence's
    /// default and a view over two tables, and a lone table.
    const SCRIPT: &str = "\
--\n-- TOC entry 7 (class 2615 OID 240043)\n-- Name: s2; Type: SCHEMA; Schema: -; Owner: -\n\
--\n-- TOC entry 882 (class 1247 OID 240126)\n-- Name: mood; Type: TYPE; Schema: public; Owner: -\n\
--\n-- TOC entry 256 (class 1255 OID 240131)\n-- Name: f(integer); Type: FUNCTION; Schema: public; Owner: -\n\
--\n-- TOC entry 219 (class 1259 OID 240149)\n-- Name: ir_sequence_001; Type: SEQUENCE; Schema: public; Owner: -\n\
--\n-- TOC entry 222 (class 1259 OID 240160)\n-- Name: t3; Type: TABLE; Schema: public; Owner: -\n\
--\n-- TOC entry 3441 (class 0 OID 0)\n-- Dependencies: 222\n-- Name: TABLE t3; Type: COMMENT; Schema: public; Owner: -\n\
--\n-- TOC entry 217 (class 1259 OID 240133)\n-- Dependencies: 256 882\n-- Name: res_partner; Type: TABLE; Schema: public; Owner: -\n\
--\n-- TOC entry 216 (class 1259 OID 240132)\n-- Dependencies: 217\n-- Name: res_partner_id_seq; Type: SEQUENCE; Schema: public; Owner: -\n\
--\n-- TOC entry 220 (class 1259 OID 240150)\n-- Dependencies: 219\n-- Name: t2; Type: TABLE; Schema: public; Owner: -\n\
--\n-- TOC entry 223 (class 1259 OID 240165)\n-- Dependencies: 220 217 217 220\n-- Name: v; Type: VIEW; Schema: public; Owner: -\n\
--\n-- TOC entry 218 (class 1259 OID 240142)\n-- Dependencies: 256 217 882 7\n-- Name: child; Type: TABLE; Schema: s2; Owner: -\n\
--\n-- TOC entry 3273 (class 2604 OID 240136)\n-- Dependencies: 216 217 217\n-- Name: res_partner id; Type: DEFAULT; Schema: public; Owner: -\n";

    #[test]
    fn what_depends_on_a_relation_goes_with_it_and_the_rest_first() {
        // res_partner, its sequence and default, its child, the view over
        // it and t2, t2's sequence: one part; t3 and its comment: another.
        let expected = Split {
            first: vec![7, 882, 256],
            parts: vec![vec![219, 217, 216, 220, 223, 218, 3273], vec![222, 3441]],
        };
        assert_eq!(split(SCRIPT, 2), Some(expected));
    }

    #[test]
    fn one_group_or_one_job_is_not_split() {
        assert_eq!(split(SCRIPT, 1), None);
        let one = "--\n-- TOC entry 5 (class 1259 OID 1)\n--\n-- TOC entry 6 (class 0 OID 0)\n-- Dependencies: 5\n";
        assert_eq!(split(one, 4), None);
        assert_eq!(split("", 2), None);
    }

    #[test]
    fn heads_inside_a_definition_are_not_entries() {
        let body = "--\n-- TOC entry 5 (class 1255 OID 1)\n\
            CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$\n\
            -- TOC entry 9 (class 1259 OID 9)\n-- Dependencies: 7\nSELECT 1 $$;\n";
        let only = Entry {
            id: 5,
            relation: false,
            depends_on: vec![],
        };
        assert_eq!(entries(body), vec![only]);
    }

    #[test]
    fn groups_are_spread_by_size_and_keep_the_dump_order() {
        let script: String = (1..=5)
            .map(|i| format!("--\n-- TOC entry {i} (class 1259 OID {i})\n"))
            .collect();
        let expected = Split {
            first: vec![],
            parts: vec![vec![1, 3, 5], vec![2, 4]],
        };
        assert_eq!(split(&script, 2), Some(expected));
        assert_eq!(list(&[2, 4]), "2\n4\n");
    }
}
