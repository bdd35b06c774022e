//! UnregisterBroker (KIP-631, api key 64) on the active controller: Kafka's
//! `ReplicationControlManager.unregisterBroker`. An unknown broker id is
//! BROKER_ID_NOT_REGISTERED ("Broker ID n is not currently registered"); otherwise the broker
//! leaves every ISR and leadership it holds (the same partition changes as fencing: leader →
//! next active ISR member, the ISR never empties) and an UnregisterBrokerRecord with its
//! current epoch follows. Kafka does not refuse a broker that is still unfenced: a running
//! broker's next heartbeat answers BROKER_ID_NOT_REGISTERED and it registers again as a new
//! epoch. Its session ends with the record (Kafka's `heartbeatManager.remove`).
//!
//! Thread-safety: one controller commit (serialised by the controller's lock). Blocking.

use super::brokers::leave_partitions;
use super::Controller;
use crate::error::{Error, ErrorCode, Result};
use crate::metadata::records::MetadataRecord;
use crate::metadata::TopicImage;

/// The records that unregister `broker` of epoch `epoch`: partition changes first, then
/// the UnregisterBrokerRecord (Kafka's `handleBrokerUnregistered` order).
pub(super) fn unregister_records(
    image: &crate::metadata::MetadataImage,
    broker: i32,
    epoch: i64,
    unclean: &dyn Fn(&TopicImage) -> bool,
) -> Vec<MetadataRecord> {
    let mut records = leave_partitions(image, broker, unclean);
    records.push(MetadataRecord::UnregisterBroker {
        broker_id: broker,
        broker_epoch: epoch,
    });
    records
}

impl Controller {
    /// Unregisters broker `broker_id` (see the module doc; blocking).
    pub fn unregister_broker(&self, broker_id: i32) -> Result<()> {
        self.commit(|image| {
            let Some(b) = image.brokers.get(&broker_id) else {
                return Err(Error::kafka(
                    ErrorCode::BrokerIdNotRegistered,
                    format!("Broker ID {broker_id} is not currently registered"),
                ));
            };
            let policy = self.unclean_policy(image);
            let records =
                unregister_records(image, broker_id, b.epoch, &|t| policy.enabled(&t.overrides));
            Ok((records, ()))
        })?;
        self.sessions.lock()?.remove(&broker_id);
        tracing::info!("broker {broker_id} unregistered");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::MetadataImage;
    use uuid::Uuid;

    #[test]
    fn unregistering_moves_leaders_then_removes_the_registration() {
        let mut image = MetadataImage::new("c".into());
        for id in [1, 2] {
            image.apply(&MetadataRecord::RegisterBroker {
                broker_id: id,
                incarnation_id: Uuid::from_u128(id as u128),
                broker_epoch: 10 + id as i64,
                endpoints: vec![],
                rack: None,
                fenced: false,
            });
        }
        let t = Uuid::from_u128(5);
        image.apply(&MetadataRecord::Topic {
            name: "t".into(),
            topic_id: t,
        });
        image.apply(&MetadataRecord::Partition {
            partition_id: 0,
            topic_id: t,
            isr: vec![2, 1],
            leader: 2,
            replicas: vec![2, 1],
            leader_epoch: 3,
            partition_epoch: 4,
            removing_replicas: vec![],
            adding_replicas: vec![],
        });
        let records = unregister_records(&image.clone(), 2, 12, &|_| false);
        assert!(matches!(
            records.last(),
            Some(MetadataRecord::UnregisterBroker {
                broker_id: 2,
                broker_epoch: 12
            })
        ));
        for r in &records {
            image.apply(r);
        }
        let p = &image.topic("t").expect("topic").partitions[0];
        assert_eq!((p.leader, p.isr.clone(), p.leader_epoch), (1, vec![1], 4));
        assert_eq!(p.replicas, vec![2, 1]);
        assert!(!image.brokers.contains_key(&2));
        assert!(image.brokers.contains_key(&1));
    }
}
