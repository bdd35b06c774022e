//! Kafka error codes and the broker's internal error type.
//!
//! Every failure that reaches a client is one of Kafka's numbered error codes; keeping them in
//! one enum means a handler can never invent a code a client does not know. Each code is one
//! row of the table below — number, Kafka's name, whether Kafka calls it retriable — checked
//! against the kafka-protocol crate's `ResponseError` by a unit test.

use std::fmt;

/// Declares [`ErrorCode`] from one row per code, so the number, the name and the retriable
/// flag cannot drift apart and [`ErrorCode::ALL`] always lists every variant.
macro_rules! error_codes {
    ( $( $variant:ident = $code:literal, $name:literal, $retriable:literal; )* ) => {
        /// Kafka's wire error codes that gregor returns (see Kafka's `Errors.java`): the only
        /// codes a handler can answer with.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(i16)]
        pub enum ErrorCode {
            $( $variant = $code, )*
        }

        impl ErrorCode {
            /// Every code, in table order.
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$variant, )* ];

            /// Kafka's upper-case name for the error, for logs and tools.
            pub fn name(self) -> &'static str {
                match self {
                    $( ErrorCode::$variant => $name, )*
                }
            }

            /// Whether Kafka marks the error retriable (`RetriableException`): a client may
            /// send the same request again and expect it to succeed.
            pub fn retriable(self) -> bool {
                match self {
                    $( ErrorCode::$variant => $retriable, )*
                }
            }
        }
    };
}

error_codes! {
    UnknownServerError = -1, "UNKNOWN_SERVER_ERROR", false;
    None = 0, "NONE", false;
    OffsetOutOfRange = 1, "OFFSET_OUT_OF_RANGE", false;
    CorruptMessage = 2, "CORRUPT_MESSAGE", true;
    UnknownTopicOrPartition = 3, "UNKNOWN_TOPIC_OR_PARTITION", true;
    LeaderNotAvailable = 5, "LEADER_NOT_AVAILABLE", true;
    NotLeaderOrFollower = 6, "NOT_LEADER_OR_FOLLOWER", true;
    RequestTimedOut = 7, "REQUEST_TIMED_OUT", true;
    MessageTooLarge = 10, "MESSAGE_TOO_LARGE", false;
    OffsetMetadataTooLarge = 12, "OFFSET_METADATA_TOO_LARGE", false;
    CoordinatorLoadInProgress = 14, "COORDINATOR_LOAD_IN_PROGRESS", true;
    CoordinatorNotAvailable = 15, "COORDINATOR_NOT_AVAILABLE", true;
    NotCoordinator = 16, "NOT_COORDINATOR", true;
    InvalidTopicException = 17, "INVALID_TOPIC_EXCEPTION", false;
    RecordListTooLarge = 18, "RECORD_LIST_TOO_LARGE", false;
    NotEnoughReplicas = 19, "NOT_ENOUGH_REPLICAS", true;
    NotEnoughReplicasAfterAppend = 20, "NOT_ENOUGH_REPLICAS_AFTER_APPEND", true;
    InvalidRequiredAcks = 21, "INVALID_REQUIRED_ACKS", false;
    IllegalGeneration = 22, "ILLEGAL_GENERATION", false;
    InconsistentGroupProtocol = 23, "INCONSISTENT_GROUP_PROTOCOL", false;
    InvalidGroupId = 24, "INVALID_GROUP_ID", false;
    UnknownMemberId = 25, "UNKNOWN_MEMBER_ID", false;
    InvalidSessionTimeout = 26, "INVALID_SESSION_TIMEOUT", false;
    RebalanceInProgress = 27, "REBALANCE_IN_PROGRESS", false;
    TopicAuthorizationFailed = 29, "TOPIC_AUTHORIZATION_FAILED", false;
    GroupAuthorizationFailed = 30, "GROUP_AUTHORIZATION_FAILED", false;
    ClusterAuthorizationFailed = 31, "CLUSTER_AUTHORIZATION_FAILED", false;
    InvalidTimestamp = 32, "INVALID_TIMESTAMP", false;
    UnsupportedSaslMechanism = 33, "UNSUPPORTED_SASL_MECHANISM", false;
    IllegalSaslState = 34, "ILLEGAL_SASL_STATE", false;
    UnsupportedVersion = 35, "UNSUPPORTED_VERSION", false;
    TopicAlreadyExists = 36, "TOPIC_ALREADY_EXISTS", false;
    InvalidPartitions = 37, "INVALID_PARTITIONS", false;
    InvalidReplicationFactor = 38, "INVALID_REPLICATION_FACTOR", false;
    InvalidReplicaAssignment = 39, "INVALID_REPLICA_ASSIGNMENT", false;
    InvalidConfig = 40, "INVALID_CONFIG", false;
    NotController = 41, "NOT_CONTROLLER", true;
    InvalidRequest = 42, "INVALID_REQUEST", false;
    PolicyViolation = 44, "POLICY_VIOLATION", false;
    OutOfOrderSequenceNumber = 45, "OUT_OF_ORDER_SEQUENCE_NUMBER", false;
    DuplicateSequenceNumber = 46, "DUPLICATE_SEQUENCE_NUMBER", false;
    InvalidProducerEpoch = 47, "INVALID_PRODUCER_EPOCH", false;
    InvalidTxnState = 48, "INVALID_TXN_STATE", false;
    InvalidProducerIdMapping = 49, "INVALID_PRODUCER_ID_MAPPING", false;
    InvalidTransactionTimeout = 50, "INVALID_TRANSACTION_TIMEOUT", false;
    ConcurrentTransactions = 51, "CONCURRENT_TRANSACTIONS", false;
    TransactionCoordinatorFenced = 52, "TRANSACTION_COORDINATOR_FENCED", false;
    TransactionalIdAuthorizationFailed = 53, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", false;
    SecurityDisabled = 54, "SECURITY_DISABLED", false;
    OperationNotAttempted = 55, "OPERATION_NOT_ATTEMPTED", false;
    KafkaStorageError = 56, "KAFKA_STORAGE_ERROR", true;
    SaslAuthenticationFailed = 58, "SASL_AUTHENTICATION_FAILED", false;
    UnknownProducerId = 59, "UNKNOWN_PRODUCER_ID", false;
    NonEmptyGroup = 68, "NON_EMPTY_GROUP", false;
    GroupIdNotFound = 69, "GROUP_ID_NOT_FOUND", false;
    FencedLeaderEpoch = 74, "FENCED_LEADER_EPOCH", true;
    UnknownLeaderEpoch = 75, "UNKNOWN_LEADER_EPOCH", true;
    StaleBrokerEpoch = 77, "STALE_BROKER_EPOCH", false;
    OffsetNotAvailable = 78, "OFFSET_NOT_AVAILABLE", true;
    MemberIdRequired = 79, "MEMBER_ID_REQUIRED", false;
    PreferredLeaderNotAvailable = 80, "PREFERRED_LEADER_NOT_AVAILABLE", true;
    GroupMaxSizeReached = 81, "GROUP_MAX_SIZE_REACHED", false;
    FencedInstanceId = 82, "FENCED_INSTANCE_ID", false;
    EligibleLeadersNotAvailable = 83, "ELIGIBLE_LEADERS_NOT_AVAILABLE", true;
    ElectionNotNeeded = 84, "ELECTION_NOT_NEEDED", true;
    NoReassignmentInProgress = 85, "NO_REASSIGNMENT_IN_PROGRESS", false;
    GroupSubscribedToTopic = 86, "GROUP_SUBSCRIBED_TO_TOPIC", false;
    InvalidRecord = 87, "INVALID_RECORD", false;
    UnstableOffsetCommit = 88, "UNSTABLE_OFFSET_COMMIT", true;
    ProducerFenced = 90, "PRODUCER_FENCED", false;
    ResourceNotFound = 91, "RESOURCE_NOT_FOUND", false;
    DuplicateResource = 92, "DUPLICATE_RESOURCE", false;
    UnacceptableCredential = 93, "UNACCEPTABLE_CREDENTIAL", false;
    InvalidUpdateVersion = 95, "INVALID_UPDATE_VERSION", false;
    PrincipalDeserializationFailure = 97, "PRINCIPAL_DESERIALIZATION_FAILURE", false;
    SnapshotNotFound = 98, "SNAPSHOT_NOT_FOUND", false;
    PositionOutOfRange = 99, "POSITION_OUT_OF_RANGE", false;
    UnknownTopicId = 100, "UNKNOWN_TOPIC_ID", true;
    DuplicateBrokerRegistration = 101, "DUPLICATE_BROKER_REGISTRATION", false;
    BrokerIdNotRegistered = 102, "BROKER_ID_NOT_REGISTERED", false;
    InconsistentClusterId = 104, "INCONSISTENT_CLUSTER_ID", false;
    TransactionalIdNotFound = 105, "TRANSACTIONAL_ID_NOT_FOUND", false;
    IneligibleReplica = 107, "INELIGIBLE_REPLICA", false;
    NewLeaderElected = 108, "NEW_LEADER_ELECTED", false;
    FencedMemberEpoch = 110, "FENCED_MEMBER_EPOCH", false;
    UnreleasedInstanceId = 111, "UNRELEASED_INSTANCE_ID", false;
    UnsupportedAssignor = 112, "UNSUPPORTED_ASSIGNOR", false;
    StaleMemberEpoch = 113, "STALE_MEMBER_EPOCH", false;
    InvalidRegularExpression = 128, "INVALID_REGULAR_EXPRESSION", false;
    MismatchedEndpointType = 114, "MISMATCHED_ENDPOINT_TYPE", false;
    UnsupportedEndpointType = 115, "UNSUPPORTED_ENDPOINT_TYPE", false;
}

impl ErrorCode {
    /// The code of a wire number (UNKNOWN_SERVER_ERROR for a number not in the table).
    pub fn from_code(code: i16) -> ErrorCode {
        ErrorCode::ALL
            .iter()
            .copied()
            .find(|c| c.code() == code)
            .unwrap_or(ErrorCode::UnknownServerError)
    }

    /// The number sent on the wire.
    pub fn code(self) -> i16 {
        self as i16
    }

    /// The code a peer answered (UNKNOWN_SERVER_ERROR for one gregor does not know).
    pub fn from_i16(code: i16) -> ErrorCode {
        ErrorCode::ALL
            .iter()
            .copied()
            .find(|c| c.code() == code)
            .unwrap_or(ErrorCode::UnknownServerError)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

/// An error inside the broker: a Kafka error meant for the client, an I/O failure of the
/// storage (clients see KAFKA_STORAGE_ERROR), or a failure of the broker itself — a panicked
/// task, a lock poisoned by an earlier panic — which is not the disk's fault, so clients see
/// UNKNOWN_SERVER_ERROR as Kafka answers unexpected exceptions.
#[derive(Debug)]
pub enum Error {
    Kafka(ErrorCode, String),
    Io(std::io::Error),
    Internal(String),
}

impl Error {
    pub fn kafka(code: ErrorCode, msg: impl Into<String>) -> Self {
        Error::Kafka(code, msg.into())
    }

    /// A broker-internal failure (see [`Error::Internal`]).
    pub fn internal(msg: impl fmt::Display) -> Self {
        Error::Internal(msg.to_string())
    }

    /// The code a client receives for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Kafka(code, _) => *code,
            Error::Io(_) => ErrorCode::KafkaStorageError,
            Error::Internal(_) => ErrorCode::UnknownServerError,
        }
    }

    /// True when the broker failed (storage or internal), not the request: worth an error log.
    pub fn is_broker_fault(&self) -> bool {
        matches!(self, Error::Io(_) | Error::Internal(_))
    }

    /// The human-readable message (Kafka's `error_message` fields).
    pub fn message(&self) -> String {
        match self {
            Error::Kafka(_, m) => m.clone(),
            Error::Io(e) => format!("storage error: {e}"),
            Error::Internal(m) => format!("internal error: {m}"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Kafka(code, msg) => write!(f, "{code}: {msg}"),
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

/// A task that panicked or was cancelled is the broker's failure, not the storage's.
impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error::internal(format!("task failed: {e}"))
    }
}

/// A lock poisoned by an earlier panic guards state that may be half-changed.
impl<T> From<std::sync::PoisonError<T>> for Error {
    fn from(_: std::sync::PoisonError<T>) -> Self {
        Error::internal("lock poisoned by an earlier panic")
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::error::ResponseError;

    /// `UNKNOWN_TOPIC_OR_PARTITION` → `UnknownTopicOrPartition`, the crate's variant name.
    fn camel(name: &str) -> String {
        name.split('_')
            .map(|w| {
                let mut cs = w.chars();
                cs.next()
                    .map(|c| c.to_string() + &cs.as_str().to_lowercase())
                    .unwrap_or_default()
            })
            .collect()
    }

    #[test]
    fn every_code_agrees_with_kafka_protocol_response_error() {
        for &e in ErrorCode::ALL {
            if e == ErrorCode::None {
                assert_eq!((e.code(), e.name(), e.retriable()), (0, "NONE", false));
                assert_eq!(ResponseError::try_from_code(0), Option::None);
                continue;
            }
            let kafka = ResponseError::try_from_code(e.code())
                .unwrap_or_else(|| panic!("{e}: the crate has no such code"));
            assert_eq!(kafka.code(), e.code(), "{e}");
            assert_eq!(kafka.to_string(), camel(e.name()), "{e}: name");
            assert_eq!(kafka.is_retriable(), e.retriable(), "{e}: retriable");
        }
    }

    #[test]
    fn codes_are_unique() {
        let mut codes: Vec<i16> = ErrorCode::ALL.iter().map(|e| e.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ErrorCode::ALL.len());
    }

    #[test]
    fn internal_failures_are_not_storage_errors() {
        let poisoned = std::sync::Mutex::new(());
        let _ = std::thread::scope(|s| {
            s.spawn(|| {
                let _g = poisoned.lock();
                panic!("poison the lock");
            })
            .join()
        });
        let e: Error = poisoned.lock().map(|_| ()).unwrap_err().into();
        assert_eq!(e.code(), ErrorCode::UnknownServerError);
        assert_eq!(e.code().code(), -1);
        assert!(e.is_broker_fault());
        let io: Error = std::io::Error::other("disk").into();
        assert_eq!(io.code(), ErrorCode::KafkaStorageError);
        assert!(io.is_broker_fault());
        assert!(!Error::kafka(ErrorCode::CorruptMessage, "bad crc").is_broker_fault());
    }
}
