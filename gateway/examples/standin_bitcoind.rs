//! A stand-in Bitcoin Core node (regtest) for trying node mode without
//! bitcoind: the JSON-RPC methods node mode calls, over HTTP with basic
//! authentication, and `generatetoaddress` to mine. The same code the
//! gateway's tests run (gateway/tests/bitcoind_support).
//!
//! ```text
//! cargo run -p kwh-btc-iot-gateway --example standin_bitcoind -- --port 18443 --mine-every-s 10
//! kwh-btc-iot serve --anchor-network regtest --bitcoind-url http://127.0.0.1:18443 \
//!     --bitcoind-user rpcuser --bitcoind-password rpc-secret-pw --bitcoind-wallet anchors \
//!     --bitcoind-anchor-interval-s 10
//! ```

#[path = "../tests/bitcoind_support/mod.rs"]
mod bitcoind_support;

use std::time::Duration;

use bitcoind_support::{NodeOptions, StandInNode};
use clap::Parser;

#[derive(Parser)]
#[command(about = "A stand-in Bitcoin Core node (regtest JSON-RPC) for node mode")]
struct Args {
    /// Port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 18443)]
    port: u16,
    /// RPC user.
    #[arg(long, default_value = "rpcuser")]
    user: String,
    /// RPC password.
    #[arg(long, default_value = "rpc-secret-pw")]
    password: String,
    /// Write a cookie file (`__cookie__:<password>`) here; the user is then `__cookie__`.
    #[arg(long)]
    cookie_file: Option<std::path::PathBuf>,
    /// The loaded wallet's name.
    #[arg(long, default_value = "anchors")]
    wallet: String,
    /// The chain getblockchaininfo reports (main, test, signet, regtest).
    #[arg(long, default_value = "regtest")]
    chain: String,
    /// Mine a block every N seconds when the mempool is not empty (0: only on generatetoaddress).
    #[arg(long, default_value_t = 0)]
    mine_every_s: u64,
}

#[tokio::main]
async fn main() {
    let a = Args::parse();
    let mut opts = NodeOptions {
        user: a.user,
        password: a.password,
        wallet: a.wallet,
        chain: a.chain,
    };
    if let Some(c) = &a.cookie_file {
        opts.user = "__cookie__".into();
        std::fs::write(c, format!("__cookie__:{}", opts.password)).expect("cookie file");
    }
    let node = StandInNode::start_on(opts, a.port).await;
    println!("stand-in bitcoind listening on {}", node.url());
    loop {
        if a.mine_every_s > 0 {
            tokio::time::sleep(Duration::from_secs(a.mine_every_s)).await;
            if node.mempool_len() > 0 {
                let h = node.mine(1);
                println!("mined block {} at height {}", h[0], node.height());
            }
        } else {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    }
}
