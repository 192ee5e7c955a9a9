//! Sending: text and files sealed to the verified recipients
//! ([`super::trust`]), encrypted attachments with progress, and the
//! signed delivered and read receipts.

use std::path::Path;

use samtale_protocol::payload::{
    AttachmentKey, AttachmentRef, MessagePayload, blob_sha256, open_referenced, seal_attachment,
};
use samtale_protocol::wire::{AttachmentStored, ConsentState, ErrorCode, MessagePage};
use samtale_protocol::{Envelope, MessageId, Receipt, ReceiptKind, ThreadId};

use super::view::{Tick, Verified};
use super::{ClientError, Session, now_secs};

/// Media type from a file name's extension.
pub fn media_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("pdf") => "application/pdf",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("txt") => "text/plain",
        Some("doc") => "application/msword",
        Some("docx") => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        _ => "application/octet-stream",
    }
}

impl Session {
    /// Marks a thread read up to `seq`: remembers it and sends a signed
    /// read receipt (over `relay` if one is open).
    pub async fn mark_read(
        &mut self,
        thread: ThreadId,
        seq: u64,
        relay: Option<&mut crate::relay::Relay>,
    ) -> Result<(), ClientError> {
        if seq == 0 {
            return Ok(());
        }
        let mut state = self.profile.state();
        let before = state.read.get(&thread).copied().unwrap_or(0);
        if seq <= before {
            return Ok(());
        }
        let receipt = Receipt::sign(
            self.device()?,
            thread,
            seq,
            ReceiptKind::Read,
            now_secs() * 1000,
        );
        match relay {
            Some(r) => r.receipt(receipt.as_bytes().to_vec()).await?,
            None => {
                let mut r = self.relay().await?;
                r.receipt(receipt.as_bytes().to_vec()).await?;
                r.close().await;
            }
        }
        state.read.insert(thread, seq);
        self.profile.save_state(&state)?;
        Ok(())
    }

    /// Tells the senders that this device has received a thread's messages
    /// up to `seq` (a signed delivered receipt over the live connection).
    pub async fn mark_delivered(
        &mut self,
        thread: ThreadId,
        seq: u64,
        relay: &mut crate::relay::Relay,
    ) -> Result<(), ClientError> {
        let receipt = Receipt::sign(
            self.device()?,
            thread,
            seq,
            ReceiptKind::Delivered,
            now_secs() * 1000,
        );
        relay.receipt(receipt.as_bytes().to_vec()).await?;
        Ok(())
    }

    /// Checks everything a message to `thread` depends on and returns the
    /// verified keys to seal it to: consent, this device's own standing
    /// (certified, or in the account's signed device list), and the
    /// holders the signed participant list names ([`Session::seal_targets`]).
    pub(crate) async fn recipients_for(
        &mut self,
        thread: ThreadId,
    ) -> Result<Vec<samtale_protocol::HolderPublicKey>, ClientError> {
        let before = self.keystore.secrets().pins.clone();
        let mut pins = before.clone();
        let result = self.recipients_in(thread, &mut pins).await;
        self.save_pins(&before, &pins)?;
        result
    }

    async fn recipients_in(
        &mut self,
        thread: ThreadId,
        pins: &mut super::trust::Pins,
    ) -> Result<Vec<samtale_protocol::HolderPublicKey>, ClientError> {
        let mut v = self.verified(thread, pins).await?;
        // Consent (docs/API.md): a citizen who withdrew cannot send; a
        // thread goes on while one of its citizens still consents, sealed
        // to those only (seal_targets).
        let citizens: Vec<_> = v
            .detail
            .citizens
            .iter()
            .filter(|c| v.vt.citizens.contains(&c.account_id))
            .collect();
        if citizens
            .iter()
            .any(|c| c.account_id == self.config.account_id && c.consent == ConsentState::Withdrawn)
        {
            return Err(ClientError::ConsentWithdrawn(
                "you withdrew your consent, so you cannot send here any more; you can still read and export your conversations (`samtale export`)".into(),
            ));
        }
        if !citizens.is_empty()
            && citizens
                .iter()
                .all(|c| c.consent == ConsentState::Withdrawn)
        {
            let names: Vec<&str> = citizens.iter().map(|c| c.display_name.as_str()).collect();
            return Err(ClientError::ConsentWithdrawn(format!(
                "{} withdrew consent; nothing more can be sent in Samtale. Use letter or digital post",
                names.join(" and ")
            )));
        }
        if self.is_staff() {
            let certified = self.own_certificate(&mut v.dir, pins).await?;
            let Some(body) = certified else {
                return Err(ClientError::Refused(
                    "this device is not certified by your organisation yet, so citizens could not trust what it sends; ask an admin to run `samtale admin certify`"
                        .into(),
                ));
            };
            if !body.roles.contains(samtale_protocol::Roles::STAFF)
                || !v.dir.team_member_now(v.vt.team, self.config.account_id)
            {
                return Err(ClientError::Refused(
                    "you are not in this thread's team (by its signed member list), so what you send would not verify; ask an admin"
                        .into(),
                ));
            }
        } else {
            match self.own_citizen_list(&mut v.dir, pins).await? {
                super::trust::OwnListing::Listed => {}
                _ => {
                    return Err(ClientError::Refused(format!(
                        "this device is not approved yet, so others could not trust what it sends: on your other device run `samtale devices approve --fingerprint {}`",
                        samtale_protocol::device_fingerprint(&self.device()?.public().identity)
                    )));
                }
            }
        }
        let names = v.names();
        let Verified {
            detail,
            vt,
            mut dir,
            ..
        } = v;
        self.seal_targets(&mut dir, pins, &vt, &detail, &names)
            .await
    }

    /// Sends text (and files) to a thread; returns `(seq, message id)`
    /// after the server has stored it.
    pub async fn send(
        &mut self,
        thread: ThreadId,
        text: &str,
        files: &[&Path],
        relay: Option<&mut crate::relay::Relay>,
        progress: &(dyn Fn(Tick) + Sync),
    ) -> Result<(u64, MessageId), ClientError> {
        if text.trim().is_empty() && files.is_empty() {
            return Err(ClientError::Refused(
                "nothing to send: write some text or attach a file".into(),
            ));
        }
        let recipients = self.recipients_for(thread).await?;
        let mut payload = MessagePayload::text(text);
        for path in files {
            let file = super::read_attachment(path, 25 * 1024 * 1024)?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "file".into());
            let key = AttachmentKey::generate().map_err(|e| ClientError::Refused(e.to_string()))?;
            let blob =
                seal_attachment(&key, &file).map_err(|e| ClientError::Refused(e.to_string()))?;
            let hash = blob_sha256(&blob);
            let total = blob.len() as u64;
            self.ensure_token().await?;
            progress(Tick::Bytes(0, Some(total)));
            // The body stream counts what it hands over; the bar follows.
            let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
            let counter = sent.clone();
            let path = format!("/v1/threads/{thread}/attachments");
            let upload = self.api.upload::<AttachmentStored>(&path, blob, move |n| {
                counter.store(n, std::sync::atomic::Ordering::Relaxed);
            });
            tokio::pin!(upload);
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
            let stored = loop {
                tokio::select! {
                    done = &mut upload => break done.map_err(Session::api_error)?,
                    _ = tick.tick() => progress(Tick::Bytes(
                        sent.load(std::sync::atomic::Ordering::Relaxed),
                        Some(total),
                    )),
                }
            };
            progress(Tick::Bytes(total, Some(total)));
            if stored.sha256 != hash {
                return Err(ClientError::Verification(
                    "the server stored other bytes than were uploaded".into(),
                ));
            }
            payload.attachments.push(AttachmentRef {
                id: stored.attachment_id,
                media_type: media_type(&name).into(),
                name,
                size: file.len() as u64,
                blob_sha256: hash,
                key,
            });
        }
        let bytes = payload
            .to_bytes()
            .map_err(|e| ClientError::Refused(e.to_string()))?;
        let message_id = MessageId::random().map_err(|e| ClientError::Refused(e.to_string()))?;
        let envelope = Envelope::seal(self.device()?, thread, message_id, &recipients, &bytes)
            .map_err(|e| ClientError::Refused(e.to_string()))?;
        let sent = match relay {
            Some(r) => {
                r.send_and_ack(thread, message_id, envelope.into_bytes())
                    .await
            }
            None => {
                let mut r = self.relay().await?;
                let out = r
                    .send_and_ack(thread, message_id, envelope.into_bytes())
                    .await;
                r.close().await;
                out
            }
        };
        match sent {
            Ok((seq, _)) => {
                // One's own message is not unread; keep the cursor when
                // earlier messages are still unread.
                let mut state = self.profile.state();
                let read = state.read.entry(thread).or_insert(0);
                if *read + 1 == seq {
                    *read = seq;
                    self.profile.save_state(&state)?;
                }
                Ok((seq, message_id))
            }
            Err(crate::relay::RelayError::Refused {
                code: ErrorCode::ConsentWithdrawn,
                message,
            }) => Err(ClientError::ConsentWithdrawn(format!(
                "{message}. Use letter or digital post"
            ))),
            Err(crate::relay::RelayError::Refused {
                code: ErrorCode::DeviceRevoked | ErrorCode::AuthenticationFailed,
                message,
            }) => Err(ClientError::SessionEnded(message)),
            Err(e) => Err(e.into()),
        }
    }

    /// Downloads, checks and decrypts attachment `index` (from 1) of a
    /// message. Returns its file name and bytes.
    pub async fn fetch_attachment(
        &mut self,
        thread: ThreadId,
        seq: u64,
        index: usize,
        progress: &(dyn Fn(Tick) + Sync),
    ) -> Result<(String, zeroize::Zeroizing<Vec<u8>>), ClientError> {
        let before = self.keystore.secrets().pins.clone();
        let mut pins = before.clone();
        let verified = self.verified(thread, &mut pins).await;
        self.save_pins(&before, &pins)?;
        let v = verified?;
        let page: MessagePage = self
            .get(&format!(
                "/v1/threads/{thread}/messages?after={}&limit=1",
                seq.saturating_sub(1)
            ))
            .await?;
        let m = page
            .messages
            .into_iter()
            .find(|m| m.seq == seq)
            .ok_or_else(|| {
                ClientError::Refused(format!("there is no message {seq} in this thread"))
            })?;
        let (_, body) = self.open_message(&m, &v);
        let payload = body.map_err(|u| ClientError::Verification(u.reason))?;
        let reference = payload
            .attachments
            .get(index.wrapping_sub(1))
            .ok_or_else(|| {
                ClientError::Refused(format!(
                    "message {seq} has {} attachment(s); there is no number {index}",
                    payload.attachments.len()
                ))
            })?
            .clone();
        let file = self
            .download_referenced(&reference, progress)
            .await?
            .map_err(|e| ClientError::Verification(e.to_string()))?;
        Ok((reference.name.clone(), file))
    }

    /// Downloads the blob an attachment reference names, checks it against
    /// the signed hash and size, and decrypts it. The outer error is the
    /// transfer's, the inner one the check's.
    pub(crate) async fn download_referenced(
        &mut self,
        reference: &samtale_protocol::payload::AttachmentRef,
        progress: &(dyn Fn(Tick) + Sync),
    ) -> Result<
        Result<zeroize::Zeroizing<Vec<u8>>, samtale_protocol::payload::PayloadError>,
        ClientError,
    > {
        self.ensure_token().await?;
        let blob = self
            .api
            .download(
                &format!("/v1/attachments/{}", reference.id),
                reference.size + 1024,
                |got, total| progress(Tick::Bytes(got, total)),
            )
            .await
            .map_err(Session::api_error)?;
        Ok(open_referenced(reference, &blob))
    }
}
