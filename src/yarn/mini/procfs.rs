//! Process-tree sampling from `/proc`, like Hadoop's `ProcfsBasedProcessTree`, for the mini
//! NodeManager's memory check. A container's processes are its process group.

/// One process's `/proc/<pid>/stat` numbers.
#[derive(Clone, Debug)]
pub struct ProcInfo {
    pub pid: i32,
    pub ppid: i32,
    pub pgrp: i32,
    pub session: i32,
    pub name: String,
    pub utime_ms: u64,
    pub stime_ms: u64,
    pub vmem: u64,
    pub rss_pages: u64,
    pub cmdline: String,
}

#[derive(Clone, Debug, Default)]
pub struct ProcessTree {
    pub procs: Vec<ProcInfo>,
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if v > 0 {
        v as u64
    } else {
        4096
    }
}

fn clock_ticks() -> u64 {
    // SAFETY: as above.
    let v = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if v > 0 {
        v as u64
    } else {
        100
    }
}

fn parse_stat(pid: i32, text: &str) -> Option<ProcInfo> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text[open + 1..close].to_string();
    let f: Vec<&str> = text[close + 1..].split_whitespace().collect();
    // f[0] = state (field 3); field n is f[n - 3].
    let num = |n: usize| {
        f.get(n - 3)
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let ticks = clock_ticks();
    Some(ProcInfo {
        pid,
        ppid: num(4) as i32,
        pgrp: num(5) as i32,
        session: num(6) as i32,
        name,
        utime_ms: num(14).max(0) as u64 * 1000 / ticks,
        stime_ms: num(15).max(0) as u64 * 1000 / ticks,
        vmem: num(23).max(0) as u64,
        rss_pages: num(24).max(0) as u64,
        cmdline: String::new(),
    })
}

/// Every live process whose process group is `pgid`.
pub fn process_group(pgid: i32) -> ProcessTree {
    let mut procs = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return ProcessTree::default();
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some(mut p) = parse_stat(pid, &stat) else {
            continue;
        };
        if p.pgrp != pgid {
            continue;
        }
        p.cmdline = std::fs::read(entry.path().join("cmdline"))
            .map(|b| {
                String::from_utf8_lossy(&b)
                    .replace('\0', " ")
                    .trim_end()
                    .to_string()
            })
            .unwrap_or_default();
        procs.push(p);
    }
    ProcessTree { procs }
}

impl ProcessTree {
    pub fn rss_bytes(&self) -> u64 {
        self.procs.iter().map(|p| p.rss_pages).sum::<u64>() * page_size()
    }

    pub fn vmem_bytes(&self) -> u64 {
        self.procs.iter().map(|p| p.vmem).sum()
    }

    /// `ProcfsBasedProcessTree.getProcessTreeDump` format.
    pub fn dump(&self) -> String {
        let mut s = String::from("\t|- PID PPID PGRPID SESSID CMD_NAME USER_MODE_TIME(MILLIS) SYSTEM_TIME(MILLIS) VMEM_USAGE(BYTES) RSSMEM_USAGE(PAGES) FULL_CMD_LINE\n");
        for p in &self.procs {
            s.push_str(&format!(
                "\t|- {} {} {} {} ({}) {} {} {} {} {}\n",
                p.pid,
                p.ppid,
                p.pgrp,
                p.session,
                p.name,
                p.utime_ms,
                p.stime_ms,
                p.vmem,
                p.rss_pages,
                p.cmdline
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_spaces_in_names_parse() {
        let line = "1234 (my proc) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 100 123456789 2048 18446744073709551615";
        let p = parse_stat(1234, line).unwrap();
        assert_eq!(p.name, "my proc");
        assert_eq!(p.ppid, 1);
        assert_eq!(p.pgrp, 1234);
        assert_eq!(p.vmem, 123456789);
        assert_eq!(p.rss_pages, 2048);
    }

    #[test]
    fn own_process_group_is_visible() {
        // SAFETY: getpgrp has no preconditions.
        let pg = unsafe { libc::getpgrp() };
        let tree = process_group(pg);
        assert!(tree
            .procs
            .iter()
            .any(|p| p.pid == std::process::id() as i32));
        assert!(tree.rss_bytes() > 0);
    }
}
