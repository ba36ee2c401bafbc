//! Child processes that must not outlive the process that started them.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes the kernel kill the child started by `command` (SIGKILL) when the thread that starts
/// it ends, e.g. when this process dies: a job's worker or driver is no use without its
/// TaskManager or JobManager, and must not go on writing output.
pub fn kill_with_parent(command: &mut Command) -> &mut Command {
    // SAFETY: prctl is async-signal-safe and touches no memory of ours.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}
