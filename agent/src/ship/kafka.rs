//! Publishing spooled batches to a Kafka topic instead of a collector's HTTPS port
//! (`--kafka-brokers`, `--kafka-topic`). One message per batch, keyed by its route family
//! ([`analyzer::kafka::batch_key`]; the spooler made one batch per family), sent one at a time
//! and waited for: a batch leaves the spool only once the brokers acknowledged it (`acks=all`),
//! and batches of one family reach their partition in spool order (idempotent producer), which
//! the collector's per-partition high-water mark relies on.
//!
//! A producer whose identity the brokers refuse (fenced, an unknown producer id or epoch, a
//! sequence gap) or that librdkafka marked fatal can never deliver again: it is replaced by a
//! new one, with a new producer id, and the batch stays in the spool for the next attempt. This
//! happens after a delivery timed out against a stalled broker, when librdkafka bumps the
//! producer's epoch. A copy of the batch that did land is dropped by the collector as a
//! duplicate.

use analyzer::kafka::{batch_key, KafkaOptions};
use analyzer::wire::{Batch, WireLimits};
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;
use std::sync::Mutex;
use std::time::Duration;

/// Remembers the outcome of the last delivery (one message is in flight at a time).
#[derive(Default)]
pub struct Delivery {
    last: Mutex<Option<Result<(), KafkaError>>>,
}

impl ClientContext for Delivery {}

impl ProducerContext for Delivery {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let outcome = match result {
            Ok(_) => Ok(()),
            Err((e, _)) => Err(e.clone()),
        };
        if let Ok(mut last) = self.last.lock() {
            *last = Some(outcome);
        }
    }
}

pub struct KafkaSink {
    config: ClientConfig,
    brokers: String,
    producer: Mutex<BaseProducer<Delivery>>,
    topic: String,
    timeout: Duration,
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl KafkaSink {
    /// A producer for `options` (nothing is sent yet); `timeout` bounds one delivery.
    pub fn new(options: &KafkaOptions, timeout: Duration) -> Result<KafkaSink, String> {
        let mut config = ClientConfig::new();
        for (k, v) in options.properties()? {
            config.set(k, v);
        }
        let ms = timeout.as_millis().max(1000).to_string();
        config
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", &ms)
            .set("socket.timeout.ms", &ms)
            .set("linger.ms", "0");
        let producer = create(&config, &options.brokers)?;
        Ok(KafkaSink {
            config,
            brokers: options.brokers.clone(),
            producer: Mutex::new(producer),
            topic: options.topic.clone(),
            timeout,
        })
    }

    /// Publish one encoded batch and wait for the brokers' acknowledgement.
    pub fn send(&self, bytes: &[u8]) -> Result<(), SendError> {
        // Our own bytes, read back from the spool: decoded only for the key.
        let limits = WireLimits {
            max_bytes: usize::MAX,
            ..WireLimits::default()
        };
        let key = Batch::decode(bytes, &limits)
            .map(|b| batch_key(&b))
            .map_err(|e| SendError::kept(format!("spooled batch: {e}")))?;
        let mut producer = self
            .producer
            .lock()
            .map_err(|_| SendError::kept("Kafka producer poisoned".to_string()))?;
        let (error, refused) = match self.deliver(&producer, key.as_bytes(), bytes) {
            Ok(()) => return Ok(()),
            Err(Failure::Enqueue(e)) => (
                format!("publishing to topic {}: {e}", self.topic),
                identity_refused(&e),
            ),
            Err(Failure::Refused(e)) => (
                format!("topic {} refused the batch: {e}", self.topic),
                identity_refused(&e),
            ),
            Err(Failure::NoReport) => (
                format!("topic {}: no acknowledgement in time", self.topic),
                false,
            ),
        };
        let fatal = producer.client().fatal_error();
        if refused || fatal.is_some() {
            *producer = create(&self.config, &self.brokers).map_err(SendError::kept)?;
            let why = fatal.map_or_else(String::new, |(code, reason)| {
                format!(" (fatal: {code:?}, {reason})")
            });
            return Err(SendError {
                message: format!("{error}; producer replaced{why}"),
                producer_replaced: true,
            });
        }
        Err(SendError::kept(error))
    }

    /// Send one record and wait for its delivery report.
    fn deliver(
        &self,
        producer: &BaseProducer<Delivery>,
        key: &[u8],
        bytes: &[u8],
    ) -> Result<(), Failure> {
        if let Ok(mut last) = producer.context().last.lock() {
            *last = None;
        }
        producer
            .send(BaseRecord::to(&self.topic).key(key).payload(bytes))
            .map_err(|(e, _)| Failure::Enqueue(e))?;
        // Poll for the delivery report rather than `flush`, which waits in 100 ms steps
        // (measured: 110 ms a message against 12 ms).
        let deadline = std::time::Instant::now() + self.timeout;
        while producer.in_flight_count() > 0 && std::time::Instant::now() < deadline {
            producer.poll(Duration::from_millis(1));
        }
        let outcome = producer
            .context()
            .last
            .lock()
            .ok()
            .and_then(|mut l| l.take());
        match outcome {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(Failure::Refused(e)),
            None => Err(Failure::NoReport),
        }
    }
}

/// A batch that was not published (it stays in the spool).
#[derive(Debug)]
pub struct SendError {
    pub message: String,
    /// The producer could not deliver any more and a new one took its place.
    pub producer_replaced: bool,
}

impl SendError {
    fn kept(message: String) -> SendError {
        SendError {
            message,
            producer_replaced: false,
        }
    }
}

/// Why one record was not delivered.
enum Failure {
    /// librdkafka would not take it (its queue, or the producer's state).
    Enqueue(KafkaError),
    /// The delivery report is an error.
    Refused(KafkaError),
    /// No delivery report within the timeout.
    NoReport,
}

fn create(config: &ClientConfig, brokers: &str) -> Result<BaseProducer<Delivery>, String> {
    config
        .create_with_context(Delivery::default())
        .map_err(|e| format!("Kafka producer for {brokers}: {e}"))
}

/// Whether the brokers refused the producer itself rather than the message: no later send of
/// this producer can succeed.
fn identity_refused(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::ProducerFenced
                | RDKafkaErrorCode::InvalidProducerEpoch
                | RDKafkaErrorCode::UnknownProducerId
                | RDKafkaErrorCode::OutOfOrderSequenceNumber
                | RDKafkaErrorCode::InvalidProducerIdMapping
                | RDKafkaErrorCode::Fenced
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_producer_identity_is_told_from_a_refused_message() {
        let production = |code| KafkaError::MessageProduction(code);
        for code in [
            RDKafkaErrorCode::ProducerFenced,
            RDKafkaErrorCode::InvalidProducerEpoch,
            RDKafkaErrorCode::UnknownProducerId,
            RDKafkaErrorCode::OutOfOrderSequenceNumber,
        ] {
            assert!(identity_refused(&production(code)), "{code:?}");
        }
        for code in [
            RDKafkaErrorCode::MessageTimedOut,
            RDKafkaErrorCode::MessageSizeTooLarge,
            RDKafkaErrorCode::UnknownTopicOrPartition,
            RDKafkaErrorCode::NotEnoughReplicas,
        ] {
            assert!(!identity_refused(&production(code)), "{code:?}");
        }
    }
}
