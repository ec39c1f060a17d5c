//! How busy the machine was besides the benchmark: figures taken on a shared 2-core
//! machine mean little without it.

use std::time::Instant;

/// Clock ticks per second in `/proc/stat` and `/proc/<pid>/stat` (USER_HZ, fixed by the
/// Linux ABI).
const USER_HZ: f64 = 100.0;

/// The 1-minute load average (the benchmark's own threads included).
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Runs `run` and returns its result with the number of cores that processes other than
/// this one and `pids` kept busy meanwhile, on average. Kernel threads count as others,
/// including those writing back the broker's data.
pub fn others_during<T>(pids: &[u32], run: impl FnOnce() -> Result<T, String>) -> Result<(T, f64), String> {
    let before = busy_ticks(pids)?;
    let started = Instant::now();
    let result = run()?;
    let after = busy_ticks(pids)?;
    let machine = after.0.saturating_sub(before.0);
    let ours = after.1.saturating_sub(before.1);
    let cores = machine.saturating_sub(ours) as f64 / USER_HZ / started.elapsed().as_secs_f64();
    Ok((result, cores))
}

/// Runs `run` and returns its result with the number of cores process `pid` kept busy
/// meanwhile, on average.
pub fn cores_of_during<T>(pid: u32, run: impl FnOnce() -> Result<T, String>) -> Result<(T, f64), String> {
    let stat = format!("/proc/{pid}/stat");
    let before = process_ticks(&stat)?;
    let started = Instant::now();
    let result = run()?;
    let ticks = process_ticks(&stat)?.saturating_sub(before);
    Ok((result, ticks as f64 / USER_HZ / started.elapsed().as_secs_f64()))
}

/// Busy ticks of the whole machine (idle and I/O wait excluded, time stolen by the
/// hypervisor included) and of this process and `pids` together.
fn busy_ticks(pids: &[u32]) -> Result<(u64, u64), String> {
    let stat = read("/proc/stat")?;
    let cpu: Vec<u64> = stat
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("cpu "))
        .ok_or("no cpu line in /proc/stat")?
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal
    let machine = cpu
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, v)| v)
        .sum();
    let mut ours = process_ticks("/proc/self/stat")?;
    for pid in pids {
        ours += process_ticks(&format!("/proc/{pid}/stat"))?;
    }
    Ok((machine, ours))
}

/// utime + stime of a process, all its threads included.
fn process_ticks(path: &str) -> Result<u64, String> {
    let stat = read(path)?;
    // The fields after the command name, which may hold spaces, start with the state.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let field = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
    match (field(11), field(12)) {
        (Some(utime), Some(stime)) => Ok(utime + stime),
        _ => Err(format!("cannot parse {path}")),
    }
}

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))
}
