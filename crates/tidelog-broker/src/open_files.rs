//! The process's open-file limit, and the budget of segment and index files the log keeps
//! open within it (`log.open.files.max`, see `tidelog_log`'s file cache).
//!
//! A start raises the soft limit to the hard one: the default soft limit (1024 on many
//! systems) is what users hit first.
//! The rest of the limit, beyond the budget, is for client connections, the metadata log,
//! checkpoints and the files a read holds after the cache closed them.

use std::io;
use tracing::{info, warn};

/// The least `log.open.files.max` may be: a partition's active segment and its indexes,
/// for a few partitions written at once.
pub const MIN_BUDGET: usize = 64;

/// What an explicit budget must leave of the limit for everything else.
pub const RESERVED: u64 = 1024;

/// The soft and hard open-file limits after [`raise_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub soft: u64,
    pub hard: u64,
}

/// Raises the soft open-file limit to the hard one and logs both.
pub fn raise_limit() -> io::Result<Limit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) and setrlimit(2) with a valid rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let before = limit.rlim_cur;
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            ..limit
        };
        // SAFETY: as above.
        match unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } {
            0 => limit = raised,
            // A hard limit above what the kernel allows (`fs.nr_open`) is refused: the start
            // goes on within the soft one.
            _ => warn!(error = %io::Error::last_os_error(), hard = limit.rlim_max, "cannot raise the open files limit"),
        }
    }
    info!(
        soft_before = before,
        soft = limit.rlim_cur,
        hard = limit.rlim_max,
        "open files limit"
    );
    Ok(Limit {
        soft: limit.rlim_cur,
        hard: limit.rlim_max,
    })
}

/// The budget of open segment and index files: `configured`, or half the soft limit when
/// it is -1; `Err` says why the limit cannot hold a configured one.
pub fn budget(configured: i64, limit: Limit) -> Result<usize, String> {
    if configured < 0 {
        return Ok(((limit.soft / 2) as usize).max(MIN_BUDGET));
    }
    let needed = configured as u64 + RESERVED;
    if needed > limit.soft {
        return Err(format!(
            "log.open.files.max={configured} needs an open-file limit of at least {needed} \
             ({RESERVED} kept for connections and other files), and this process may open \
             {} (ulimit -Hn): lower log.open.files.max or raise the limit",
            limit.soft
        ));
    }
    Ok(configured as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_half_the_limit_or_what_is_set_if_the_limit_holds_it() {
        let limit = Limit { soft: 4096, hard: 4096 };
        assert_eq!(budget(-1, limit), Ok(2048));
        assert_eq!(budget(-1, Limit { soft: 100, hard: 100 }), Ok(MIN_BUDGET));
        assert_eq!(budget(3072, limit), Ok(3072));
        let refused = budget(3073, limit).unwrap_err();
        assert!(
            refused.contains("needs an open-file limit of at least 4097"),
            "{refused}"
        );
    }

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let limit = raise_limit().unwrap();
        assert_eq!(limit.soft, limit.hard);
    }
}
