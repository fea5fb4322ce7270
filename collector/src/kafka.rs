//! Consuming agents' batches from a Kafka topic as a consumer group
//! (`collector --kafka-brokers ... --kafka-group G`, PostgreSQL store only).
//!
//! Each message's batch is applied together with the partition's next offset in one
//! PostgreSQL transaction ([`PgStore::apply_consumed`]). On every partition assignment the
//! consumer starts from the offsets stored in PostgreSQL, not from the broker's: a collector
//! SIGKILLed at any point resumes (or another member of the group takes over) exactly after the
//! last batch applied. The broker's committed offsets are still updated afterwards (async, for
//! lag monitoring only); they never run ahead of PostgreSQL's.
//!
//! An agent's batches are spread over partitions by route family, so one agent run's batches
//! arrive in order per partition only: each batch's run id is replaced by one derived from
//! (run id, topic, partition), giving one high-water mark per run and partition. A batch
//! published twice (an agent killed between the broker's acknowledgement and its spool
//! removal) is then caught as at or below its mark.

use crate::state::AppState;
use crate::store::pg::{Consumed, PgStore, Position};
use crate::store::{StoreError, StoreLimits};
use analyzer::kafka::KafkaOptions;
use analyzer::wire::Batch;
use rdkafka::bindings::rd_kafka_resp_err_t as RespErr;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// What the consumer needs.
#[derive(Debug, Clone)]
pub struct KafkaConsumerConfig {
    pub options: KafkaOptions,
    pub group: String,
    /// The PostgreSQL store (`postgres://...`).
    pub store_url: String,
    pub limits: StoreLimits,
}

/// Starts each assigned partition at the offset PostgreSQL holds for it.
struct FromStore {
    store: Arc<PgStore>,
    group: String,
    topic: String,
}

impl ClientContext for FromStore {}

impl ConsumerContext for FromStore {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RespErr, tpl: &mut TopicPartitionList) {
        match err {
            RespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let stored = match self.store.consumed_offsets(&self.group, &self.topic) {
                    Ok(s) => s,
                    Err(e) => {
                        // The broker's committed offsets never run ahead of PostgreSQL's, and
                        // an offset consumed before is recognised: starting there is safe.
                        tracing::warn!("Kafka: reading consumed offsets: {e}; starting from the group's committed offsets");
                        Default::default()
                    }
                };
                let parts: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                for p in parts {
                    let offset = stored
                        .get(&p)
                        .map_or(Offset::Stored, |n| Offset::Offset(*n));
                    if let Err(e) = tpl.set_partition_offset(&self.topic, p, offset) {
                        tracing::warn!("Kafka: positioning partition {p}: {e}");
                    }
                }
                tracing::info!(
                    "Kafka: assigned partitions {:?} of {}",
                    tpl.elements()
                        .iter()
                        .map(|e| e.partition())
                        .collect::<Vec<_>>(),
                    self.topic
                );
                if let Err(e) = consumer.assign(tpl) {
                    tracing::warn!("Kafka: assigning partitions: {e}");
                }
            }
            RespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                if let Err(e) = consumer.unassign() {
                    tracing::warn!("Kafka: unassigning partitions: {e}");
                }
            }
            other => tracing::warn!("Kafka: rebalance error {other:?}"),
        }
    }
}

/// A run id standing for `run_id` on one partition: 32 hex digits, as the wire requires.
pub fn partition_run_id(run_id: &str, topic: &str, partition: i32) -> String {
    let input = format!("{run_id}\0{topic}\0{partition}");
    let digest = ring::digest::digest(&ring::digest::SHA256, input.as_bytes());
    digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Connect the consumer and start its thread; it runs until `stop` is set.
pub fn spawn(
    config: KafkaConsumerConfig,
    state: Arc<AppState>,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<()>, String> {
    let store = Arc::new(
        PgStore::open(&config.store_url, config.limits.clone()).map_err(|e| e.to_string())?,
    );
    let mut client = ClientConfig::new();
    for (k, v) in config.options.properties()? {
        client.set(k, v);
    }
    client
        .set("group.id", &config.group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000");
    let topic = config.options.topic.clone();
    let consumer: BaseConsumer<FromStore> = client
        .create_with_context(FromStore {
            store: Arc::clone(&store),
            group: config.group.clone(),
            topic: topic.clone(),
        })
        .map_err(|e| format!("Kafka consumer for {}: {e}", config.options.brokers))?;
    consumer
        .subscribe(&[&topic])
        .map_err(|e| format!("subscribing to topic {topic}: {e}"))?;
    std::thread::Builder::new()
        .name("shadowtap-kafka".into())
        .spawn(move || consume(consumer, &store, &config.group, &topic, &state, &stop))
        .map_err(|e| format!("starting the Kafka consumer thread: {e}"))
}

fn consume(
    consumer: BaseConsumer<FromStore>,
    store: &PgStore,
    group: &str,
    topic: &str,
    state: &AppState,
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::SeqCst) {
        let message = match consumer.poll(Duration::from_millis(200)) {
            None => continue,
            Some(Err(e)) => {
                tracing::warn!("Kafka: {e}");
                continue;
            }
            Some(Ok(m)) => m,
        };
        let pos = Position {
            group,
            topic,
            partition: message.partition(),
            offset: message.offset(),
        };
        let batch = match Batch::decode(message.payload().unwrap_or_default(), &state.wire) {
            Ok(mut b) => {
                b.run_id = partition_run_id(&b.run_id, topic, pos.partition);
                Some(b)
            }
            Err(e) => {
                tracing::warn!(
                    "Kafka: message at {topic}/{}@{} is not a batch, skipped: {e}",
                    pos.partition,
                    pos.offset
                );
                None
            }
        };
        if !apply_until_done(store, batch.as_ref(), &pos, state, stop) {
            return;
        }
        // For lag monitoring only: PostgreSQL holds the position that counts.
        let _ = consumer.commit_message(&message, CommitMode::Async);
    }
}

/// Apply one message, retrying while the store is unreachable; false when stopped first.
fn apply_until_done(
    store: &PgStore,
    batch: Option<&Batch>,
    pos: &Position<'_>,
    state: &AppState,
    stop: &AtomicBool,
) -> bool {
    let mut backoff = Duration::from_millis(100);
    loop {
        match store.apply_consumed(batch, pos) {
            Ok(outcome) => {
                match (outcome, batch) {
                    (Consumed::Applied, Some(b)) => {
                        state.bump_generation();
                        state.metrics.batch("accepted", "");
                        state.metrics.observations.inc_by(b.observations);
                    }
                    (Consumed::Duplicate, _) => state.metrics.batch("duplicate", ""),
                    (Consumed::Skipped, _) => state.metrics.batch("refused", "malformed"),
                    _ => {}
                }
                return true;
            }
            Err(StoreError::TooManyAgents(n)) => {
                tracing::warn!("Kafka: the limit of {n} agents is reached; batch skipped");
                state.metrics.batch("refused", "too_many_agents");
                // Move past it: a refused batch must not block its partition.
                return apply_until_done(store, None, pos, state, stop);
            }
            Err(e) => {
                state.metrics.kafka_store_retries.inc();
                tracing::warn!(
                    "Kafka: applying {}/{}@{}: {e}; retrying",
                    pos.topic,
                    pos.partition,
                    pos.offset
                );
                if stop.load(Ordering::SeqCst) {
                    return false;
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_run_ids_are_valid_and_distinct_per_partition() {
        let run = "0123456789abcdef0123456789abcdef";
        let a = partition_run_id(run, "t", 0);
        let b = partition_run_id(run, "t", 1);
        assert_ne!(a, b);
        assert_eq!(a, partition_run_id(run, "t", 0));
        assert!(analyzer::wire::valid_run_id(&a), "{a}");
    }
}
