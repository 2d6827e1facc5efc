//! `kwh-btc-iot serve`: the gateway (HTTP ingest, batching, receipts). All of
//! its logic lives in the `kwh-btc-iot-gateway` crate.
pub use kwh_btc_iot_gateway::cli::{run, ServeArgs};
