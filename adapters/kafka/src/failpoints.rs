//! Test-only fault injection (feature `failpoints`): the distributed fault
//! tests put a Kafka client into the states librdkafka has been seen stuck
//! in after a broker restart.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::producer::{FutureProducer, Producer as _};

/// `CHAT_FAILPOINT_KAFKA_PRODUCER_FATAL=N`: once per process, on the Nth
/// batch produced, the producer is put in librdkafka's fatal state (through
/// its own test hook), in which every later send fails.
pub fn producer_fatal(producer: &FutureProducer) {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let Some(n) = std::env::var("CHAT_FAILPOINT_KAFKA_PRODUCER_FATAL")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return;
    };
    if CALLS.fetch_add(1, Ordering::SeqCst) + 1 != n {
        return;
    }
    tracing::warn!("failpoint: the producer fails fatally");
    let reason = c"failpoint";
    // SAFETY: librdkafka's test hook, called on a live client handle (the
    // producer is borrowed) with a NUL-terminated reason it copies. Test-only:
    // this module exists only with the `failpoints` feature.
    #[allow(unsafe_code)]
    unsafe {
        rdkafka::bindings::rd_kafka_test_fatal_error(
            producer.client().native_ptr(),
            rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
            reason.as_ptr(),
        );
    }
}

/// `CHAT_FAILPOINT_KAFKA_DESERT_AFTER_SECS=N`: once per process, a consumer
/// that has lived N seconds leaves its group without telling the role — as a
/// client that lost its membership and never rejoined would.
pub fn desert(consumer: &StreamConsumer<impl rdkafka::consumer::ConsumerContext>, age_secs: u64) {
    static DONE: AtomicBool = AtomicBool::new(false);
    let Some(n) = std::env::var("CHAT_FAILPOINT_KAFKA_DESERT_AFTER_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return;
    };
    if age_secs >= n && !DONE.swap(true, Ordering::SeqCst) {
        tracing::warn!("failpoint: the consumer leaves its group silently");
        consumer.unsubscribe();
    }
}
