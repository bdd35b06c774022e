//! Kafka error codes and the broker's internal error type.
//!
//! Every failure that reaches a client is one of Kafka's numbered error codes; keeping them in
//! one enum means a handler can never invent a code a client does not know.

use std::fmt;

/// Kafka's wire error codes that gregor returns (see Kafka's `Errors.java`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i16)]
pub enum ErrorCode {
    UnknownServerError = -1,
    None = 0,
    OffsetOutOfRange = 1,
    CorruptMessage = 2,
    UnknownTopicOrPartition = 3,
    LeaderNotAvailable = 5,
    MessageTooLarge = 10,
    NotLeaderOrFollower = 6,
    RequestTimedOut = 7,
    InvalidTopicException = 17,
    RecordListTooLarge = 18,
    NotEnoughReplicas = 19,
    InvalidRequiredAcks = 21,
    InvalidTimestamp = 32,
    UnsupportedVersion = 35,
    TopicAlreadyExists = 36,
    InvalidPartitions = 37,
    InvalidReplicationFactor = 38,
    InvalidReplicaAssignment = 39,
    InvalidConfig = 40,
    InvalidRequest = 42,
    PolicyViolation = 44,
    OutOfOrderSequenceNumber = 45,
    DuplicateSequenceNumber = 46,
    InvalidProducerEpoch = 47,
    InvalidTransactionTimeout = 50,
    KafkaStorageError = 56,
    UnknownProducerId = 59,
    UnknownTopicId = 100,
    InvalidRecord = 87,
    TransactionalIdAuthorizationFailed = 53,
    ClusterAuthorizationFailed = 31,
    OffsetMetadataTooLarge = 12,
    CoordinatorNotAvailable = 15,
    NotCoordinator = 16,
    IllegalGeneration = 22,
    InconsistentGroupProtocol = 23,
    InvalidGroupId = 24,
    UnknownMemberId = 25,
    InvalidSessionTimeout = 26,
    RebalanceInProgress = 27,
    NonEmptyGroup = 68,
    GroupIdNotFound = 69,
    MemberIdRequired = 79,
    FencedInstanceId = 82,
    GroupSubscribedToTopic = 86,
}

impl ErrorCode {
    /// The number sent on the wire.
    pub fn code(self) -> i16 {
        self as i16
    }

    /// Kafka's upper-case name for the error, for logs and tools.
    pub fn name(self) -> &'static str {
        use ErrorCode::*;
        match self {
            UnknownServerError => "UNKNOWN_SERVER_ERROR",
            None => "NONE",
            OffsetOutOfRange => "OFFSET_OUT_OF_RANGE",
            CorruptMessage => "CORRUPT_MESSAGE",
            UnknownTopicOrPartition => "UNKNOWN_TOPIC_OR_PARTITION",
            LeaderNotAvailable => "LEADER_NOT_AVAILABLE",
            MessageTooLarge => "MESSAGE_TOO_LARGE",
            NotLeaderOrFollower => "NOT_LEADER_OR_FOLLOWER",
            RequestTimedOut => "REQUEST_TIMED_OUT",
            InvalidTopicException => "INVALID_TOPIC_EXCEPTION",
            RecordListTooLarge => "RECORD_LIST_TOO_LARGE",
            NotEnoughReplicas => "NOT_ENOUGH_REPLICAS",
            InvalidRequiredAcks => "INVALID_REQUIRED_ACKS",
            InvalidTimestamp => "INVALID_TIMESTAMP",
            UnsupportedVersion => "UNSUPPORTED_VERSION",
            TopicAlreadyExists => "TOPIC_ALREADY_EXISTS",
            InvalidPartitions => "INVALID_PARTITIONS",
            InvalidReplicationFactor => "INVALID_REPLICATION_FACTOR",
            InvalidReplicaAssignment => "INVALID_REPLICA_ASSIGNMENT",
            InvalidConfig => "INVALID_CONFIG",
            InvalidRequest => "INVALID_REQUEST",
            PolicyViolation => "POLICY_VIOLATION",
            OutOfOrderSequenceNumber => "OUT_OF_ORDER_SEQUENCE_NUMBER",
            DuplicateSequenceNumber => "DUPLICATE_SEQUENCE_NUMBER",
            InvalidProducerEpoch => "INVALID_PRODUCER_EPOCH",
            InvalidTransactionTimeout => "INVALID_TRANSACTION_TIMEOUT",
            KafkaStorageError => "KAFKA_STORAGE_ERROR",
            UnknownProducerId => "UNKNOWN_PRODUCER_ID",
            UnknownTopicId => "UNKNOWN_TOPIC_ID",
            InvalidRecord => "INVALID_RECORD",
            TransactionalIdAuthorizationFailed => "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
            ClusterAuthorizationFailed => "CLUSTER_AUTHORIZATION_FAILED",
            OffsetMetadataTooLarge => "OFFSET_METADATA_TOO_LARGE",
            CoordinatorNotAvailable => "COORDINATOR_NOT_AVAILABLE",
            NotCoordinator => "NOT_COORDINATOR",
            IllegalGeneration => "ILLEGAL_GENERATION",
            InconsistentGroupProtocol => "INCONSISTENT_GROUP_PROTOCOL",
            InvalidGroupId => "INVALID_GROUP_ID",
            UnknownMemberId => "UNKNOWN_MEMBER_ID",
            InvalidSessionTimeout => "INVALID_SESSION_TIMEOUT",
            RebalanceInProgress => "REBALANCE_IN_PROGRESS",
            NonEmptyGroup => "NON_EMPTY_GROUP",
            GroupIdNotFound => "GROUP_ID_NOT_FOUND",
            MemberIdRequired => "MEMBER_ID_REQUIRED",
            FencedInstanceId => "FENCED_INSTANCE_ID",
            GroupSubscribedToTopic => "GROUP_SUBSCRIBED_TO_TOPIC",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

/// An error inside the broker: either a Kafka error meant for the client, or an I/O failure of
/// the storage, which clients see as KAFKA_STORAGE_ERROR.
#[derive(Debug)]
pub enum Error {
    Kafka(ErrorCode, String),
    Io(std::io::Error),
}

impl Error {
    pub fn kafka(code: ErrorCode, msg: impl Into<String>) -> Self {
        Error::Kafka(code, msg.into())
    }

    /// The code a client receives for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Kafka(code, _) => *code,
            Error::Io(_) => ErrorCode::KafkaStorageError,
        }
    }

    /// The human-readable message (Kafka's `error_message` fields).
    pub fn message(&self) -> String {
        match self {
            Error::Kafka(_, m) => m.clone(),
            Error::Io(e) => format!("storage error: {e}"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Kafka(code, msg) => write!(f, "{code}: {msg}"),
            Error::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
