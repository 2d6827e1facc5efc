//! The gateway as a stand-alone program, with the same options as
//! `kwh-btc-iot serve` (the crash tests use it when the CLI binary is not built).
use clap::Parser;

#[derive(Parser)]
#[command(name = "kwh-btc-iot-serve")]
struct Args {
    #[command(flatten)]
    serve: kwh_btc_iot_gateway::cli::ServeArgs,
}

fn main() -> anyhow::Result<()> {
    kwh_btc_iot_gateway::cli::run(Args::parse().serve)
}
