//! The attacker's cases of issue 14: each test failed on the code before its
//! fix. Connection-level cases run the real server on real sockets.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::*;

fn scrape_len(metrics: &str) -> usize {
    metrics.len()
}

/// Finding 1: made-up methods and random paths must not mint metric series.
#[tokio::test]
async fn made_up_methods_and_random_paths_do_not_grow_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let (_gw, app) = start(config(dir.path())).await;
    // Warm up the series a normal client makes.
    let _ = get(&app, "/health").await;
    let _ = get(&app, "/no/such/path").await;
    let before = get(&app, "/metrics").await.text();
    for i in 0..2000u32 {
        let method = Method::from_bytes(format!("M{i:07}X").as_bytes()).unwrap();
        let r = call(
            &app,
            Request::builder()
                .method(method)
                .uri("/health")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
        let path = format!("/random/{i:x}/{}", i.wrapping_mul(2_654_435_761));
        assert_eq!(get(&app, &path).await.status, StatusCode::NOT_FOUND);
        let method = Method::from_bytes(format!("Q{i:07}").as_bytes()).unwrap();
        let _ = call(
            &app,
            Request::builder()
                .method(method)
                .uri(format!("/api/v1/logs/{i}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    }
    let after = get(&app, "/metrics").await.text();
    eprintln!(
        "/metrics: {} bytes before, {} bytes after 6000 made-up requests",
        scrape_len(&before),
        scrape_len(&after)
    );
    assert!(!after.contains("M0000001X"), "a made-up method is a label");
    assert!(!after.contains("/random/"), "a raw path is a label");
    assert!(
        after.len() < before.len() + 64 * 1024,
        "/metrics grew from {} to {} bytes",
        before.len(),
        after.len()
    );
    assert!(after.contains("method=\"other\""));
}
