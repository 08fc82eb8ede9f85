//! The in-process broker and the Redis broker obey the same contract: every test here runs
//! against all three of the in-process broker, a real `redis-server`, and a real 3-master
//! Redis Cluster (sharded pub/sub, hash-tagged keys).

use integration_tests::{RedisCluster, RedisServer};
use serde_json::Value;
use shared::{
    Id, Room,
    acl::{Channel, Role},
    broker::{Broker, Change, Committed, Refusal},
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

/// A broker's options for `redis`, without a key prefix.
fn options(redis: &RedisServer) -> BrokerOptions {
    BrokerOptions {
        redis_url: redis.url(),
        ..BrokerOptions::default()
    }
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
        let position = broker
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
        assert_eq!(received["offset"], position.offset);
        assert_eq!(received["epoch"], position.epoch.as_str());
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

fn create(channel: Channel, owner: Option<&str>) -> Change {
    Change::CreateChannel {
        channel,
        owner: owner.map(id),
    }
}

#[tokio::test]
async fn channels_are_created_once_read_back_updated_and_deleted() {
    with_each_broker(|broker| async move {
        let mut ch = channel("c1", true);
        assert!(broker.apply(&create(ch.clone(), Some("u1"))).await.unwrap());
        assert!(
            !broker.apply(&create(ch.clone(), None)).await.unwrap(),
            "the id is taken"
        );
        assert_eq!(broker.channel(&id("c1")).await.unwrap(), Some(ch.clone()));
        assert_eq!(
            broker.standing(&id("c1"), &id("u1")).await.unwrap().role,
            Some(Role::Owner)
        );

        ch.name = "renamed".into();
        ch.public = false;
        assert!(
            broker
                .apply(&Change::UpdateChannel(ch.clone()))
                .await
                .unwrap()
        );
        assert_eq!(broker.channel(&id("c1")).await.unwrap(), Some(ch.clone()));

        broker
            .apply(&Change::DeleteChannel(id("c1")))
            .await
            .unwrap();
        assert_eq!(broker.channel(&id("c1")).await.unwrap(), None);
        assert_eq!(
            broker.standing(&id("c1"), &id("u1")).await.unwrap().role,
            None,
            "members go too"
        );
        assert!(
            !broker.apply(&Change::UpdateChannel(ch)).await.unwrap(),
            "a deleted channel is not brought back by an update"
        );
        assert_eq!(broker.channel(&id("c1")).await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn membership_bans_and_read_access() {
    with_each_broker(|broker| async move {
        let (c, u) = (id("c"), id("u"));
        broker
            .apply(&create(channel("c", false), None))
            .await
            .unwrap();
        let room = Room::Channel(c.clone());
        assert!(!broker.may_read(&room, &u).await.unwrap());
        let set = |role, existing| Change::SetMember {
            channel: c.clone(),
            user: u.clone(),
            role,
            existing,
        };
        let (ban, unban) = (
            Change::Ban {
                channel: c.clone(),
                user: u.clone(),
            },
            Change::Unban {
                channel: c.clone(),
                user: u.clone(),
            },
        );
        let remove = Change::RemoveMember {
            channel: c.clone(),
            user: u.clone(),
        };

        broker.apply(&set(Role::Member, false)).await.unwrap();
        broker.apply(&set(Role::Moderator, true)).await.unwrap();
        assert_eq!(
            broker.standing(&c, &u).await.unwrap().role,
            Some(Role::Moderator)
        );
        assert!(broker.may_read(&room, &u).await.unwrap());

        assert!(broker.apply(&ban).await.unwrap());
        assert!(
            broker.apply(&ban).await.unwrap(),
            "banning again is allowed"
        );
        let standing = broker.standing(&c, &u).await.unwrap();
        assert!(
            standing.banned && standing.role.is_none(),
            "a ban removes membership"
        );
        assert!(!broker.may_read(&room, &u).await.unwrap());
        assert!(
            !broker.apply(&set(Role::Member, false)).await.unwrap(),
            "a banned user does not join"
        );

        assert!(broker.apply(&unban).await.unwrap());
        assert!(
            !broker.apply(&unban).await.unwrap(),
            "not banned any more: refused"
        );
        assert!(
            !broker.may_read(&room, &u).await.unwrap(),
            "unbanned is not a member again"
        );

        broker.apply(&set(Role::Member, false)).await.unwrap();
        assert!(broker.apply(&remove).await.unwrap());
        assert!(
            !broker.apply(&remove).await.unwrap(),
            "not a member: refused"
        );
        assert!(
            !broker.apply(&set(Role::Moderator, true)).await.unwrap(),
            "a role change does not bring a removed member back"
        );
        assert_eq!(broker.standing(&c, &u).await.unwrap().role, None);
    })
    .await;
}

#[tokio::test]
async fn a_change_and_its_events_are_one_step_and_a_refused_change_publishes_nothing() {
    with_each_broker(|broker| async move {
        let subscriber = broker.subscriber().await.unwrap();
        let mut messages = subscriber.messages();
        let rooms = ["channel:k".to_owned(), "user:u".to_owned()];
        subscriber.subscribe(&rooms).await.unwrap();
        broker
            .apply(&create(channel("k", false), None))
            .await
            .unwrap();
        let (c, u) = (id("k"), id("u"));
        let kick = Change::RemoveMember {
            channel: c.clone(),
            user: u.clone(),
        };
        let event = |user: Option<&str>| {
            Envelope::new(Event::UserKicked(shared::event::Moderation {
                channel_id: c.clone(),
                user_id: user.map(id),
                motive: None,
            }))
        };
        let (on_channel, on_user) = (event(Some("u")), event(None));
        let publications = [
            (Room::Channel(c.clone()), &on_channel),
            (Room::User(u.clone()), &on_user),
        ];
        // Not a member: refused, nothing written, nothing published.
        assert_eq!(
            broker.commit(Some(&kick), &publications).await.unwrap(),
            Committed::Refused(Refusal::NotMember)
        );
        broker
            .apply(&Change::SetMember {
                channel: c.clone(),
                user: u.clone(),
                role: Role::Member,
                existing: false,
            })
            .await
            .unwrap();
        let Committed::Done(positions) = broker.commit(Some(&kick), &publications).await.unwrap()
        else {
            panic!("the kick was refused");
        };
        assert_eq!(positions.len(), 2, "{positions:?}");
        assert_eq!(broker.standing(&c, &u).await.unwrap().role, None);
        let mut got = Vec::new();
        for _ in 0..2 {
            let message = tokio::time::timeout(Duration::from_secs(5), messages.recv())
                .await
                .expect("both copies arrive")
                .unwrap();
            let v: Value = serde_json::from_slice(&message.payload).unwrap();
            let channel = String::from_utf8(message.channel.to_vec()).unwrap();
            got.push((channel, v["offset"].as_u64().unwrap()));
        }
        got.sort();
        assert_eq!(
            got,
            [
                ("channel:k".to_owned(), positions[0].offset),
                ("user:u".to_owned(), positions[1].offset),
            ],
            "one copy each, none from the refused attempt"
        );
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

        let record = |author: &Id| Change::RecordMessage {
            channel: id("ch"),
            message: id("m"),
            author: author.clone(),
            parent: None,
            as_member: false,
        };
        assert!(
            !broker.apply(&record(&a)).await.unwrap(),
            "no such channel: refused"
        );
        assert_eq!(
            broker.message_author(&id("ch"), &id("m")).await.unwrap(),
            None,
            "a refused record writes nothing"
        );
        broker
            .apply(&create(channel("ch", false), None))
            .await
            .unwrap();
        assert!(broker.apply(&record(&a)).await.unwrap());
        assert!(
            !broker.apply(&record(&b)).await.unwrap(),
            "first author stays"
        );
        assert_eq!(
            broker.message_author(&id("ch"), &id("m")).await.unwrap(),
            Some(a.clone())
        );
        let forget = Change::ForgetMessage {
            channel: id("ch"),
            message: id("m"),
            author: None,
        };
        assert!(broker.apply(&forget).await.unwrap());
        assert!(
            !broker.apply(&forget).await.unwrap(),
            "unknown message: refused"
        );
        assert_eq!(
            broker.message_author(&id("ch"), &id("m")).await.unwrap(),
            None
        );
    })
    .await;
}

/// A post's conditions are checked in the step that records it, in the order a client must
/// hear them: the channel, then the author's standing (banned before not a member), then the
/// parent, then the id. Joins and bans need the channel too.
#[tokio::test]
async fn a_post_is_refused_for_the_first_condition_that_fails() {
    with_each_broker(|broker| async move {
        let (c, author) = (id("posted"), id("writer"));
        let refusal = |change: Change| {
            let broker = broker.clone();
            async move {
                match broker.commit(Some(&change), &[]).await.unwrap() {
                    Committed::Refused(refusal) => Some(refusal),
                    Committed::Done(_) => None,
                }
            }
        };
        let post = |message: &str, parent: Option<&str>, as_member: bool| Change::RecordMessage {
            channel: id("posted"),
            message: id(message),
            author: id("writer"),
            parent: parent.map(id),
            as_member,
        };
        let join = Change::SetMember {
            channel: c.clone(),
            user: author.clone(),
            role: Role::Member,
            existing: false,
        };
        let ban = Change::Ban {
            channel: c.clone(),
            user: author.clone(),
        };
        assert_eq!(
            refusal(post("m1", Some("m0"), true)).await,
            Some(Refusal::NoChannel)
        );
        assert_eq!(refusal(join.clone()).await, Some(Refusal::NoChannel));
        assert_eq!(refusal(ban.clone()).await, Some(Refusal::NoChannel));
        assert_eq!(
            broker.standing(&c, &author).await.unwrap(),
            shared::acl::Standing::default(),
            "a refused join or ban writes nothing"
        );

        broker
            .apply(&create(channel("posted", false), None))
            .await
            .unwrap();
        assert_eq!(
            refusal(post("m1", Some("m0"), true)).await,
            Some(Refusal::NotMember)
        );
        assert_eq!(
            refusal(post("m1", None, false)).await,
            None,
            "a service's author need not be a member"
        );
        assert_eq!(refusal(join.clone()).await, None);
        assert_eq!(
            refusal(join.clone()).await,
            Some(Refusal::AlreadyMember),
            "a second join (a racing one) is refused: one join, one member_joined"
        );
        assert_eq!(
            refusal(post("m2", Some("m0"), true)).await,
            Some(Refusal::NoMessage)
        );
        assert_eq!(refusal(post("m2", Some("m1"), true)).await, None, "a reply");
        assert_eq!(refusal(post("m2", None, true)).await, Some(Refusal::Taken));
        assert_eq!(
            broker.message_author(&c, &id("m2")).await.unwrap(),
            Some(author.clone())
        );
        assert_eq!(refusal(ban).await, None);
        assert_eq!(
            refusal(post("m3", Some("m0"), true)).await,
            Some(Refusal::Banned),
            "banned before not a member, before the parent"
        );
        assert_eq!(broker.message_author(&c, &id("m3")).await.unwrap(), None);
        assert_eq!(
            refusal(post("m2", Some("m0"), false)).await,
            Some(Refusal::NoMessage),
            "the parent before the id"
        );
        assert_eq!(
            refusal(post("m3", None, false)).await,
            None,
            "a service's post is not checked against bans"
        );
    })
    .await;
}

/// An edit writes nothing, but is published only while its conditions hold, checked in the
/// step that publishes: the channel, the editor's standing, the message, its author.
#[tokio::test]
async fn an_edit_is_refused_for_the_first_condition_that_fails() {
    with_each_broker(|broker| async move {
        let c = id("edited");
        let refusal = |message: &str, editor: Option<&str>| {
            let broker = broker.clone();
            let change = Change::EditMessage {
                channel: c.clone(),
                message: id(message),
                editor: editor.map(id),
            };
            async move {
                match broker.commit(Some(&change), &[]).await.unwrap() {
                    Committed::Refused(refusal) => Some(refusal),
                    Committed::Done(_) => None,
                }
            }
        };
        assert_eq!(refusal("m1", None).await, Some(Refusal::NoChannel));
        broker
            .apply(&create(channel("edited", false), Some("writer")))
            .await
            .unwrap();
        for user in ["other", "banned"] {
            let join = Change::SetMember {
                channel: c.clone(),
                user: id(user),
                role: Role::Member,
                existing: false,
            };
            assert!(broker.apply(&join).await.unwrap());
        }
        let post = Change::RecordMessage {
            channel: c.clone(),
            message: id("m1"),
            author: id("writer"),
            parent: None,
            as_member: true,
        };
        assert!(broker.apply(&post).await.unwrap());

        assert_eq!(refusal("m1", Some("writer")).await, None, "the author");
        assert_eq!(refusal("m1", None).await, None, "a service");
        assert_eq!(
            broker.message_author(&c, &id("m1")).await.unwrap(),
            Some(id("writer")),
            "an edit writes nothing"
        );
        assert_eq!(refusal("m1", Some("other")).await, Some(Refusal::NotAuthor));
        let forget_as = |user: &str| Change::ForgetMessage {
            channel: c.clone(),
            message: id("m1"),
            author: Some(id(user)),
        };
        assert!(
            !broker.apply(&forget_as("other")).await.unwrap(),
            "a deletion by another member is refused as an edit is"
        );
        assert!(!broker.apply(&forget_as("stranger")).await.unwrap());
        assert_eq!(
            refusal("m1", Some("stranger")).await,
            Some(Refusal::NotMember)
        );
        assert_eq!(
            refusal("m9", Some("writer")).await,
            Some(Refusal::NoMessage)
        );
        assert_eq!(refusal("m9", None).await, Some(Refusal::NoMessage));
        let ban = Change::Ban {
            channel: c.clone(),
            user: id("banned"),
        };
        assert!(broker.apply(&ban).await.unwrap());
        assert_eq!(
            refusal("m9", Some("banned")).await,
            Some(Refusal::Banned),
            "the editor's standing before the message"
        );
        let forget = Change::ForgetMessage {
            channel: c.clone(),
            message: id("m1"),
            author: Some(id("writer")),
        };
        assert!(broker.apply(&forget).await.unwrap());
        assert_eq!(
            refusal("m1", Some("writer")).await,
            Some(Refusal::NoMessage),
            "not after the message's deletion"
        );
        assert!(
            broker
                .apply(&Change::DeleteChannel(c.clone()))
                .await
                .unwrap()
        );
        assert_eq!(refusal("m1", None).await, Some(Refusal::NoChannel));
    })
    .await;
}

/// Redis forgets its scripts on a restart or a `SCRIPT FLUSH`: every script the broker runs
/// is loaded again and the call made once more, with the same keys and arguments.
#[tokio::test]
async fn redis_scripts_are_loaded_again_after_a_script_flush() {
    use shared::live::LeaseOp;
    let redis = RedisServer::start();
    let opts = options(&redis);
    let broker = Broker::connect(&opts).await.unwrap();
    let c = id("kept");
    let forget = || assert_eq!(redis.cli(&["SCRIPT", "FLUSH"]), "OK");

    forget();
    let created = create(channel("kept", true), Some("writer"));
    assert!(broker.apply(&created).await.unwrap(), "the commit script");
    let post = Change::RecordMessage {
        channel: c.clone(),
        message: id("m1"),
        author: id("writer"),
        parent: None,
        as_member: true,
    };
    let envelope = Envelope::new(Event::ChannelDeleted(ChannelRef {
        channel_id: c.clone(),
    }));
    forget();
    let published = broker
        .commit(Some(&post), &[(Room::Channel(c.clone()), &envelope)])
        .await
        .unwrap();
    assert!(
        matches!(published, Committed::Done(ref p) if p.len() == 1),
        "{published:?}"
    );
    assert_eq!(
        broker.message_author(&c, &id("m1")).await.unwrap(),
        Some(id("writer")),
        "the conditions and the writes went through the second call"
    );

    forget();
    let read = broker.history_after("channel:kept", 0, 10).await.unwrap();
    assert_eq!(read.events.len(), 1, "the history script");

    forget();
    let participants = [id("a"), id("b")];
    assert!(
        broker.create_dm(&id("d"), &participants).await.unwrap(),
        "the DM script"
    );
    assert_eq!(
        broker
            .dm_participants(&id("d"))
            .await
            .unwrap()
            .map(|p| p.len()),
        Some(2)
    );

    forget();
    let set = LeaseOp::Set {
        field: "n:a.0|1".into(),
        value: "online".into(),
    };
    let snapshot = broker.live_apply("presence:a", &set).await.unwrap();
    assert_eq!(snapshot.entries.len(), 1, "the live-state script");
    forget();
    assert!(
        broker
            .live_commit("presence:a", snapshot.version, "online", None)
            .await
            .unwrap()
    );
    forget();
    broker
        .live_renew("n:a", Duration::from_secs(5), false)
        .await
        .unwrap();
    forget();
    broker.live_claim(Duration::from_secs(5), 10).await.unwrap();
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
    let mut positions = Vec::new();
    for _ in 0..3 {
        positions.push(
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
        last.starts_with(&format!("{}-0", positions[2].offset)),
        "the offset is the stream id: {last}"
    );
    assert_eq!(
        redis.cli(&["HGET", "p:history:{channel:9}:meta", "e"]),
        positions[2].epoch
    );
    let meta_ttl: i64 = redis
        .cli(&["TTL", "p:history:{channel:9}:meta"])
        .parse()
        .unwrap();
    assert!(meta_ttl > 0, "the epoch expires with the history");
}

/// Publishes `n` events on channel `c` and returns their positions.
async fn publish_n(broker: &Broker, c: &str, n: usize) -> Vec<shared::history::Position> {
    let mut positions = Vec::new();
    for _ in 0..n {
        let envelope = Envelope::new(Event::ChannelDeleted(ChannelRef { channel_id: id(c) }));
        positions.push(
            broker
                .publish(&Room::Channel(id(c)), &envelope)
                .await
                .unwrap(),
        );
    }
    positions
}

#[tokio::test]
async fn offsets_count_up_per_room_within_one_epoch_and_history_reads_after_one() {
    with_each_broker(|broker| async move {
        // A room without history reads as offset 0 of no epoch (and the read writes
        // nothing); the first publication starts its epoch, which the next ones keep.
        let before = broker.history_after("channel:h1", 0, 10).await.unwrap();
        assert_eq!(before.top, shared::history::Position::none());
        assert!(before.events.is_empty());
        let positions = publish_n(&broker, "h1", 5).await;
        let offsets: Vec<u64> = positions.iter().map(|p| p.offset).collect();
        assert_eq!(offsets, [1, 2, 3, 4, 5]);
        assert!(!positions[0].epoch.is_empty());
        assert!(
            positions.iter().all(|p| p.epoch == positions[0].epoch),
            "{positions:?}"
        );
        assert!(before.top.continues_in(&positions[4]));
        // Another room counts on its own.
        assert_eq!(publish_n(&broker, "h2", 1).await[0].offset, 1);

        let read = broker.history_after("channel:h1", 2, 10).await.unwrap();
        assert_eq!(read.top, positions[4]);
        let got: Vec<u64> = read.events.iter().map(|(o, _)| *o).collect();
        assert_eq!(got, [3, 4, 5]);
        assert!(read.is_complete_after(2));
        // Each entry is the payload as published, offset and epoch included.
        let third: Value = serde_json::from_slice(&read.events[0].1).unwrap();
        assert_eq!(third["offset"], 3);
        assert_eq!(third["epoch"], positions[0].epoch.as_str());
        assert_eq!(third["type"], "channel_deleted");
        // The limit cuts the read, which then is not complete.
        let cut = broker.history_after("channel:h1", 0, 2).await.unwrap();
        assert_eq!(cut.events.len(), 2);
        assert!(!cut.is_complete_after(0));
        // Nothing after the top.
        assert!(
            broker
                .history_after("channel:h1", 5, 10)
                .await
                .unwrap()
                .events
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn deleting_a_channel_starts_its_history_over_in_a_new_epoch() {
    with_each_broker(|broker| async move {
        let owner = id("1");
        broker
            .apply(&Change::CreateChannel {
                channel: channel("h3", false),
                owner: Some(owner),
            })
            .await
            .unwrap();
        let first = publish_n(&broker, "h3", 2).await;
        broker
            .apply(&Change::DeleteChannel(id("h3")))
            .await
            .unwrap();
        let after = publish_n(&broker, "h3", 1).await;
        assert_eq!(after[0].offset, 1);
        assert_ne!(
            after[0].epoch, first[1].epoch,
            "a reset history has a new epoch"
        );
    })
    .await;
}

#[tokio::test]
async fn history_is_trimmed_to_its_length_and_then_reads_as_incomplete() {
    let redis = RedisServer::start();
    let mut opts = options(&redis);
    opts.history.history_max_len = 10;
    for broker in [
        Broker::connect(&BrokerOptions {
            redis_url: "memory://".into(),
            ..opts.clone()
        })
        .await
        .unwrap(),
        Broker::connect(&opts).await.unwrap(),
    ] {
        // Redis trims whole blocks (MAXLEN ~): publish well past one block of 100.
        publish_n(&broker, "t1", 450).await;
        let read = broker.history_after("channel:t1", 0, 1000).await.unwrap();
        assert_eq!(read.top.offset, 450);
        assert!(read.events.len() < 450, "trimmed: {}", read.events.len());
        assert!(!read.is_complete_after(0), "the first events are gone");
        let recent = broker.history_after("channel:t1", 445, 1000).await.unwrap();
        assert!(recent.is_complete_after(445), "the last ones are there");
    }
}

#[tokio::test]
async fn redis_starts_a_new_epoch_when_the_history_is_lost() {
    let redis = RedisServer::start();
    let opts = options(&redis);
    let broker = Broker::connect(&opts).await.unwrap();
    // Reading a room without history writes nothing.
    broker.history_after("channel:e1", 0, 10).await.unwrap();
    assert_eq!(redis.cli(&["EXISTS", "history:{channel:e1}:meta"]), "0");
    let first = publish_n(&broker, "e1", 3).await;
    // The stream evicted while its meta survives: the offsets cannot be trusted any more.
    redis.cli(&["DEL", "history:{channel:e1}"]);
    let second = publish_n(&broker, "e1", 1).await;
    assert_ne!(second[0].epoch, first[2].epoch);
    assert_eq!(second[0].offset, 1);
    // Everything gone (a restart without persistence): again a new epoch.
    redis.cli(&["FLUSHALL"]);
    let third = publish_n(&broker, "e1", 1).await;
    assert_ne!(third[0].epoch, second[0].epoch);
    assert_eq!(third[0].offset, 1);
    let read = broker.history_after("channel:e1", 0, 10).await.unwrap();
    assert_eq!(read.top, third[0]);
    assert_eq!(read.events.len(), 1);
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
async fn live_maps_publish_only_committed_changes_and_sweeps_remove_an_incarnation() {
    use shared::live::{LeaseOp, LiveKind};
    with_each_broker(|broker| async move {
        let room = "presence:u1";
        let subscriber = broker.subscriber().await.unwrap();
        let mut messages = subscriber.messages();
        subscriber.subscribe(&[room.to_owned()]).await.unwrap();
        let set = |field: &str, value: &str| LeaseOp::Set {
            field: field.into(),
            value: value.into(),
        };

        let first = broker.live_apply(room, &set("n1|1", "1")).await.unwrap();
        assert!(first.changed);
        assert_eq!(first.entries, vec![("n1|1".to_owned(), "1".to_owned())]);
        let second = broker.live_apply(room, &set("n2|1", "2")).await.unwrap();
        assert!(second.version > first.version);
        // A commit from an older version loses: a later update publishes instead.
        assert!(
            !broker
                .live_commit(room, first.version, "A", Some("{\"n\":1}"))
                .await
                .unwrap()
        );
        assert!(
            broker
                .live_commit(room, second.version, "AB", Some("{\"n\":2}"))
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
        let again = broker.live_apply(room, &set("n2|1", "2")).await.unwrap();
        assert!(
            !broker
                .live_commit(room, again.version, "AB", Some("{\"n\":3}"))
                .await
                .unwrap()
        );

        // A sweep of incarnation n2 removes its entries only (not those of n22 or n1).
        broker.live_apply(room, &set("n22|5", "3")).await.unwrap();
        let dead = |d: &str| LeaseOp::Sweep { dead: d.into() };
        let swept = broker.live_apply(room, &dead("n2")).await.unwrap();
        assert!(swept.changed);
        let fields: Vec<&str> = swept.entries.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["n1|1", "n22|5"]);
        let nothing = broker.live_apply(room, &dead("n2")).await.unwrap();
        assert!(!nothing.changed);
        assert_eq!(nothing.live_entries, 2);
        for field in ["n1|1", "n22|5"] {
            let remove = LeaseOp::Remove {
                field: field.into(),
            };
            broker.live_apply(room, &remove).await.unwrap();
        }
        let removed = broker.live_apply(room, &dead("n1")).await.unwrap();
        assert_eq!(removed.live_entries, 0);

        broker
            .live_index(LiveKind::Presence, &[room.to_owned()])
            .await
            .unwrap();
        assert_eq!(
            broker.live_indexed(LiveKind::Presence, 10).await.unwrap(),
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
async fn incarnation_leases_are_renewed_claimed_once_and_buried() {
    with_each_broker(|broker| async move {
        let ttl = Duration::from_millis(300);
        assert!(broker.live_renew("a.0", ttl, false).await.unwrap());
        assert!(broker.live_renew("b.0", ttl, false).await.unwrap());
        broker.live_hold("b.0", "presence:7").await.unwrap();
        broker.live_hold("b.0", "channel:3").await.unwrap();
        broker.live_unhold("b.0", "channel:3").await.unwrap();
        assert!(
            broker.live_claim(ttl, 10).await.unwrap().is_empty(),
            "all live"
        );

        // a renews, b stalls: once b's lease lapsed, one claim gets it, and b may not renew.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(broker.live_renew("a.0", ttl, true).await.unwrap());
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(broker.live_claim(ttl, 10).await.unwrap(), ["b.0"]);
        assert!(
            broker.live_claim(ttl, 10).await.unwrap().is_empty(),
            "claimed once"
        );
        assert!(!broker.live_renew("b.0", ttl, true).await.unwrap());
        assert_eq!(broker.live_held("b.0").await.unwrap(), ["presence:7"]);
        // A long sweep keeps its claim: nobody claims it again meanwhile.
        tokio::time::sleep(Duration::from_millis(200)).await;
        broker.live_extend_claim("b.0", ttl).await.unwrap();
        assert!(broker.live_renew("a.0", ttl, true).await.unwrap());
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(broker.live_claim(ttl, 10).await.unwrap().is_empty());

        // Buried: gone, and still not renewable by the incarnation that knew it was there.
        broker.live_buried("b.0").await.unwrap();
        assert!(broker.live_held("b.0").await.unwrap().is_empty());
        assert!(!broker.live_renew("b.0", ttl, true).await.unwrap());
        // A lapsed lease nobody claimed yet is simply renewed (a node back from a stall or a
        // Redis outage before any sweep).
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(broker.live_renew("a.0", ttl, true).await.unwrap());
        assert!(broker.live_claim(ttl, 10).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn the_all_presence_pattern_sees_every_presence_channel() {
    use shared::broker::ALL_PRESENCE;
    // A pattern on the in-process broker and plain Redis (a cluster has the fan-in channel
    // instead: tests/tests/redis_cluster.rs).
    let redis = RedisServer::start();
    let opts = options(&redis);
    for broker in [Broker::memory(), Broker::connect(&opts).await.unwrap()] {
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
