//! The test support library itself: a real Redis can be started, stopped and started again.

use integration_tests::RedisServer;
use std::net::TcpStream;

#[test]
fn redis_server_stops_and_starts_again_on_the_same_port() {
    let mut redis = RedisServer::start();
    assert_eq!(redis.cli(&["ping"]), "PONG");
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{}", redis.port()));

    redis.stop();
    assert!(
        TcpStream::connect(("127.0.0.1", redis.port())).is_err(),
        "port {} still accepts connections after stop()",
        redis.port()
    );

    redis.start_again();
    assert_eq!(redis.cli(&["ping"]), "PONG");
}
