//! The cleaner threads' CPU priority: gregor runs them `CLEANER_NICE` nice levels below the
//! thread that starts them (the broker's request path), clamped at 19, the lowest.
//!
//! Why: cleaning is background work with no deadline, while produce and fetch have clients
//! waiting. On a machine with few cores an unthrottled cleaner thread takes a whole core for a
//! whole pass and slows the request path by as much. Kafka leaves this to
//! `log.cleaner.io.max.bytes.per.second` (unlimited by default), a fixed rate that either
//! wastes idle CPU or still competes when the broker is busy. A lower nice value lets the
//! kernel's scheduler do the right thing either way: an idle machine cleans at full speed, a
//! busy one serves requests first and cleans with what is left (CFS still gives a nice-19
//! thread a small share, so cleaning slows but never stops). The throttle still applies on top.
//! This is gregor's choice, not Kafka's.
//!
//! Linux keeps a nice value per thread, so `setpriority(PRIO_PROCESS, gettid())` changes the
//! calling thread only (through `rustix`, no `unsafe`). Raising one's own nice value needs no
//! privilege. Elsewhere, or on failure, the thread keeps its priority and a warning is logged.
//!
//! Thread-safety: affects only the calling thread.

/// How many nice levels below its starter a cleaner thread runs.
pub const CLEANER_NICE: i32 = 10;

/// Lowers the calling thread's CPU priority by [`CLEANER_NICE`]; returns its nice value after
/// (None when it could not be changed).
pub fn lower_current_thread() -> Option<i32> {
    let tid = rustix::thread::gettid();
    let result = rustix::process::getpriority_process(Some(tid)).and_then(|nice| {
        let lower = nice.saturating_add(CLEANER_NICE).min(19);
        rustix::process::setpriority_process(Some(tid), lower).map(|()| lower)
    });
    match result {
        Ok(nice) => Some(nice),
        Err(e) => {
            tracing::warn!("cleaner: cannot lower the thread's CPU priority: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn lowers_only_the_calling_thread() {
        let before = rustix::process::getpriority_process(None).unwrap();
        let got = std::thread::spawn(|| {
            let nice = super::lower_current_thread();
            let now = rustix::process::getpriority_process(Some(rustix::thread::gettid()));
            (nice, now.unwrap())
        })
        .join()
        .unwrap();
        let expected = (before + super::CLEANER_NICE).min(19);
        assert_eq!(got, (Some(expected), expected));
        assert_eq!(
            rustix::process::getpriority_process(None).unwrap(),
            before,
            "the rest of the process keeps its priority"
        );
    }
}
