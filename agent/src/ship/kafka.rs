//! Publishing spooled batches to a Kafka topic instead of a collector's HTTPS port
//! (`--kafka-brokers`, `--kafka-topic`). One message per batch, keyed by its route family
//! ([`analyzer::kafka::batch_key`]; the spooler made one batch per family), sent one at a time
//! and waited for: a batch leaves the spool only once the brokers acknowledged it (`acks=all`),
//! and batches of one family reach their partition in spool order (idempotent producer), which
//! the collector's per-partition high-water mark relies on.

use analyzer::kafka::{batch_key, KafkaOptions};
use analyzer::wire::{Batch, WireLimits};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;
use std::sync::Mutex;
use std::time::Duration;

/// Remembers the outcome of the last delivery (one message is in flight at a time).
#[derive(Default)]
pub struct Delivery {
    last: Mutex<Option<Result<(), String>>>,
}

impl ClientContext for Delivery {}

impl ProducerContext for Delivery {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let outcome = match result {
            Ok(_) => Ok(()),
            Err((e, _)) => Err(e.to_string()),
        };
        if let Ok(mut last) = self.last.lock() {
            *last = Some(outcome);
        }
    }
}

pub struct KafkaSink {
    producer: BaseProducer<Delivery>,
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
        let producer = config
            .create_with_context(Delivery::default())
            .map_err(|e| format!("Kafka producer for {}: {e}", options.brokers))?;
        Ok(KafkaSink {
            producer,
            topic: options.topic.clone(),
            timeout,
        })
    }

    /// Publish one encoded batch and wait for the brokers' acknowledgement.
    pub fn send(&self, bytes: &[u8]) -> Result<(), String> {
        // Our own bytes, read back from the spool: decoded only for the key.
        let limits = WireLimits {
            max_bytes: usize::MAX,
            ..WireLimits::default()
        };
        let key = Batch::decode(bytes, &limits)
            .map(|b| batch_key(&b))
            .map_err(|e| format!("spooled batch: {e}"))?;
        if let Ok(mut last) = self.producer.context().last.lock() {
            *last = None;
        }
        self.producer
            .send(BaseRecord::to(&self.topic).key(&key).payload(bytes))
            .map_err(|(e, _)| format!("publishing to topic {}: {e}", self.topic))?;
        // Poll for the delivery report rather than `flush`, which waits in 100 ms steps
        // (measured: 110 ms a message against 12 ms).
        let deadline = std::time::Instant::now() + self.timeout;
        while self.producer.in_flight_count() > 0 && std::time::Instant::now() < deadline {
            self.producer.poll(Duration::from_millis(1));
        }
        let outcome = self
            .producer
            .context()
            .last
            .lock()
            .map_err(|_| "delivery state poisoned".to_string())?
            .take();
        match outcome {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(format!("topic {} refused the batch: {e}", self.topic)),
            None => Err(format!("topic {}: no acknowledgement in time", self.topic)),
        }
    }
}
