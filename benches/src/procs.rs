//! What runtimes leave running: the harness is a child subreaper, so every process a runtime
//! leaves behind (a container's init once `run -d` exits, a pod monitor that daemonized, conmon)
//! ends up below it in the process tree. This module walks that tree through `/proc` and adds
//! up its memory, and reads the host's `MemAvailable`.

use std::collections::BTreeMap;
use std::fs;
use std::time::{Duration, Instant};

/// One process found below the harness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    /// `comm` from `/proc/PID/stat`.
    pub comm: String,
}

/// Parse `/proc/PID/stat` into (ppid, comm); the comm may hold spaces and parentheses, so the
/// fields after it are read from the last `)`.
pub fn parse_stat(text: &str) -> Option<(i32, String)> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let mut rest = text.get(close + 1..)?.split_whitespace();
    let _state = rest.next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((ppid, comm))
}

/// Every live process (zombies included) as pid → (ppid, comm).
fn process_table() -> BTreeMap<i32, (i32, String)> {
    let mut table = BTreeMap::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return table;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if let Some(st) = fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|t| parse_stat(&t))
        {
            table.insert(pid, st);
        }
    }
    table
}

/// Every process below `root` (children, their children, ...), in no particular order.
pub fn descendants(root: i32) -> Vec<Proc> {
    let table = process_table();
    let mut children: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for (&pid, (ppid, _)) in &table {
        children.entry(*ppid).or_default().push(pid);
    }
    let mut out = Vec::new();
    let mut todo = vec![root];
    while let Some(p) = todo.pop() {
        for &c in children.get(&p).map(Vec::as_slice).unwrap_or_default() {
            let (ppid, comm) = table[&c].clone();
            out.push(Proc { pid: c, ppid, comm });
            todo.push(c);
        }
    }
    out
}

/// Every process below this harness.
pub fn own_descendants() -> Vec<Proc> {
    descendants(std::process::id().try_into().unwrap_or(i32::MAX))
}

/// Wait (bounded) until no process below the harness is left but zombies it can reap and the
/// ones `keep` allows; returns what is still there at the deadline.
pub fn wait_until_gone(timeout: Duration, keep: impl Fn(&Proc) -> bool) -> Vec<Proc> {
    let deadline = Instant::now() + timeout;
    loop {
        crate::measure::reap_strays();
        let left: Vec<Proc> = own_descendants()
            .into_iter()
            .filter(|p| !keep(p) && !is_zombie(p.pid))
            .collect();
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn is_zombie(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|t| {
            let close = t.rfind(')')?;
            t.get(close + 1..)?
                .split_whitespace()
                .next()
                .map(|s| s == "Z")
        })
        .unwrap_or(true)
}

/// Resident memory of a set of processes, from `/proc/PID/smaps_rollup`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// How many processes were read.
    pub procs: usize,
    /// Sum of RSS: pages shared between the processes (the same binary's text) count once per
    /// process.
    pub rss_kib: u64,
    /// Sum of PSS: each shared page split between the processes mapping it, so the sum is what
    /// the set really holds in RAM.
    pub pss_kib: u64,
}

/// Add up RSS and PSS of `pids` (processes that vanished meanwhile count as zero).
pub fn memory_of(pids: impl IntoIterator<Item = i32>) -> Memory {
    let mut m = Memory::default();
    for pid in pids {
        let Ok(text) = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else {
            continue;
        };
        let (rss, pss) = parse_rollup(&text);
        m.procs += 1;
        m.rss_kib += rss;
        m.pss_kib += pss;
    }
    m
}

/// (Rss, Pss) in KiB from a `smaps_rollup` text (kernel threads and zombies have none: 0).
pub fn parse_rollup(text: &str) -> (u64, u64) {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("Rss:"), field("Pss:"))
}

/// The host's `MemAvailable` in KiB (0 if unreadable).
pub fn mem_available_kib() -> u64 {
    fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemAvailable:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_comm() {
        let t = "42 (a) b (c)) S 7 42 42 0 -1 4194560 100";
        assert_eq!(parse_stat(t), Some((7, "a) b (c)".into())));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn rollup() {
        let t = "55d0-7ffc ---p 00000000 00:00 0 [rollup]\nRss:                1234 kB\n\
                 Pss:                 567 kB\nPss_Anon:            12 kB\n";
        assert_eq!(parse_rollup(t), (1234, 567));
    }

    #[test]
    fn finds_own_children() {
        let mut c = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let pid = i32::try_from(c.id()).unwrap();
        let d = own_descendants();
        assert!(d.iter().any(|p| p.pid == pid && p.comm == "sleep"), "{d:?}");
        let m = memory_of([pid]);
        assert_eq!(m.procs, 1);
        assert!(m.rss_kib > 0 && m.pss_kib > 0 && m.pss_kib <= m.rss_kib);
        c.kill().unwrap();
        c.wait().unwrap();
        assert!(mem_available_kib() > 0);
    }
}
