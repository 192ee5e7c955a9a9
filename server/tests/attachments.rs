//! Attachments: streamed up and down as opaque blobs, size-limited,
//! all-or-nothing, deleted with their thread. On SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use reqwest::Method;
use samtale_protocol::wire::{AttachmentStored, ErrorCode};
use sha2::{Digest, Sha256};
use support::world::World;
use support::{TestApp, TestDatabase, expect, expect_error};

fn pseudo_random(len: usize, seed: u8) -> Vec<u8> {
    // Incompressible enough, and reproducible: SHA-256 in counter mode.
    let mut out = Vec::with_capacity(len + 32);
    let mut counter = 0u64;
    while out.len() < len {
        let mut h = Sha256::new();
        h.update([seed]);
        h.update(counter.to_le_bytes());
        out.extend_from_slice(&h.finalize());
        counter += 1;
    }
    out.truncate(len);
    out
}

/// A request body that arrives in small pieces, as over a slow network.
fn streamed(bytes: Vec<u8>) -> reqwest::Body {
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(10_000).map(|c| Ok(c.to_vec())).collect();
    reqwest::Body::wrap_stream(futures_util::stream::iter(pieces))
}

async fn upload(
    app: &TestApp,
    token: &str,
    thread: &str,
    body: reqwest::Body,
) -> reqwest::Response {
    app.client
        .post(format!("{}/v1/threads/{thread}/attachments", app.address))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn attachments_stream_up_and_down_and_respect_the_limit(db: &TestDatabase) {
    let mut settings = db.app_settings();
    settings.messaging.attachment_max_bytes = 4 * 1024 * 1024;
    let app = TestApp::spawn_with(&settings).await;
    let world = World::build(&app).await;
    let maja = world
        .citizen(&app, &world.staff, world.team, "140114-4444")
        .await;
    let thread = world
        .open_thread(&app, &world.staff, world.team, &[&maja])
        .await;
    let thread_text = thread.to_string();

    let blob = pseudo_random(3 * 1024 * 1024 + 123, 1);
    let stored: AttachmentStored = expect(
        upload(
            &app,
            world.staff.token(),
            &thread_text,
            streamed(blob.clone()),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(stored.size, blob.len() as u64);
    assert_eq!(stored.sha256, hex::encode(Sha256::digest(&blob)));

    // The citizen downloads it, streamed, byte for byte.
    let response = app
        .call(
            Method::GET,
            &format!("/v1/attachments/{}", stored.attachment_id),
            Some(maja.actor.token()),
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-length"],
        blob.len().to_string().as_str()
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), blob.as_slice());

    // Over the limit: 413, and nothing of it stays behind.
    let before = app.storage.attachment_chunk_count().await.unwrap();
    let big = pseudo_random(4 * 1024 * 1024 + 1, 2);
    expect_error(
        upload(&app, world.staff.token(), &thread_text, streamed(big)).await,
        413,
        ErrorCode::TooLarge,
    )
    .await;
    assert_eq!(app.storage.attachment_chunk_count().await.unwrap(), before);
    // Empty uploads are refused too.
    expect_error(
        upload(
            &app,
            world.staff.token(),
            &thread_text,
            reqwest::Body::from(Vec::new()),
        )
        .await,
        422,
        ErrorCode::ValidationFailed,
    )
    .await;

    // Deleting the thread deletes its attachments.
    assert!(app.storage.delete_thread(&thread_text).await.unwrap());
    assert_eq!(app.storage.attachment_chunk_count().await.unwrap(), 0);
    let response = app
        .call(
            Method::GET,
            &format!("/v1/attachments/{}", stored.attachment_id),
            Some(world.staff.token()),
            None,
        )
        .await;
    expect_error(response, 404, ErrorCode::NotFound).await;
    app.stop().await;
}
on_both_backends!(
    streaming,
    attachments_stream_up_and_down_and_respect_the_limit
);
