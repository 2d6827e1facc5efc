//! `kwh-btc-iot serve`: the gateway (HTTP ingest, batching, receipts, MQTT
//! bridge). All of its logic lives in the `kwh-btc-iot-gateway` crate; the
//! options are boxed so the `Command` enum stays small.

/// The options of `kwh-btc-iot serve` (see `kwh_btc_iot_gateway::config::ServeArgs`).
#[derive(clap::Args, Debug)]
#[group(skip)]
pub struct ServeArgs {
    #[command(flatten)]
    inner: Box<kwh_btc_iot_gateway::cli::ServeArgs>,
}

/// Runs the gateway until SIGINT/SIGTERM.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    kwh_btc_iot_gateway::cli::run(*args.inner)
}
