//! `meta.properties`, a log directory's identity: the cluster and node it belongs to and its
//! own id (KIP-858), in version 1, the only one Kafka 4 reads.
//!
//! Written as Java's `Properties.store` writes it: a `#` line (Kafka's empty comment), a `#`
//! line with the time in `Date.toString`'s form, then `key=value` lines in the order of
//! Java's hash table, which for these keys is `node.id`, `directory.id`, `version`,
//! `cluster.id`. Nothing is escaped: Kafka's values need none (digits, base64url ids).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use tidelog_log::{read_text_file, replace_file, LogError};
use tidelog_protocol::Uuid;

use crate::ids::{uuid_base64, uuid_from_base64};

pub const META_PROPERTIES: &str = "meta.properties";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaProperties {
    pub cluster_id: String,
    pub node_id: i32,
    /// This directory's id; Kafka 3.7 and later give every directory one.
    pub directory_id: Option<Uuid>,
    /// When the file was written, as its comment says it (`Sun Dec 06 05:24:04 UTC 2026`).
    pub written_at: String,
}

impl MetaProperties {
    /// The identity of a directory written at `now`.
    pub fn new(cluster_id: String, node_id: i32, directory_id: Option<Uuid>, now: SystemTime) -> MetaProperties {
        let seconds = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        MetaProperties {
            cluster_id,
            node_id,
            directory_id,
            written_at: java_date(seconds),
        }
    }

    /// The file in `dir`; `None` when there is none.
    pub fn read(dir: &Path) -> Result<Option<MetaProperties>, LogError> {
        read_text_file(&dir.join(META_PROPERTIES), parse)
    }

    /// Replaces the file in `dir` atomically.
    pub fn write(&self, dir: &Path) -> Result<(), LogError> {
        let mut text = format!("#\n#{}\nnode.id={}\n", self.written_at, self.node_id);
        if let Some(id) = self.directory_id {
            text.push_str(&format!("directory.id={}\n", uuid_base64(id)));
        }
        text.push_str(&format!("version=1\ncluster.id={}\n", self.cluster_id));
        replace_file(&dir.join(META_PROPERTIES), text.as_bytes())
    }
}

/// The `key=value` lines of a properties file; comments (`#`, `!`) and blank lines skipped.
pub fn properties(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim_start)
        .filter(|line| !line.starts_with(['#', '!']))
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn parse(text: &str) -> Result<MetaProperties, String> {
    let mut props = properties(text);
    let mut take = |key: &str| props.remove(key).ok_or_else(|| format!("no {key}"));
    match take("version")?.as_str() {
        "1" => {}
        other => return Err(format!("version {other}, not 1")),
    }
    let node_id = take("node.id")?;
    let directory_id = take("directory.id").ok();
    Ok(MetaProperties {
        cluster_id: take("cluster.id")?,
        node_id: node_id.parse().map_err(|_| format!("malformed node.id {node_id:?}"))?,
        directory_id: match directory_id {
            Some(id) => Some(uuid_from_base64(&id).ok_or_else(|| format!("malformed directory.id {id:?}"))?),
            None => None,
        },
        // The date comment Java writes, after its own (empty) one.
        written_at: text
            .lines()
            .filter_map(|line| line.strip_prefix('#'))
            .find(|comment| !comment.is_empty())
            .unwrap_or_default()
            .to_string(),
    })
}

/// `seconds` after the epoch as Java's `Date.toString` prints it in UTC:
/// `EEE MMM dd HH:mm:ss zzz yyyy`.
fn java_date(seconds: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = crate::clock::civil_from_days(days);
    format!(
        "{} {} {day:02} {:02}:{:02}:{:02} UTC {year}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[month as usize - 1],
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::assert_each_corrupt;

    #[test]
    fn dates_are_javas() {
        assert_eq!(java_date(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(java_date(951_782_400), "Tue Feb 29 00:00:00 UTC 2000");
        assert_eq!(java_date(1_796_534_644), "Sun Dec 06 05:24:04 UTC 2026");
        assert_eq!(java_date(-1), "Wed Dec 31 23:59:59 UTC 1969");
    }

    #[test]
    fn a_new_file_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(MetaProperties::read(dir.path()).unwrap(), None);
        let at = UNIX_EPOCH + std::time::Duration::from_secs(1_796_534_644);
        let props = MetaProperties::new("ythC6Rc3SKC1BAOmVz0kPA".into(), 3, None, at);
        props.write(dir.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(META_PROPERTIES)).unwrap(),
            "#\n#Sun Dec 06 05:24:04 UTC 2026\nnode.id=3\nversion=1\ncluster.id=ythC6Rc3SKC1BAOmVz0kPA\n"
        );
        assert_eq!(MetaProperties::read(dir.path()).unwrap(), Some(props));
    }

    #[test]
    fn malformed_files_name_themselves() {
        let dir = tempfile::tempdir().unwrap();
        let texts = [
            "",
            "version=0\nbroker.id=1\ncluster.id=c\n",
            "version=1\ncluster.id=c\n",
            "version=1\nnode.id=x\ncluster.id=c\n",
            "version=1\nnode.id=1\n",
            "version=1\nnode.id=1\ncluster.id=c\ndirectory.id=nope\n",
        ];
        assert_each_corrupt(&dir.path().join(META_PROPERTIES), &texts, || {
            MetaProperties::read(dir.path())
        });
    }
}
