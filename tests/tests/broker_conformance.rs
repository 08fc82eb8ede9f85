//! The in-process broker and the Redis broker obey the same contract: every test here runs
//! against all three of the in-process broker, a real `redis-server`, and a real 3-master
//! Redis Cluster (sharded pub/sub, hash-tagged keys).

use integration_tests::{RedisCluster, RedisServer};
use serde_json::Value;
use shared::{
    Id, Room,
    acl::{Channel, Role},
    broker::Broker,
    event::{ChannelKind, ChannelRef, Envelope, Event},
    options::BrokerOptions,
};
use std::time::Duration;

fn id(s: &str) -> Id {
    Id::parse(s).unwrap()
}

async fn with_each_broker<F, Fut>(test: F)
where
    F: Fn(Broker) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    test(Broker::memory()).await;
    let redis = RedisServer::start();
    let opts = BrokerOptions {
        redis_url: redis.url(),
        redis_key_prefix: "t:".into(),
        ..BrokerOptions::default()
    };
    test(Broker::connect(&opts).await.expect("connect to redis")).await;
    let cluster = RedisCluster::start();
    let opts = BrokerOptions {
        redis_url: cluster.url(),
        redis_key_prefix: "t:".into(),
        ..BrokerOptions::default()
    };
    test(
        Broker::connect(&opts)
            .await
            .expect("connect to the redis cluster"),
    )
    .await;
}

fn channel(name: &str, public: bool) -> Channel {
    Channel {
        id: id(name),
        name: name.into(),
        kind: ChannelKind::Voice,
        public,
        created_at: "now".into(),
    }
}

#[tokio::test]
async fn publish_delivers_the_envelope_with_its_offset_to_subscribers_only() {
    with_each_broker(|broker| async move {
        let subscriber = broker.subscriber().await.unwrap();
        let mut messages = subscriber.messages();
        subscriber
            .subscribe(&["channel:1".to_owned()])
            .await
            .unwrap();
        let envelope = Envelope::new(Event::ChannelDeleted(ChannelRef {
            channel_id: id("1"),
        }));

        broker
            .publish(&Room::Channel(id("2")), &envelope)
            .await
            .unwrap();
        let offset = broker
            .publish(&Room::Channel(id("1")), &envelope)
            .await
            .unwrap();

        let message = tokio::time::timeout(Duration::from_secs(5), messages.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            &message.channel[..],
            b"channel:1",
            "only the subscribed channel arrives"
        );
        let received: Value = serde_json::from_slice(&message.payload).unwrap();
        assert_eq!(received["offset"], Value::String(offset));
        assert_eq!(received["type"], "channel_deleted");
        let back: Envelope = serde_json::from_slice(&message.payload).unwrap();
        assert_eq!(back.id, envelope.id);

        subscriber
            .unsubscribe(&["channel:1".to_owned()])
            .await
            .unwrap();
        // Unsubscribing is confirmed on plain Redis but asynchronous on a cluster (fred sends
        // SUNSUBSCRIBE without waiting): give it a moment before proving nothing arrives.
        tokio::time::sleep(Duration::from_millis(200)).await;
        broker
            .publish(&Room::Channel(id("1")), &envelope)
            .await
            .unwrap();
        let late = tokio::time::timeout(Duration::from_millis(300), messages.recv()).await;
        assert!(late.is_err(), "nothing arrives after unsubscribing");
    })
    .await;
}

#[tokio::test]
async fn channels_are_created_once_read_back_updated_and_deleted() {
    with_each_broker(|broker| async move {
        let mut ch = channel("c1", true);
        assert!(broker.create_channel(&ch, Some(&id("u1"))).await.unwrap());
        assert!(
            !broker.create_channel(&ch, None).await.unwrap(),
            "the id is taken"
        );
        assert_eq!(broker.channel(&id("c1")).await.unwrap(), Some(ch.clone()));
        assert_eq!(
            broker.standing(&id("c1"), &id("u1")).await.unwrap().role,
            Some(Role::Owner)
        );

        ch.name = "renamed".into();
        ch.public = false;
        broker.update_channel(&ch).await.unwrap();
        assert_eq!(broker.channel(&id("c1")).await.unwrap(), Some(ch));

        assert!(broker.delete_channel(&id("c1")).await.unwrap());
        assert!(!broker.delete_channel(&id("c1")).await.unwrap());
        assert_eq!(broker.channel(&id("c1")).await.unwrap(), None);
        assert_eq!(
            broker.standing(&id("c1"), &id("u1")).await.unwrap().role,
            None,
            "members go too"
        );
    })
    .await;
}

#[tokio::test]
async fn membership_bans_and_read_access() {
    with_each_broker(|broker| async move {
        let (c, u) = (id("c"), id("u"));
        broker
            .create_channel(&channel("c", false), None)
            .await
            .unwrap();
        let room = Room::Channel(c.clone());
        assert!(!broker.may_read(&room, &u).await.unwrap());

        assert_eq!(broker.set_member(&c, &u, Role::Member).await.unwrap(), None);
        assert_eq!(
            broker.set_member(&c, &u, Role::Moderator).await.unwrap(),
            Some(Role::Member)
        );
        assert!(broker.may_read(&room, &u).await.unwrap());

        assert!(broker.set_banned(&c, &u, true).await.unwrap());
        assert!(
            !broker.set_banned(&c, &u, true).await.unwrap(),
            "already banned"
        );
        let standing = broker.standing(&c, &u).await.unwrap();
        assert!(
            standing.banned && standing.role.is_none(),
            "a ban removes membership"
        );
        assert!(!broker.may_read(&room, &u).await.unwrap());

        assert!(broker.set_banned(&c, &u, false).await.unwrap());
        assert!(!broker.set_banned(&c, &u, false).await.unwrap());
        assert!(
            !broker.may_read(&room, &u).await.unwrap(),
            "unbanned is not a member again"
        );

        broker.set_member(&c, &u, Role::Member).await.unwrap();
        assert!(broker.remove_member(&c, &u).await.unwrap());
        assert!(!broker.remove_member(&c, &u).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn dms_usernames_messages_and_personal_rooms() {
    with_each_broker(|broker| async move {
        let (a, b, c) = (id("a"), id("b"), id("c"));
        assert!(
            broker
                .create_dm(&id("d"), &[b.clone(), a.clone()])
                .await
                .unwrap()
        );
        assert!(
            !broker
                .create_dm(&id("d"), std::slice::from_ref(&a))
                .await
                .unwrap()
        );
        assert_eq!(
            broker.dm_participants(&id("d")).await.unwrap(),
            Some(vec![a.clone(), b.clone()])
        );
        assert_eq!(broker.dm_participants(&id("nope")).await.unwrap(), None);
        assert!(broker.may_read(&Room::Dm(id("d")), &a).await.unwrap());
        assert!(!broker.may_read(&Room::Dm(id("d")), &c).await.unwrap());

        assert!(broker.may_read(&Room::User(a.clone()), &a).await.unwrap());
        assert!(!broker.may_read(&Room::User(b.clone()), &a).await.unwrap());
        assert!(broker.may_read(&Room::Global, &a).await.unwrap());

        broker.set_username(&a, "ann").await.unwrap();
        assert_eq!(broker.username(&a).await.unwrap().as_deref(), Some("ann"));
        assert_eq!(broker.username(&b).await.unwrap(), None);

        assert!(
            broker
                .set_message_author(&id("ch"), &id("m"), &a)
                .await
                .unwrap()
        );
        assert!(
            !broker
                .set_message_author(&id("ch"), &id("m"), &b)
                .await
                .unwrap(),
            "first author stays"
        );
        assert_eq!(
            broker.message_author(&id("ch"), &id("m")).await.unwrap(),
            Some(a.clone())
        );
        broker.forget_message(&id("ch"), &id("m")).await.unwrap();
        assert_eq!(
            broker.message_author(&id("ch"), &id("m")).await.unwrap(),
            None
        );
    })
    .await;
}

#[tokio::test]
async fn redis_keeps_a_bounded_history_per_room_under_the_prefix() {
    let redis = RedisServer::start();
    let opts = BrokerOptions {
        redis_url: redis.url(),
        redis_key_prefix: "p:".into(),
        ..BrokerOptions::default()
    };
    let broker = Broker::connect(&opts).await.unwrap();
    let envelope = Envelope::new(Event::ChannelDeleted(ChannelRef {
        channel_id: id("9"),
    }));
    let mut offsets = Vec::new();
    for _ in 0..3 {
        offsets.push(
            broker
                .publish(&Room::Channel(id("9")), &envelope)
                .await
                .unwrap(),
        );
    }
    assert_eq!(redis.cli(&["XLEN", "p:history:{channel:9}"]), "3");
    let ttl: i64 = redis
        .cli(&["TTL", "p:history:{channel:9}"])
        .parse()
        .unwrap();
    assert!(ttl > 0, "history expires");
    let last = redis.cli(&["XREVRANGE", "p:history:{channel:9}", "+", "-", "COUNT", "1"]);
    assert!(
        last.contains(&offsets[2]),
        "the offset is the stream id: {last}"
    );
}

#[tokio::test]
async fn the_node_registry_expires_entries_that_are_not_refreshed() {
    use shared::fleet::NodeInfo;
    with_each_broker(|broker| async move {
        let node = |id: &str| NodeInfo {
            id: id.into(),
            url: format!("ws://{id}"),
            connections: 3,
            draining: false,
        };
        broker
            .register_node(&node("b"), Duration::from_secs(30))
            .await
            .unwrap();
        broker
            .register_node(&node("a"), Duration::from_millis(300))
            .await
            .unwrap();
        assert_eq!(
            broker.live_nodes().await.unwrap(),
            vec![node("a"), node("b")],
            "sorted by id"
        );

        let mut draining = node("b");
        draining.draining = true;
        broker
            .register_node(&draining, Duration::from_secs(30))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(
            broker.live_nodes().await.unwrap(),
            vec![draining],
            "a expired, b refreshed"
        );

        broker.deregister_node("b").await.unwrap();
        assert!(broker.live_nodes().await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn live_maps_lease_entries_and_publish_only_committed_changes() {
    use shared::live::{LeaseOp, LiveKind};
    with_each_broker(|broker| async move {
        let room = "presence:u1";
        let ttl = Duration::from_millis(400);
        let subscriber = broker.subscriber().await.unwrap();
        let mut messages = subscriber.messages();
        subscriber.subscribe(&[room.to_owned()]).await.unwrap();
        let set = |field: &str, value: &str| LeaseOp::Set {
            field: field.into(),
            value: value.into(),
        };

        let first = broker.live_apply(room, &set("a", "1"), ttl).await.unwrap();
        assert!(first.changed);
        assert_eq!(first.entries, vec![("a".to_owned(), "1".to_owned())]);
        let second = broker.live_apply(room, &set("b", "2"), ttl).await.unwrap();
        assert!(second.version > first.version);
        // A commit from an older version loses: a later update publishes instead.
        assert!(
            !broker
                .live_commit(room, first.version, "A", Some("{\"n\":1}"), ttl)
                .await
                .unwrap()
        );
        assert!(
            broker
                .live_commit(room, second.version, "AB", Some("{\"n\":2}"), ttl)
                .await
                .unwrap()
        );
        let message = tokio::time::timeout(Duration::from_secs(5), messages.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&message.payload[..], b"{\"n\":2}");
        assert_eq!(
            broker
                .live_current(&[room.to_owned(), "presence:nobody".to_owned()])
                .await
                .unwrap(),
            vec![Some("AB".to_owned()), None]
        );

        // The same aggregate again is not news.
        let again = broker.live_apply(room, &set("b", "2"), ttl).await.unwrap();
        assert!(
            !broker
                .live_commit(room, again.version, "AB", Some("{\"n\":3}"), ttl)
                .await
                .unwrap()
        );

        // Renewing keeps "a"; "b", not renewed, lapses and the sweep reports the change.
        let touch = broker
            .live_apply(
                room,
                &LeaseOp::Touch {
                    fields: vec!["a".into()],
                },
                ttl,
            )
            .await
            .unwrap();
        assert!(!touch.changed, "nothing lapsed yet");
        tokio::time::sleep(Duration::from_millis(250)).await;
        broker
            .live_apply(
                room,
                &LeaseOp::Touch {
                    fields: vec!["a".into()],
                },
                ttl,
            )
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(250)).await;
        let swept = broker.live_apply(room, &LeaseOp::Sweep, ttl).await.unwrap();
        assert!(swept.changed);
        assert_eq!(swept.entries, vec![("a".to_owned(), "1".to_owned())]);
        let removed = broker
            .live_apply(room, &LeaseOp::Remove { field: "a".into() }, ttl)
            .await
            .unwrap();
        assert!(removed.entries.is_empty());
        assert!(
            broker
                .live_commit(room, removed.version, "", None, ttl)
                .await
                .unwrap()
        );
        assert_eq!(
            broker.live_current(&[room.to_owned()]).await.unwrap(),
            vec![None]
        );

        broker
            .live_index(LiveKind::Presence, &[room.to_owned()])
            .await
            .unwrap();
        assert_eq!(
            broker.live_indexed(LiveKind::Presence, 10).await.unwrap(),
            vec![room.to_owned()]
        );
        assert!(
            broker
                .live_stale(LiveKind::Presence, Duration::from_secs(60), 10)
                .await
                .unwrap()
                .is_empty()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            broker
                .live_stale(LiveKind::Presence, Duration::from_millis(10), 10)
                .await
                .unwrap(),
            vec![room.to_owned()]
        );
        broker.live_unindex(LiveKind::Presence, room).await.unwrap();
        assert!(
            broker
                .live_indexed(LiveKind::Presence, 10)
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn the_all_presence_pattern_sees_every_presence_channel() {
    use shared::broker::ALL_PRESENCE;
    // Patterns exist on the in-process broker and plain Redis (not on a cluster).
    let redis = RedisServer::start();
    let opts = BrokerOptions {
        redis_url: redis.url(),
        ..BrokerOptions::default()
    };
    for broker in [Broker::memory(), Broker::connect(&opts).await.unwrap()] {
        assert!(broker.supports_patterns());
        let subscriber = broker.subscriber().await.unwrap();
        let mut messages = subscriber.messages();
        subscriber
            .subscribe(&[ALL_PRESENCE.to_owned(), "presence:a".to_owned()])
            .await
            .unwrap();
        let envelope = Envelope::new(Event::ChannelDeleted(ChannelRef {
            channel_id: id("1"),
        }));
        broker
            .publish_transient(&Room::Presence(id("b")), &envelope)
            .await
            .unwrap();
        let via_pattern = tokio::time::timeout(Duration::from_secs(5), messages.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(via_pattern.via_pattern);
        assert_eq!(&via_pattern.channel[..], b"presence:b");
        // A channel that is also subscribed directly arrives twice: once each way.
        broker
            .publish_transient(&Room::Presence(id("a")), &envelope)
            .await
            .unwrap();
        let mut ways = Vec::new();
        for _ in 0..2 {
            ways.push(
                tokio::time::timeout(Duration::from_secs(5), messages.recv())
                    .await
                    .unwrap()
                    .unwrap()
                    .via_pattern,
            );
        }
        ways.sort();
        assert_eq!(ways, vec![false, true]);
    }
}
