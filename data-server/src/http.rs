//! The data server's HTTP side on `metrics_addr`: Prometheus metrics at `/metrics`,
//! served by `ferrofs_metrics_http`.

use crate::heartbeat::HeartbeatStats;
use crate::metrics::DataMetrics;
use crate::scrub::ScrubStats;
use crate::store::ChunkStore;
use ferrofs_metrics_http::Scrape;
use std::sync::Arc;

/// What `/metrics` samples.
pub struct MetricsSources {
    pub metrics: Arc<DataMetrics>,
    pub store: Arc<ChunkStore>,
    pub scrub: Arc<ScrubStats>,
    pub heartbeat: Arc<HeartbeatStats>,
}

impl Scrape for MetricsSources {
    fn scrape(&self) -> Result<String, std::fmt::Error> {
        self.metrics
            .refresh(&self.store.stat(), &self.scrub, &self.heartbeat);
        self.metrics.encode()
    }
}
