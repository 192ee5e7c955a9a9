//! Content-free notifications: when none of a recipient's devices is
//! connected, a neutral text ("Du har en ny besked fra {organisation}") goes
//! to a configured webhook (an SMS gateway or push relay), at most once per
//! recipient per interval. The text never carries content, names or ids
//! beyond the recipient's opaque account id, which the gateway maps to a
//! phone or push token it keeps itself.
//!
//! The POST body is JSON `{"recipient", "text", "sent_at"}`; the headers
//! `X-Samtale-Timestamp` (Unix seconds) and `X-Samtale-Signature`
//! (`sha256=` + hex HMAC-SHA256 over `timestamp + "." + body` under the
//! shared secret) let the gateway check it came from this server.

use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokio::sync::mpsc;

use crate::auth::Clock;
use crate::config::MessagingSettings;
use crate::relay::Hub;
use crate::storage::Storage;

/// Pending notifications that may queue before new ones are dropped (the
/// recipient still gets the message on their next connection).
const QUEUE: usize = 4096;

/// Queues notifications for recipients with no open connection.
#[derive(Debug, Clone)]
pub struct Notifier {
    tx: mpsc::Sender<(String, String)>,
    hub: Hub,
}

/// The JSON body of a notification.
#[derive(Debug, serde::Serialize)]
struct Notification<'a> {
    recipient: &'a str,
    text: &'a str,
    sent_at: i64,
}

struct Worker {
    storage: Storage,
    clock: Clock,
    http: reqwest::Client,
    url: String,
    secret: Arc<zeroize::Zeroizing<Vec<u8>>>,
    template: String,
    interval: i64,
    /// Asks the other nodes whether the recipient is connected there.
    bus: Arc<dyn crate::relay::Bus>,
}

impl Notifier {
    /// Starts the notifier when a webhook is configured.
    pub fn spawn(
        settings: &MessagingSettings,
        storage: Storage,
        clock: Clock,
        hub: Hub,
        bus: Arc<dyn crate::relay::Bus>,
    ) -> Result<Option<Self>, reqwest::Error> {
        let (Some(url), Some(secret)) = (
            &settings.notify_webhook_url,
            &settings.notify_webhook_secret,
        ) else {
            return Ok(None);
        };
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let worker = Worker {
            storage,
            clock,
            http,
            url: url.clone(),
            secret: Arc::new(zeroize::Zeroizing::new(secret.0.as_bytes().to_vec())),
            template: settings.notify_template.clone(),
            interval: i64::from(settings.notify_interval_seconds),
            bus,
        };
        tokio::spawn(worker.run(rx));
        Ok(Some(Self { tx, hub }))
    }

    /// A message was committed: notify the offline members of its audience.
    pub fn message_committed(&self, org_id: &str, audience: &[String], sender_account: &str) {
        for account in audience {
            if account != sender_account && !self.hub.is_online(account) {
                let _ = self.tx.try_send((org_id.to_owned(), account.clone()));
            }
        }
    }
}

impl Worker {
    async fn run(self, mut rx: mpsc::Receiver<(String, String)>) {
        while let Some((org_id, account)) = rx.recv().await {
            if let Err(error) = self.notify(&org_id, &account).await {
                tracing::warn!(%error, "notification not sent");
            }
        }
    }

    async fn notify(&self, org_id: &str, account: &str) -> Result<(), String> {
        // A disabled colleague is told nothing (nor is an erased account).
        let live = self
            .storage
            .account(account)
            .await
            .map_err(|e| e.to_string())?
            .is_some_and(|a| a.disabled_at.is_none());
        if !live {
            return Ok(());
        }
        // Connected to another node: no notification (this node only
        // knows its own connections).
        if self.bus.online_elsewhere(account).await {
            return Ok(());
        }
        let now = self.clock.now();
        let claimed = self
            .storage
            .claim_notification(account, now, self.interval)
            .await
            .map_err(|e| e.to_string())?;
        if !claimed {
            return Ok(());
        }
        let organisation = self
            .storage
            .organisation(org_id)
            .await
            .map_err(|e| e.to_string())?
            .map(|o| o.name)
            .unwrap_or_default();
        let text = self.template.replace("{organisation}", &organisation);
        let body = serde_json::to_vec(&Notification {
            recipient: account,
            text: &text,
            sent_at: now,
        })
        .map_err(|e| e.to_string())?;
        let signature = sign(&self.secret, now, &body);
        let response = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Samtale-Timestamp", now.to_string())
            .header("X-Samtale-Signature", format!("sha256={signature}"))
            .body(body)
            .send()
            .await
            .map_err(|e| format!("webhook unreachable: {}", e.without_url()))?;
        if !response.status().is_success() {
            return Err(format!("webhook answered {}", response.status()));
        }
        Ok(())
    }
}

/// Hex HMAC-SHA256 over `timestamp || "." || body`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}
