//! The MQTT bridge: meters that publish readings to an MQTT broker get them
//! stored exactly as if they had posted them to `POST /api/v1/logs`.
//!
//! - Topics `<prefix>/<site_id>/<iot_device_id>/<meter_id>` (prefix `energy`
//!   by default), subscribed at QoS 1 with a persistent session.
//! - Payloads: a full `emlog-1.1` log whose ids agree with the topic, or a
//!   compact device payload completed from the topic ([`payload`]), either
//!   optionally in a `{"log", "signature"}` envelope for devices that sign.
//! - Each message is acknowledged to the broker only once its log (or, when
//!   rejected, its dead letter) is durable; the device gets
//!   `{log_id, leaf_hash, warnings}` or `{error: {code, message, member}}` on
//!   `<prefix>-ack/<site_id>/<iot_device_id>/<meter_id>`.
//! - Redeliveries store nothing twice: logs are unique by leaf hash, dead
//!   letters by topic and payload.
//!
//! See `docs/mqtt.md` for the formats, the broker settings and the ACL.
//!
//! ```no_run
//! # async fn demo(gw: kwh_btc_iot_gateway::Gateway) -> anyhow::Result<()> {
//! use kwh_btc_iot_gateway::mqtt::{Bridge, MqttConfig};
//! let bridge = Bridge::start(gw.state.clone(), MqttConfig::from_url("mqtt://127.0.0.1:1883")?)?;
//! bridge.wait_subscribed(std::time::Duration::from_secs(10)).await;
//! // ... serve ...
//! bridge.shutdown().await;
//! # Ok(()) }
//! ```

pub mod bridge;
pub mod config;
pub mod dead_letter;
pub mod payload;

pub use bridge::{Bridge, LinkState};
pub use config::{MqttArgs, MqttConfig, MqttFileConfig};
pub use dead_letter::{list_dead_letters, DeadLetter, MqttApiDoc, NewDeadLetter};
