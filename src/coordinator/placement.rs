//! Which partition of a coordinator topic holds a key: Kafka's
//! `Utils.abs(key.hashCode()) % partitionCount`, used for group ids on `__consumer_offsets`
//! (`GroupCoordinatorService.partitionFor`) and transactional ids on `__transaction_state`
//! (`TransactionStateManager.partitionFor`).
//!
//! Every broker and client must agree on the answer byte for byte, so the hash is Java's
//! `String.hashCode` over the key's UTF-16 code units (`s[0]*31^(n-1) + … + s[n-1]`, wrapping
//! on i32), and `Utils.abs` is `n & 0x7fffffff` — not `Math.abs`: `i32::MIN` maps to 0, never
//! to a negative partition.
//!
//! Thread-safety: pure functions.

/// Java's `String.hashCode` of `key` (UTF-16 code units, wrapping i32 arithmetic).
pub fn java_string_hash(key: &str) -> i32 {
    key.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// The coordinator partition of `key` among `partitions` (see the module doc); a count
/// below 1 is treated as 1, so the answer is always a valid index.
pub fn partition_for(key: &str, partitions: i32) -> i32 {
    (java_string_hash(key) & 0x7fff_ffff) % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values of Java's `"…".hashCode()` (checked with the JDK's formula).
    #[test]
    fn hashes_match_java() {
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("hello"), 99_162_322);
        assert_eq!(java_string_hash("my-group"), -1_906_497_762);
        assert_eq!(java_string_hash("console-consumer-12345"), 158_455_506);
        // Non-ASCII: one code unit for é, a surrogate pair for the emoji.
        assert_eq!(java_string_hash("é"), 233);
        assert_eq!(java_string_hash("😀"), 1_772_899);
        // The famous string whose hashCode is Integer.MIN_VALUE.
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
    }

    #[test]
    fn partitions_match_kafka() {
        assert_eq!(partition_for("hello", 50), 22);
        assert_eq!(
            partition_for("my-group", 50),
            36,
            "a negative hash is masked, not negated"
        );
        assert_eq!(partition_for("txn-1", 50), 10);
        assert_eq!(partition_for("test-group", 50), 12);
        assert_eq!(partition_for("😀", 50), 49);
        assert_eq!(
            partition_for("polygenelubricants", 50),
            0,
            "Utils.abs(MIN_VALUE) is 0"
        );
        assert_eq!(partition_for("anything", 1), 0);
        assert_eq!(partition_for("anything", 0), 0);
    }
}
