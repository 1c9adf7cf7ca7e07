//! The process-wide signal mask. `odoo-init` never runs signal handlers: every
//! signal it manages stays blocked and is taken synchronously with
//! `sigtimedwait`, so it sleeps until a signal or a deadline and wakes for
//! nothing else.

use std::borrow::Cow;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::time::Instant;

/// Signals whose default action is right even for PID 1: the unblockable ones
/// and the synchronous faults (blocking those would hide a real crash).
const UNMANAGED: [i32; 9] = [
    libc::SIGKILL,
    libc::SIGSTOP,
    libc::SIGILL,
    libc::SIGTRAP,
    libc::SIGABRT,
    libc::SIGBUS,
    libc::SIGFPE,
    libc::SIGSEGV,
    libc::SIGSYS,
];

/// Every signal number `odoo-init` takes synchronously: the catchable
/// standard signals and the real-time signals that the C library leaves to
/// applications.
pub fn managed() -> impl Iterator<Item = i32> {
    let rt = libc::SIGRTMIN()..=libc::SIGRTMAX();
    (1..32).filter(|s| !UNMANAGED.contains(s)).chain(rt)
}

/// A signal taken from the pending set.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    pub signo: i32,
    /// PID of the sender as seen from here; 0 when it is outside our PID namespace or the kernel.
    pub sender: libc::pid_t,
}

pub struct Signals {
    set: libc::sigset_t,
    /// Asked once: glibc does not cache it, and the check is on the forwarding path.
    own_pid: libc::pid_t,
}

impl Signals {
    /// Sets every managed signal to its default disposition and blocks it.
    /// Default, not ignored: an ignored signal is never queued, an ignored
    /// SIGCHLD would stop `waitpid` from seeing exits, and a child inherits
    /// ignored dispositions across `exec`.
    pub fn take_over() -> io::Result<Self> {
        let set = sigset(managed())?;
        for signo in managed() {
            // SAFETY: resetting a disposition to SIG_DFL installs no handler code.
            if unsafe { libc::signal(signo, libc::SIG_DFL) } == libc::SIG_ERR {
                return Err(io::Error::last_os_error());
            }
        }
        // SAFETY: we are still single-threaded; the set was initialised by sigset().
        let rc = unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Signals {
            set,
            own_pid: nix::unistd::getpid().as_raw(),
        })
    }

    /// True when this process raised it itself (SIGPIPE from writing to a closed log pipe).
    pub fn is_own(&self, received: &Received) -> bool {
        received.sender == self.own_pid
    }

    /// Sleeps until a managed signal arrives (`None` deadline: for ever) or
    /// the deadline passes (returns `None`).
    pub fn wait(&self, deadline: Option<Instant>) -> Option<Received> {
        loop {
            let mut info = MaybeUninit::<libc::siginfo_t>::uninit();
            let rc = match deadline {
                // SAFETY: set is initialised; info is written by the kernel before we read it.
                None => unsafe { libc::sigwaitinfo(&self.set, info.as_mut_ptr()) },
                Some(at) => {
                    let left = at.saturating_duration_since(Instant::now());
                    let ts = libc::timespec {
                        tv_sec: left.as_secs() as libc::time_t,
                        tv_nsec: left.subsec_nanos() as libc::c_long,
                    };
                    // SAFETY: as above; ts lives across the call.
                    unsafe { libc::sigtimedwait(&self.set, info.as_mut_ptr(), &ts) }
                }
            };
            if rc > 0 {
                // SAFETY: a positive return means the kernel filled info.
                let info = unsafe { info.assume_init() };
                // SAFETY: si_pid is valid for every signal we take (user, queue, child, kernel).
                let sender = unsafe { info.si_pid() };
                return Some(Received { signo: rc, sender });
            }
            match io::Error::last_os_error().raw_os_error() {
                Some(libc::EINTR) => continue,
                // EAGAIN: the deadline passed. Anything else cannot happen with a valid set.
                _ => return None,
            }
        }
    }
}

/// True when one of `signals` is pending (blocked and not yet taken): a
/// look that takes nothing, so the wait loop still sees it afterwards.
pub fn is_pending(signals: &[i32]) -> bool {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigpending fills the set before sigismember reads it.
    unsafe {
        if libc::sigpending(set.as_mut_ptr()) != 0 {
            return false;
        }
        let set = set.assume_init();
        signals.iter().any(|&s| libc::sigismember(&set, s) == 1)
    }
}

/// SIGTERM or SIGINT is pending (not yet taken by the wait loop).
pub fn stop_pending() -> bool {
    is_pending(&[libc::SIGTERM, libc::SIGINT])
}

/// A descriptor that is readable while SIGTERM or SIGINT is pending (a
/// signalfd that is never read): a wait that is not the supervisor's own
/// (the database client's) watches it and ends at a stop, leaving the
/// signal pending for the supervisor's next wait to take.
pub fn stop_descriptor() -> io::Result<OwnedFd> {
    use nix::sys::signal::{SigSet, Signal};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    let mut stops = SigSet::empty();
    stops.add(Signal::SIGTERM);
    stops.add(Signal::SIGINT);
    // Non-blocking (only polled), closed on exec (no child inherits it).
    let fd = SignalFd::with_flags(&stops, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
    Ok(OwnedFd::from(fd))
}

fn sigset(signals: impl Iterator<Item = i32>) -> io::Result<libc::sigset_t> {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set before sigaddset uses it.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        for signo in signals {
            if libc::sigaddset(set.as_mut_ptr(), signo) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(set.assume_init())
    }
}

/// Sets the calling thread's signal mask; only async-signal-safe calls, so it
/// may run between `fork` and `exec`.
pub fn set_mask(how: libc::c_int, signals: &[i32]) -> io::Result<()> {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: the set is initialised by sigemptyset before use; sigprocmask is async-signal-safe.
    let rc = unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        for &signo in signals {
            libc::sigaddset(set.as_mut_ptr(), signo);
        }
        libc::sigprocmask(how, set.as_ptr(), std::ptr::null_mut())
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `kill(2)` with a raw number: real-time signals have no `nix::Signal`.
/// `pid` follows kill(2): > 0 one process, -1 everything we may signal, < -1 a group.
pub fn send(pid: libc::pid_t, signo: i32) -> io::Result<()> {
    // SAFETY: kill has no memory effects.
    if unsafe { libc::kill(pid, signo) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `SIGTERM`, `SIGRTMIN+3`, ... (no allocation for the standard ones: this is
/// on the forwarding path).
pub fn name(signo: i32) -> Cow<'static, str> {
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    match nix::sys::signal::Signal::try_from(signo) {
        Ok(sig) => Cow::Borrowed(sig.as_str()),
        Err(_) if (min..=max).contains(&signo) => Cow::Owned(format!("SIGRTMIN+{}", signo - min)),
        Err(_) => Cow::Owned(format!("signal {signo}")),
    }
}
