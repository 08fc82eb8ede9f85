//! One-command local start: the dispatcher and two gateway nodes in one process, on the
//! in-process broker (or on Redis when `REDIS_URL` is set), with a demo channel, dev tokens
//! and the web chat ([`web`]) on its own port.

mod web;

use clap::Parser;
use shared::{
    Id,
    acl::{Channel, Role},
    auth::mint_hs256,
    broker::{Broker, Change},
    event::{ChannelKind, now_rfc3339},
    options::{BrokerOptions, JwtOptions},
};
use std::net::{IpAddr, SocketAddr};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[derive(Parser, Debug)]
#[command(
    name = "devstack",
    about = "Dispatcher + two gateway nodes in one process, for local development"
)]
struct Args {
    /// Redis URL; unset or `memory://` runs the in-process broker.
    #[arg(long, env = "REDIS_URL", default_value = "memory://")]
    redis_url: String,
    /// HS256 secret for the dev tokens.
    #[arg(long, env = "JWT_SECRET", default_value = "dev-secret")]
    jwt_secret: String,
    /// Service token accepted by the dispatcher.
    #[arg(
        long,
        env = "DISPATCHER_SERVICE_TOKENS",
        default_value = "dev-service-token"
    )]
    service_token: String,
    /// Address every listener binds.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Dispatcher port.
    #[arg(long, default_value_t = 8081)]
    dispatcher_port: u16,
    /// Redirect clients to their assigned node (off here, so any node URL works for a quick try;
    /// production nodes enforce it by default).
    #[arg(long)]
    enforce_assignment: bool,
    /// Gateway node ports, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "8080,8082")]
    gateway_ports: Vec<u16>,
    /// Port of the web chat (and its dev sign-in, `POST /dev/token`).
    #[arg(long, default_value_t = 8088)]
    web_port: u16,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();

    let broker_options = BrokerOptions {
        redis_url: args.redis_url.clone(),
        ..BrokerOptions::default()
    };
    let jwt = JwtOptions {
        jwt_secret: Some(args.jwt_secret.clone()),
        jwt_public_key_file: None,
    };
    let broker = Broker::connect(&broker_options).await?;
    let shutdown = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();

    let mut gateways = Vec::new();
    for (n, port) in args.gateway_ports.iter().enumerate() {
        let addr = SocketAddr::new(args.host, *port);
        let listener = TcpListener::bind(addr).await?;
        let mut config =
            gateway::Config::for_listen(addr, broker_options.clone(), &args.jwt_secret);
        let id = format!("dev-gateway-{}", n + 1);
        config.node_id = Some(id.clone());
        config.fleet.enforce_assignment = args.enforce_assignment;
        // The web chat's "online" list follows everyone; fine on one dev machine.
        config.limits.presence_allow_all = true;
        let url = format!("ws://{addr}/api/ws");
        config.public_url = Some(url.clone());
        gateways.push(web::GatewayNode { id, url });
        tasks.spawn(gateway::run(
            listener,
            config,
            broker.clone(),
            shutdown.clone(),
        ));
    }

    let dispatcher_addr = SocketAddr::new(args.host, args.dispatcher_port);
    let web_addr = SocketAddr::new(args.host, args.web_port);
    let dispatcher_config = dispatcher::Config {
        listen: dispatcher_addr.to_string(),
        service_tokens: vec![args.service_token.clone()],
        gateway_url: None,
        broker: broker_options.clone(),
        jwt,
        max_content_len: 4000,
        idempotency_ttl_secs: 24 * 3600,
        user_rate_per_second: 50,
        service_rate_per_second: 0,
        log_json: false,
        idle_timeout_secs: 30,
        cors_origins: web_origins(web_addr),
    };
    let listener = TcpListener::bind(dispatcher_addr).await?;
    tasks.spawn(dispatcher::run(
        listener,
        dispatcher_config,
        broker.clone(),
        shutdown.clone(),
    ));

    let web_listener = TcpListener::bind(web_addr).await?;
    let page = web::PageConfig {
        dispatcher_url: format!("http://{dispatcher_addr}"),
        gateways: gateways.clone(),
    };
    tasks.spawn(web::run(
        web_listener,
        broker.clone(),
        args.jwt_secret.clone(),
        page,
        shutdown.clone(),
    ));

    seed_demo(&broker).await?;
    let gateway_urls: Vec<String> = gateways.into_iter().map(|g| g.url).collect();
    print_banner(&args, dispatcher_addr, web_addr, &gateway_urls);

    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("stopping"),
        Some(result) = tasks.join_next() => {
            shutdown.cancel();
            return result?;
        }
    }
    shutdown.cancel();
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// The origins the web chat's pages have, which the dispatcher lets call it (CORS): the
/// listen address, and `localhost` for a loopback one. Any origin when listening on all
/// addresses (the page's host name is then unknown).
fn web_origins(web: SocketAddr) -> Vec<String> {
    let port = web.port();
    if web.ip().is_unspecified() {
        vec!["*".into()]
    } else if web.ip().is_loopback() {
        vec![format!("http://{web}"), format!("http://localhost:{port}")]
    } else {
        vec![format!("http://{web}")]
    }
}

/// A public text channel `1` ("general") where users 1 and 2 are members.
async fn seed_demo(broker: &Broker) -> anyhow::Result<()> {
    let id = Id::parse("1")?;
    let channel = Channel {
        id: id.clone(),
        name: "general".into(),
        kind: ChannelKind::Text,
        public: true,
        created_at: now_rfc3339(),
    };
    let alice = Id::parse("1")?;
    broker
        .apply(&Change::CreateChannel {
            channel,
            owner: Some(alice.clone()),
        })
        .await?;
    broker
        .apply(&Change::SetMember {
            channel: id,
            user: Id::parse("2")?,
            role: Role::Member,
            existing: false,
        })
        .await?;
    broker.set_username(&alice, "alice").await?;
    broker.set_username(&Id::parse("2")?, "bob").await?;
    Ok(())
}

fn print_banner(args: &Args, dispatcher: SocketAddr, web: SocketAddr, gateways: &[String]) {
    let day = 24 * 3600;
    let alice = mint_hs256(args.jwt_secret.as_bytes(), "1", Some("alice"), day);
    let bob = mint_hs256(args.jwt_secret.as_bytes(), "2", Some("bob"), day);
    let broker = if args.redis_url.starts_with("memory://") {
        "in-process broker"
    } else {
        args.redis_url.as_str()
    };
    println!(
        "\nchat gateway dev stack ({broker})\n\
         \n  web chat    http://{web}/   (sign in as any name; alice and bob are users 1 and 2)\n\
         \n  dispatcher  http://{dispatcher}/api/v1   (service token: {service})\
         \n  API docs    http://{dispatcher}/api/docs/   (OpenAPI: /api/openapi.json)\n",
        service = args.service_token
    );
    for (n, url) in gateways.iter().enumerate() {
        let origin = url.strip_suffix("/api/ws").unwrap_or(url);
        println!(
            "  gateway {}   {url}   (Discord v3: {origin}/   Lanyard: {origin}/socket)",
            n + 1
        );
    }
    println!(
        "\n  GET http://{dispatcher}/api/gateway?token=<token> tells a user which node to use.\n\
         \n  user 1 (alice, owner of channel 1):\n    {alice}\n  user 2 (bob, member of channel 1):\n    {bob}\n\
         \n  try:\n    websocat '{gw}?token={bob}'   then send {{\"op\":\"SUBSCRIBE\",\"room\":\"channel:1\"}}\n\
         \n    curl -X POST http://{dispatcher}/api/v1/channels/1/messages -H 'Authorization: Bearer {alice}' \\\n\
         \x20        -H 'Content-Type: application/json' -d '{{\"content\":\"hello\"}}'\n\
         \n  dev sign-in (this start only, never in a deployment): a token for any name\n\
         \x20   curl -X POST http://{web}/dev/token -H 'Content-Type: application/json' -d '{{\"name\":\"carol\"}}'\n",
        gw = gateways.first().map(String::as_str).unwrap_or_default()
    );
}
