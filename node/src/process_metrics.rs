//! Metrics about the running binary: `heliograph_build_info` (a gauge of 1
//! whose labels name the version and platform) and Prometheus' standard
//! process metrics (`process_cpu_seconds_total`, `process_resident_memory_bytes`,
//! `process_virtual_memory_bytes`, `process_virtual_memory_max_bytes`,
//! `process_open_fds`, `process_max_fds`, `process_threads`,
//! `process_start_time_seconds`), read at each scrape by the `metrics-process`
//! crate (its collector only, without the `metrics` facade) and encoded here
//! for `prometheus-client`. Linux only: elsewhere the process metrics are absent.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels of `heliograph_build_info`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    os: &'static str,
    arch: &'static str,
}

/// Registers `heliograph_build_info` and, on Linux, the process collector.
pub fn register(registry: &mut Registry) {
    let build = Family::<BuildLabels, Gauge>::default();
    let labels =
        BuildLabels { version: env!("CARGO_PKG_VERSION"), os: std::env::consts::OS, arch: std::env::consts::ARCH };
    build.get_or_create(&labels).set(1);
    registry.register("heliograph_build_info", "Heliograph version and platform; always 1", build);
    #[cfg(target_os = "linux")]
    registry.register_collector(Box::new(linux::Process));
}

#[cfg(target_os = "linux")]
mod linux {
    use prometheus_client::collector::Collector;
    use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
    use prometheus_client::metrics::counter::ConstCounter;
    use prometheus_client::metrics::gauge::ConstGauge;

    /// Reads /proc/self at each scrape.
    #[derive(Debug)]
    pub(super) struct Process;

    fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: Option<u64>) -> std::fmt::Result {
        let Some(value) = value else { return Ok(()) };
        let gauge = ConstGauge::new(value);
        gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)
    }

    impl Collector for Process {
        fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
            let m = metrics_process::collector::collect();
            if let Some(seconds) = m.cpu_seconds_total {
                let counter = ConstCounter::new(seconds);
                // The encoder adds the counter's `_total` suffix.
                counter.encode(encoder.encode_descriptor(
                    "process_cpu_seconds",
                    "Total user and system CPU time spent in seconds",
                    None,
                    counter.metric_type(),
                )?)?;
            }
            let e = &mut encoder;
            gauge(e, "process_resident_memory_bytes", "Resident memory size in bytes", m.resident_memory_bytes)?;
            gauge(e, "process_virtual_memory_bytes", "Virtual memory size in bytes", m.virtual_memory_bytes)?;
            // The crate reports an unlimited limit as 0: absent then, as it is no maximum.
            let limit = |v: Option<u64>| v.filter(|v| *v > 0);
            gauge(
                e,
                "process_virtual_memory_max_bytes",
                "Maximum amount of virtual memory available in bytes",
                limit(m.virtual_memory_max_bytes),
            )?;
            gauge(e, "process_open_fds", "Number of open file descriptors", m.open_fds)?;
            gauge(e, "process_max_fds", "Maximum number of open file descriptors", limit(m.max_fds))?;
            gauge(e, "process_threads", "Number of OS threads in the process", m.threads)?;
            gauge(
                e,
                "process_start_time_seconds",
                "Start time of the process since the Unix epoch in seconds",
                m.start_time_seconds,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(text: &str, name: &str) -> Option<f64> {
        text.lines().find(|l| l.starts_with(name) && !l.starts_with('#'))?.rsplit(' ').next()?.parse().ok()
    }

    #[test]
    fn build_info_is_one_and_process_metrics_are_this_process() {
        let mut registry = Registry::default();
        register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        let version = format!("heliograph_build_info{{version=\"{}\"", env!("CARGO_PKG_VERSION"));
        assert!(text.lines().any(|l| l.starts_with(&version) && l.ends_with(" 1")), "{text}");
        if cfg!(target_os = "linux") {
            assert!(text.contains("# TYPE process_cpu_seconds counter"), "{text}");
            assert!(sample(&text, "process_cpu_seconds_total").is_some(), "{text}");
            let rss = sample(&text, "process_resident_memory_bytes").expect("rss");
            assert!(rss > 1024.0 * 1024.0, "a test binary holds more than 1 MiB: {rss}");
            assert!(sample(&text, "process_open_fds").expect("fds") >= 3.0, "stdin, stdout, stderr");
            assert!(sample(&text, "process_threads").expect("threads") >= 1.0);
            let start = sample(&text, "process_start_time_seconds").expect("start");
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs_f64();
            assert!(start <= now + 1.0 && start > now - 3600.0, "started within the hour: {start} vs {now}");
        }
    }
}
