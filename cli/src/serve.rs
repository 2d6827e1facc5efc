//! `kwh-btc-iot serve`: placeholder until the gateway crate lands.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {}
pub fn run(_: ServeArgs) -> anyhow::Result<()> {
    anyhow::bail!("the gateway is not part of this build yet")
}
