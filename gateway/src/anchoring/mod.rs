//! Bitcoin anchoring of batch heads: the OpenTimestamps worker
//! ([`worker`], speaking the calendar protocol of [`calendar`]), the headers
//! it needs (Esplora-style HTTP), and node mode ([`bitcoind`]). The formats and every check are the core's
//! (`kwh_btc_iot_core::model::anchor`, `kwh_btc_iot_core::verify::anchor`); nothing here trusts a calendar or a header
//! source: a proof is stored as anchored only once the core verified it.

pub mod bitcoind;
pub mod calendar;
pub mod stored;
pub mod worker;

/// The gateway's HTTP client (see [`crate::http_client`]), used for the
/// calendars, the header sources and the node's JSON-RPC.
pub use crate::http_client::{join_url, HttpClient, HttpResponse};

/// Largest response body read from a calendar or header source (the core
/// refuses `.ots` data above 2 MiB anyway).
pub const MAX_RESPONSE_BYTES: usize = crate::http_client::DEFAULT_MAX_RESPONSE_BYTES;
