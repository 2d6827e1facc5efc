//! A stand-in OpenTimestamps calendar with an Esplora-style header API (for
//! the e2e tests; the public calendars and Bitcoin cannot run here):
//!
//! ```sh
//! cargo run -p kwh-btc-iot-gateway --example standin_calendar -- --listen 127.0.0.1:0 --port-file F
//! ```
//!
//! then `kwh-btc-iot serve --anchor-network regtest --ots-calendars http://127.0.0.1:PORT
//! --header-source http://127.0.0.1:PORT`, and `curl -X POST http://127.0.0.1:PORT/mine`
//! to put every commitment received so far in a (regtest-difficulty) block.
//! The protocol and the switches are described in `tests/anchoring_support/mod.rs`.
use clap::Parser;

#[path = "../tests/anchoring_support/mod.rs"]
mod anchoring_support;

#[derive(Parser)]
#[command(name = "standin_calendar")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Write the port to this file once listening.
    #[arg(long)]
    port_file: Option<std::path::PathBuf>,
    /// Mine a block every N milliseconds (0: only on POST /mine).
    #[arg(long, default_value_t = 0)]
    auto_mine_ms: u64,
    /// Start in outage mode (503 answers until POST /control/unavailable/off).
    #[arg(long)]
    unavailable: bool,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cal = anchoring_support::Calendar::new();
    cal.set_unavailable(args.unavailable);
    let served = anchoring_support::Served::start(cal.clone(), &args.listen).await?;
    if let Some(f) = &args.port_file {
        std::fs::write(f, served.addr.port().to_string())?;
    }
    println!("stand-in calendar listening on {}", served.url());
    if args.auto_mine_ms > 0 {
        let cal = cal.clone();
        let every = std::time::Duration::from_millis(args.auto_mine_ms);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if cal.waiting() > 0 {
                    let m = cal.mine();
                    println!(
                        "mined block {} over {} commitment(s)",
                        m.height, m.commitments
                    );
                }
            }
        });
    }
    tokio::signal::ctrl_c().await?;
    Ok(())
}
