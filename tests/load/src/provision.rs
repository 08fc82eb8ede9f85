//! Channels and memberships created through the dispatcher before any socket connects, many
//! requests in flight at once. Doing it first matters: each creation publishes
//! `channel_created` on `global`, which every socket joins.

use crate::dispatcher::DispatcherApi;
use futures_util::{StreamExt, TryStreamExt, stream};
use std::time::Instant;

/// A channel to create: its id, its owner (a member who may moderate) and plain members.
#[derive(Clone, Debug)]
pub struct ChannelPlan {
    pub id: String,
    pub owner: String,
    pub members: Vec<String>,
}

/// Creates every channel, then every membership, `concurrency` requests at a time.
pub async fn provision(
    api: &DispatcherApi,
    channels: &[ChannelPlan],
    concurrency: usize,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let memberships: usize = channels.iter().map(|c| c.members.len()).sum();
    eprintln!(
        "provisioning {} channels and {memberships} memberships through the dispatcher",
        channels.len()
    );
    stream::iter(channels)
        .map(|c| api.create_channel(&c.id, &c.owner))
        .buffer_unordered(concurrency)
        .try_collect::<()>()
        .await?;
    stream::iter(
        channels
            .iter()
            .flat_map(|c| c.members.iter().map(move |m| (&c.id, m))),
    )
    .map(|(channel, member)| api.add_member(channel, member))
    .buffer_unordered(concurrency)
    .try_collect::<()>()
    .await?;
    eprintln!("provisioned in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
