//! Attachments: blobs the client encrypted, uploaded and downloaded by
//! streaming (never buffered whole), stored in 64 KiB chunks so that every
//! backend streams them and deleting a thread deletes its files.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use samtale_protocol::AttachmentId;
use samtale_protocol::wire::{AttachmentStored, ErrorCode};
use sha2::{Digest, Sha256};

use super::caller::Caller;
use super::threads::{Access, thread_context};
use super::validate::path_id;
use super::{ApiError, AppState, Created};
use crate::storage::Storage;

/// The size of a stored chunk.
pub const CHUNK: usize = 64 * 1024;

/// The longest an upload may go without sending anything.
pub const UPLOAD_STALL: std::time::Duration = std::time::Duration::from_secs(30);

/// The longest a whole upload may take (25 MiB at about 15 KiB/s).
pub const UPLOAD_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// `POST /v1/threads/{thread}/attachments`: upload an encrypted blob as the
/// raw request body (`application/octet-stream`).
#[utoipa::path(
    post,
    path = "/v1/threads/{thread}/attachments",
    tag = "threads",
    params(("thread" = String, Path, description = "The thread id.")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The encrypted bytes."),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Stored; reference the id from inside the envelope.", body = AttachmentStored),
        (status = 400, description = "The upload broke off.", body = samtale_protocol::wire::ErrorBody),
        (status = 413, description = "Larger than the configured limit.", body = samtale_protocol::wire::ErrorBody),
        super::openapi::Unauthorized,
        super::openapi::Forbidden,
        super::openapi::NotFound,
    )
)]
pub(super) async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    Path(thread): Path<String>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Result<Created<AttachmentStored>, ApiError> {
    if super::announced_length(&headers).is_some_and(|n| n > state.attachment_max_bytes) {
        return Err(super::too_large(state.attachment_max_bytes));
    }
    let _: samtale_protocol::ThreadId = path_id(&thread)?;
    let ctx = thread_context(&state, &caller, &thread)
        .await?
        .ok_or_else(|| ApiError::not_found("thread"))?;
    if ctx.access < Access::Write {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "record clerks read threads; only the team's staff and the citizens taking part upload",
        ));
    }
    let id = AttachmentId::random().map_err(ApiError::randomness)?;
    let id_text = id.to_string();
    state
        .storage
        .begin_attachment(&id_text, &thread, &caller.device_id, state.clock.now())
        .await?;
    match receive(&state.storage, &id_text, body, state.attachment_max_bytes).await {
        Ok((size, sha256)) => {
            state
                .storage
                .finish_attachment(
                    &id_text,
                    i64::try_from(size).unwrap_or(i64::MAX),
                    &sha256,
                    state.clock.now(),
                )
                .await?;
            tracing::info!(attachment_id = %id_text, size, "attachment stored");
            state
                .audit(
                    &caller,
                    crate::audit::Action::AttachmentUpload,
                    Some(&thread),
                    crate::audit::Detail::none()
                        .id("attachment", &id_text)
                        .number("size", i64::try_from(size).unwrap_or(i64::MAX)),
                )
                .await;
            Ok(Created(AttachmentStored {
                attachment_id: id,
                size,
                sha256: hex::encode(sha256),
            }))
        }
        Err(error) => {
            // Nothing half-stored stays behind.
            state.storage.delete_attachment(&id_text).await?;
            Err(error)
        }
    }
}

async fn receive(
    storage: &Storage,
    id: &str,
    body: Body,
    max: u64,
) -> Result<(u64, [u8; 32]), ApiError> {
    let mut stream = body.into_data_stream();
    let mut hash = Sha256::new();
    let mut size: u64 = 0;
    let mut buffer: Vec<u8> = Vec::with_capacity(CHUNK);
    let mut index: i64 = 0;
    let deadline = tokio::time::Instant::now() + UPLOAD_DEADLINE;
    loop {
        // An upload must keep moving: a piece at least every UPLOAD_STALL,
        // and the whole of it within UPLOAD_DEADLINE.
        let next = tokio::time::timeout_at(
            deadline.min(tokio::time::Instant::now() + UPLOAD_STALL),
            stream.next(),
        )
        .await
        .map_err(|_| {
            ApiError::new(
                ErrorCode::BadRequest,
                "the upload stalled or took too long; nothing was stored: upload again",
            )
        })?;
        let Some(piece) = next else { break };
        let piece: Bytes = piece.map_err(|_| {
            ApiError::new(
                ErrorCode::BadRequest,
                "the upload broke off; nothing was stored: upload again",
            )
        })?;
        size += piece.len() as u64;
        if size > max {
            return Err(ApiError::new(
                ErrorCode::TooLarge,
                format!("attachments are limited to {max} bytes"),
            ));
        }
        hash.update(&piece);
        let mut rest: &[u8] = &piece;
        while !rest.is_empty() {
            let take = (CHUNK - buffer.len()).min(rest.len());
            buffer.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if buffer.len() == CHUNK {
                storage.put_attachment_chunk(id, index, &buffer).await?;
                index += 1;
                buffer.clear();
            }
        }
    }
    if !buffer.is_empty() {
        storage.put_attachment_chunk(id, index, &buffer).await?;
    }
    if size == 0 {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "the attachment is empty",
        ));
    }
    Ok((size, hash.finalize().into()))
}

/// `GET /v1/attachments/{attachment}`: download the encrypted bytes.
#[utoipa::path(
    get,
    path = "/v1/attachments/{attachment}",
    tag = "threads",
    params(("attachment" = String, Path, description = "The attachment id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The encrypted bytes.", content_type = "application/octet-stream", body = Vec<u8>),
        super::openapi::Unauthorized,
        super::openapi::NotFound,
    )
)]
pub(super) async fn download(
    State(state): State<AppState>,
    caller: Caller,
    Path(attachment): Path<String>,
) -> Result<Response, ApiError> {
    let _: AttachmentId = path_id(&attachment)?;
    let row = match state.storage.attachment(&attachment).await? {
        Some(row) if row.completed => row,
        _ => return Err(ApiError::not_found("attachment")),
    };
    if thread_context(&state, &caller, &row.thread_id)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found("attachment"));
    }
    let storage = state.storage.clone();
    let id = row.id.clone();
    let stream = futures_util::stream::unfold(0i64, move |index| {
        let storage = storage.clone();
        let id = id.clone();
        async move {
            match storage.attachment_chunk(&id, index).await {
                Ok(Some(data)) => Some((Ok::<_, std::io::Error>(Bytes::from(data)), index + 1)),
                Ok(None) => None,
                Err(error) => {
                    tracing::error!(%error, "attachment read failed");
                    Some((Err(std::io::Error::other("read failed")), i64::MAX))
                }
            }
        }
    });
    let mut response = (StatusCode::OK, Body::from_stream(stream)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(len) = header::HeaderValue::from_str(&row.size.to_string()) {
        headers.insert(header::CONTENT_LENGTH, len);
    }
    if let Some(sha) = &row.sha256
        && let Ok(v) = header::HeaderValue::from_str(&hex::encode(sha))
    {
        headers.insert("x-content-sha256", v);
    }
    Ok(response)
}
