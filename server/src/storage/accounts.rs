//! Queries for organisations, teams, accounts, devices, sessions,
//! invitations and consents. Every query is written once in SQL that both
//! SQLite and PostgreSQL accept (`$n` placeholders, numbered in order of
//! first use; `RETURNING`), and run on whichever pool is configured.

use sqlx::Row;

use super::{Backend, Storage, StorageError};

/// An organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgRow {
    pub id: String,
    pub name: String,
    pub root_public_key: Vec<u8>,
}

/// A team with its staff members and retention policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamRow {
    pub id: String,
    pub name: String,
    pub staff: Vec<String>,
    pub retention: super::records::RetentionRow,
}

/// An account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    pub id: String,
    pub org_id: String,
    pub kind: String,
    pub username: Option<String>,
    pub password_hash: Option<String>,
    pub display_name: String,
    pub roles: i64,
    pub assurance: Option<String>,
    pub disabled_at: Option<i64>,
    /// Set while the password is a temporary one from an admin: until when
    /// it may be used to choose a new one.
    pub password_temporary_until: Option<i64>,
}

/// A device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRow {
    pub id: String,
    pub account_id: String,
    pub identity_key: Vec<u8>,
    pub agreement_key: Vec<u8>,
    pub label: String,
    pub certificate: Option<Vec<u8>>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// What a request's access token is checked against on every call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCheck {
    pub session_revoked: bool,
    pub session_expired: bool,
    pub device_revoked: bool,
    pub account_disabled: bool,
}

/// Session revoked, session expires, device revoked, account disabled.
type SessionTimes = (Option<i64>, i64, Option<i64>, Option<i64>);

/// An invitation, found by its handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationRow {
    pub id: String,
    pub code_hash: Vec<u8>,
    pub org_id: String,
    pub team_id: String,
    pub national_id_hmac: Vec<u8>,
    pub display_name: String,
    pub expires_at: i64,
    pub failed_attempts: i64,
    pub redeemed_at: Option<i64>,
}

/// A new invitation.
#[derive(Debug, Clone)]
pub struct NewInvitation<'a> {
    pub id: &'a str,
    pub handle: &'a str,
    pub code_hash: &'a [u8],
    pub org_id: &'a str,
    pub team_id: &'a str,
    pub created_by: &'a str,
    pub national_id_hmac: &'a [u8],
    pub display_name: &'a str,
    pub now: i64,
    pub expires_at: i64,
}

/// A citizen as listed to staff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CitizenRow {
    pub id: String,
    pub display_name: String,
    pub assurance: String,
    pub consent_withdrawn: bool,
}

/// A new citizen, created by redeeming an invitation.
#[derive(Debug, Clone)]
pub struct NewCitizen<'a> {
    pub invitation_id: &'a str,
    pub account_id: &'a str,
    pub org_id: &'a str,
    pub team_id: &'a str,
    pub display_name: &'a str,
    pub assurance: &'a str,
    pub national_id_hmac: &'a [u8],
    pub issuer: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub consent_version: &'a str,
    pub consent_sha256: &'a str,
    /// SHA-256 of the eID ID token and its expiry, to refuse a replay.
    pub id_token: Option<([u8; 32], i64)>,
    pub device: NewDevice<'a>,
    /// The device is registered already (to this account): it logs in
    /// again with the new code instead of being added.
    pub device_registered: bool,
    pub session: NewSession<'a>,
    pub now: i64,
}

/// A device to register.
#[derive(Debug, Clone)]
pub struct NewDevice<'a> {
    pub id: &'a str,
    pub identity_key: [u8; 32],
    pub agreement_key: [u8; 32],
    pub label: &'a str,
}

/// A session to open, with its first refresh token's hash.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub id: &'a str,
    pub refresh_hash: &'a [u8],
    pub expires_at: i64,
}

/// How redeeming an invitation went, when the database decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedeemOutcome {
    /// The citizen exists now.
    Created,
    /// Someone redeemed it first (a race): nothing was created.
    AlreadyRedeemed,
    /// The eID ID token was used before: nothing was created.
    IdTokenReplayed,
    /// The eID identity or national id already belongs to an account;
    /// the new device joins that account instead.
    ExistingAccount(String),
    /// A registered device's new code is for another person than the
    /// device's account: nothing was changed.
    AnotherPerson,
}

/// What spending a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Spent now; the session and its device.
    Rotated {
        session_id: String,
        device_id: String,
        account_id: String,
    },
    /// Spent before: the session family has been revoked.
    Reused,
    /// Unknown token.
    Unknown,
}

/// Decodes an [`AccountRow`] from a row with [`ACCOUNT_COLUMNS`].
macro_rules! account_from {
    ($row:expr) => {
        (|r: &_| -> Result<AccountRow, sqlx::Error> {
            Ok(AccountRow {
                id: Row::try_get(r, "id")?,
                org_id: Row::try_get(r, "org_id")?,
                kind: Row::try_get(r, "kind")?,
                username: Row::try_get(r, "username")?,
                password_hash: Row::try_get(r, "password_hash")?,
                display_name: Row::try_get(r, "display_name")?,
                roles: Row::try_get(r, "roles")?,
                assurance: Row::try_get(r, "assurance")?,
                disabled_at: Row::try_get(r, "disabled_at")?,
                password_temporary_until: Row::try_get(r, "password_temporary_until")?,
            })
        })($row)
    };
}

const ACCOUNT_COLUMNS: &str = "id, org_id, kind, username, password_hash, display_name, roles, \
     assurance, disabled_at, password_temporary_until";

/// Decodes a [`DeviceRow`] from a row with [`DEVICE_COLUMNS`].
macro_rules! device_from {
    ($row:expr) => {
        (|r: &_| -> Result<DeviceRow, sqlx::Error> {
            Ok(DeviceRow {
                id: Row::try_get(r, "id")?,
                account_id: Row::try_get(r, "account_id")?,
                identity_key: Row::try_get(r, "identity_key")?,
                agreement_key: Row::try_get(r, "agreement_key")?,
                label: Row::try_get(r, "label")?,
                certificate: Row::try_get(r, "certificate")?,
                created_at: Row::try_get(r, "created_at")?,
                revoked_at: Row::try_get(r, "revoked_at")?,
            })
        })($row)
    };
}

/// Inserts a device inside a transaction.
macro_rules! insert_device {
    ($tx:ident, $account_id:expr, $d:expr, $now:expr) => {
        sqlx::query(
            "INSERT INTO devices (id, account_id, identity_key, agreement_key, label, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind($d.id)
        .bind($account_id)
        .bind(&$d.identity_key[..])
        .bind(&$d.agreement_key[..])
        .bind($d.label)
        .bind($now)
        .execute(&mut *$tx)
        .await?
    };
}

/// Opens a session and stores its first refresh token inside a transaction.
macro_rules! insert_session {
    ($tx:ident, $device_id:expr, $s:expr, $now:expr) => {{
        sqlx::query(
            "INSERT INTO sessions (id, device_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind($s.id)
        .bind($device_id)
        .bind($now)
        .bind($s.expires_at)
        .execute(&mut *$tx)
        .await?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, issued_at) VALUES ($1, $2, $3)",
        )
        .bind($s.refresh_hash)
        .bind($s.id)
        .bind($now)
        .execute(&mut *$tx)
        .await?;
    }};
}

const DEVICE_COLUMNS: &str =
    "id, account_id, identity_key, agreement_key, label, certificate, created_at, revoked_at";

impl Storage {
    // ------------------------------------------------------------ bootstrap

    /// Whether any organisation exists.
    pub async fn has_organisation(&self) -> Result<bool, StorageError> {
        let n: i64 = with_pool!(self, |pool| {
            sqlx::query_scalar("SELECT COUNT(*) FROM organisations")
                .fetch_one(pool)
                .await?
        });
        Ok(n > 0)
    }

    /// Stores a fresh enrolment code hash, replacing unused earlier ones.
    pub async fn replace_enrolment_code(&self, hash: &[u8], now: i64) -> Result<(), StorageError> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM enrolment_codes WHERE used_at IS NULL")
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO enrolment_codes (code_hash, created_at) VALUES ($1, $2)")
                .bind(hash)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Stores an additional enrolment code hash (for another organisation
    /// on this server), leaving other unused codes valid.
    pub async fn add_enrolment_code(&self, hash: &[u8], now: i64) -> Result<(), StorageError> {
        with_pool!(self, |pool| {
            sqlx::query("INSERT INTO enrolment_codes (code_hash, created_at) VALUES ($1, $2)")
                .bind(hash)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Creates the organisation, its first admin, the admin's device and
    /// session, spending the enrolment code — all or nothing. `false` when
    /// the code is unknown or spent.
    #[allow(clippy::too_many_arguments)]
    pub async fn bootstrap(
        &self,
        code_hash: &[u8],
        org: &OrgRow,
        admin: &AccountRow,
        device: &NewDevice<'_>,
        session: &NewSession<'_>,
        now: i64,
    ) -> Result<bool, StorageError> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let spent = sqlx::query(
                "UPDATE enrolment_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL",
            )
            .bind(now)
            .bind(code_hash)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if spent != 1 {
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO organisations (id, name, root_public_key, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(&org.id)
            .bind(&org.name)
            .bind(&org.root_public_key)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO accounts (id, org_id, kind, username, password_hash, display_name, roles, created_at) \
                 VALUES ($1, $2, 'staff', $3, $4, $5, $6, $7)",
            )
            .bind(&admin.id)
            .bind(&admin.org_id)
            .bind(&admin.username)
            .bind(&admin.password_hash)
            .bind(&admin.display_name)
            .bind(admin.roles)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            insert_device!(tx, &admin.id, device, now);
            insert_session!(tx, device.id, session, now);
            tx.commit().await?;
        });
        Ok(true)
    }

    // ---------------------------------------------------------------- lookups

    /// An organisation by id.
    pub async fn organisation(&self, id: &str) -> Result<Option<OrgRow>, StorageError> {
        let row = with_pool!(self, |pool| {
            sqlx::query("SELECT id, name, root_public_key FROM organisations WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
                .map(|r| -> Result<OrgRow, sqlx::Error> {
                    Ok(OrgRow {
                        id: r.try_get("id")?,
                        name: r.try_get("name")?,
                        root_public_key: r.try_get("root_public_key")?,
                    })
                })
                .transpose()?
        });
        Ok(row)
    }

    /// An account by id.
    pub async fn account(&self, id: &str) -> Result<Option<AccountRow>, StorageError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1");
        let row = with_pool!(self, |pool| {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(pool)
                .await?
                .map(|r| account_from!(&r))
                .transpose()?
        });
        Ok(row)
    }

    /// A staff account by user name.
    pub async fn staff_by_username(
        &self,
        username: &str,
    ) -> Result<Option<AccountRow>, StorageError> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE username = $1 AND kind = 'staff'"
        );
        let row = with_pool!(self, |pool| {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(username)
                .fetch_optional(pool)
                .await?
                .map(|r| account_from!(&r))
                .transpose()?
        });
        Ok(row)
    }

    /// The teams an account belongs to, sorted.
    pub async fn teams_of(&self, account_id: &str) -> Result<Vec<String>, StorageError> {
        let teams = with_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT team_id FROM team_members WHERE account_id = $1 ORDER BY team_id",
            )
            .bind(account_id)
            .fetch_all(pool)
            .await?
        });
        Ok(teams)
    }

    /// A team's organisation, if the team exists.
    pub async fn team_org(&self, team_id: &str) -> Result<Option<String>, StorageError> {
        let org = with_pool!(self, |pool| {
            sqlx::query_scalar("SELECT org_id FROM teams WHERE id = $1")
                .bind(team_id)
                .fetch_optional(pool)
                .await?
        });
        Ok(org)
    }

    // ------------------------------------------------------------ admin

    /// Creates a team; `false` if the organisation already has one of that name.
    pub async fn create_team(
        &self,
        id: &str,
        org_id: &str,
        name: &str,
        now: i64,
    ) -> Result<bool, StorageError> {
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO teams (id, org_id, name, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (org_id, name) DO NOTHING",
            )
            .bind(id)
            .bind(org_id)
            .bind(name)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// An organisation's teams with their staff members and retention.
    pub async fn teams(&self, org_id: &str) -> Result<Vec<TeamRow>, StorageError> {
        let rows: Vec<(String, String, i64, i64, Option<String>)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT t.id, t.name, t.retain_journaled_days, t.retain_unjournaled_days, \
                 m.account_id FROM teams t \
                 LEFT JOIN team_members m ON m.team_id = t.id \
                   AND m.account_id IN (SELECT id FROM accounts WHERE kind = 'staff') \
                 WHERE t.org_id = $1 ORDER BY t.name, t.id, m.account_id",
            )
            .bind(org_id)
            .fetch_all(pool)
            .await?
        });
        let mut out: Vec<TeamRow> = Vec::new();
        for (id, name, journaled_days, unjournaled_days, member) in rows {
            match out.last_mut() {
                Some(last) if last.id == id => last.staff.extend(member),
                _ => out.push(TeamRow {
                    id,
                    name,
                    staff: member.into_iter().collect(),
                    retention: super::records::RetentionRow {
                        journaled_days,
                        unjournaled_days,
                    },
                }),
            }
        }
        Ok(out)
    }

    /// Creates a staff account in the given teams; `false` if the user name is taken.
    pub async fn create_staff(
        &self,
        account: &AccountRow,
        teams: &[String],
        now: i64,
    ) -> Result<bool, StorageError> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let n = sqlx::query(
                "INSERT INTO accounts (id, org_id, kind, username, password_hash, display_name, roles, created_at) \
                 VALUES ($1, $2, 'staff', $3, $4, $5, $6, $7) ON CONFLICT (username) DO NOTHING",
            )
            .bind(&account.id)
            .bind(&account.org_id)
            .bind(&account.username)
            .bind(&account.password_hash)
            .bind(&account.display_name)
            .bind(account.roles)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n != 1 {
                return Ok(false);
            }
            for team in teams {
                sqlx::query(
                    "INSERT INTO team_members (team_id, account_id, added_at) VALUES ($1, $2, $3)",
                )
                .bind(team)
                .bind(&account.id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(true)
    }

    /// An organisation's staff accounts.
    pub async fn staff(&self, org_id: &str) -> Result<Vec<AccountRow>, StorageError> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE org_id = $1 AND kind = 'staff' ORDER BY username"
        );
        let rows = with_pool!(self, |pool| {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(org_id)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| account_from!(r))
                .collect::<Result<Vec<_>, _>>()?
        });
        Ok(rows)
    }

    /// Adds an account to a team (idempotent).
    pub async fn add_team_member(
        &self,
        team_id: &str,
        account_id: &str,
        now: i64,
    ) -> Result<(), StorageError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO team_members (team_id, account_id, added_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (team_id, account_id) DO NOTHING",
            )
            .bind(team_id)
            .bind(account_id)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Disables an account and ends every session of its devices.
    pub async fn disable_account(&self, account_id: &str, now: i64) -> Result<(), StorageError> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "UPDATE accounts SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL",
            )
            .bind(now)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE sessions SET revoked_at = $1, revoked_why = 'account disabled' \
                 WHERE revoked_at IS NULL AND device_id IN (SELECT id FROM devices WHERE account_id = $2)",
            )
            .bind(now)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Stores a new password hash for a staff account. `temporary_until`
    /// marks an admin's reset (the password then only serves to choose a
    /// new one, until that time); `None` is a password its owner chose.
    /// Every session of the account ends, except `keep_session` (the one
    /// that made the change).
    pub async fn set_password(
        &self,
        account_id: &str,
        password_hash: &str,
        temporary_until: Option<i64>,
        keep_session: Option<&str>,
        now: i64,
    ) -> Result<(), StorageError> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "UPDATE accounts SET password_hash = $1, password_temporary_until = $2 \
                 WHERE id = $3 AND kind = 'staff'",
            )
            .bind(password_hash)
            .bind(temporary_until)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE sessions SET revoked_at = $1, revoked_why = 'password changed' \
                 WHERE revoked_at IS NULL AND id <> $2 \
                 AND device_id IN (SELECT id FROM devices WHERE account_id = $3)",
            )
            .bind(now)
            .bind(keep_session.unwrap_or(""))
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Lets a disabled account log in again (its devices stay as they
    /// were: revoked ones stay revoked).
    pub async fn enable_account(&self, account_id: &str) -> Result<(), StorageError> {
        with_pool!(self, |pool| {
            sqlx::query("UPDATE accounts SET disabled_at = NULL WHERE id = $1")
                .bind(account_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    // ------------------------------------------------------------ devices

    /// A device by its identity key.
    pub async fn device_by_identity(
        &self,
        identity_key: &[u8],
    ) -> Result<Option<DeviceRow>, StorageError> {
        let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE identity_key = $1");
        let row = with_pool!(self, |pool| {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(identity_key)
                .fetch_optional(pool)
                .await?
                .map(|r| device_from!(&r))
                .transpose()?
        });
        Ok(row)
    }

    /// A device by id.
    pub async fn device(&self, id: &str) -> Result<Option<DeviceRow>, StorageError> {
        let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = $1");
        let row = with_pool!(self, |pool| {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(pool)
                .await?
                .map(|r| device_from!(&r))
                .transpose()?
        });
        Ok(row)
    }

    /// An account's devices, oldest first.
    pub async fn devices_of(&self, account_id: &str) -> Result<Vec<DeviceRow>, StorageError> {
        let sql = format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE account_id = $1 ORDER BY created_at, id"
        );
        let rows = with_pool!(self, |pool| {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(account_id)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| device_from!(r))
                .collect::<Result<Vec<_>, _>>()?
        });
        Ok(rows)
    }

    /// Stores a device's certificate.
    pub async fn set_certificate(
        &self,
        device_id: &str,
        certificate: &[u8],
    ) -> Result<(), StorageError> {
        with_pool!(self, |pool| {
            sqlx::query("UPDATE devices SET certificate = $1 WHERE id = $2")
                .bind(certificate)
                .bind(device_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Revokes a device and every session it has, at once.
    pub async fn revoke_device(&self, device_id: &str, now: i64) -> Result<(), StorageError> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE devices SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(device_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE sessions SET revoked_at = $1, revoked_why = 'device revoked' \
                 WHERE device_id = $2 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(device_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    // ------------------------------------------------------------ sessions

    /// Registers a device (if new) and opens a session on it.
    pub async fn open_session(
        &self,
        account_id: &str,
        device: &NewDevice<'_>,
        new_device: bool,
        session: &NewSession<'_>,
        now: i64,
    ) -> Result<(), StorageError> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            if new_device {
                insert_device!(tx, account_id, device, now);
            }
            insert_session!(tx, device.id, session, now);
            tx.commit().await?;
        });
        Ok(())
    }

    /// The state an access token's session is checked against.
    pub async fn check_session(
        &self,
        session_id: &str,
        device_id: &str,
        now: i64,
    ) -> Result<Option<SessionCheck>, StorageError> {
        let row: Option<SessionTimes> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT s.revoked_at, s.expires_at, d.revoked_at, a.disabled_at \
                 FROM sessions s JOIN devices d ON d.id = s.device_id JOIN accounts a ON a.id = d.account_id \
                 WHERE s.id = $1 AND s.device_id = $2",
            )
            .bind(session_id)
            .bind(device_id)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|(s, exp, d, a)| SessionCheck {
            session_revoked: s.is_some(),
            session_expired: exp <= now,
            device_revoked: d.is_some(),
            account_disabled: a.is_some(),
        }))
    }

    /// Spends a refresh token and stores its successor, atomically. A token
    /// spent before revokes its whole session family.
    pub async fn rotate_refresh(
        &self,
        old_hash: &[u8],
        new_hash: &[u8],
        now: i64,
    ) -> Result<RefreshOutcome, StorageError> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let spent: Option<String> = sqlx::query_scalar(
                "UPDATE refresh_tokens SET spent_at = $1 WHERE token_hash = $2 AND spent_at IS NULL \
                 RETURNING session_id",
            )
            .bind(now)
            .bind(old_hash)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(session_id) = spent else {
                let reused: Option<String> = sqlx::query_scalar(
                    "SELECT session_id FROM refresh_tokens WHERE token_hash = $1",
                )
                .bind(old_hash)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(session_id) = reused else {
                    return Ok(RefreshOutcome::Unknown);
                };
                sqlx::query(
                    "UPDATE sessions SET revoked_at = $1, revoked_why = 'refresh token reused' \
                     WHERE id = $2 AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(&session_id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                return Ok(RefreshOutcome::Reused);
            };
            let owner: Option<(String, String)> = sqlx::query_as(
                "SELECT s.device_id, d.account_id FROM sessions s \
                 JOIN devices d ON d.id = s.device_id JOIN accounts a ON a.id = d.account_id \
                 WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 \
                   AND d.revoked_at IS NULL AND a.disabled_at IS NULL",
            )
            .bind(&session_id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((device_id, account_id)) = owner else {
                // The token was live but its session is not: keep it spent.
                tx.commit().await?;
                return Ok(RefreshOutcome::Unknown);
            };
            sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, session_id, issued_at) VALUES ($1, $2, $3)",
            )
            .bind(new_hash)
            .bind(&session_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(RefreshOutcome::Rotated {
                session_id,
                device_id,
                account_id,
            })
        })
    }

    /// Ends one session (logout).
    pub async fn revoke_session(&self, session_id: &str, now: i64) -> Result<(), StorageError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE sessions SET revoked_at = $1, revoked_why = 'logged out' WHERE id = $2 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(session_id)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    // ------------------------------------------------------------ invitations

    /// Stores an invitation; `false` if its handle is taken (draw another).
    pub async fn create_invitation(&self, inv: &NewInvitation<'_>) -> Result<bool, StorageError> {
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO invitations (id, handle, code_hash, org_id, team_id, created_by, \
                 national_id_hmac, display_name, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (handle) DO NOTHING",
            )
            .bind(inv.id)
            .bind(inv.handle)
            .bind(inv.code_hash)
            .bind(inv.org_id)
            .bind(inv.team_id)
            .bind(inv.created_by)
            .bind(inv.national_id_hmac)
            .bind(inv.display_name)
            .bind(inv.now)
            .bind(inv.expires_at)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// The invitations of a team nobody has used that have not expired,
    /// newest first: (id, display name, created by, created at, expires at).
    pub async fn outstanding_invitations(
        &self,
        team_id: &str,
        now: i64,
    ) -> Result<Vec<(String, String, String, i64, i64)>, StorageError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, display_name, created_by, created_at, expires_at FROM invitations \
                 WHERE team_id = $1 AND redeemed_at IS NULL AND expires_at > $2 \
                 ORDER BY created_at DESC, id",
            )
            .bind(team_id)
            .bind(now)
            .fetch_all(pool)
            .await?
        }))
    }

    /// An unused invitation's team, if there is one with this id.
    pub async fn unused_invitation_team(&self, id: &str) -> Result<Option<String>, StorageError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT team_id FROM invitations WHERE id = $1 AND redeemed_at IS NULL",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?
        }))
    }

    /// Deletes an unused invitation (its code and the national id's hash
    /// go with it), with its audit entry; whether there was one.
    pub async fn revoke_invitation(
        &self,
        id: &str,
        audit: &crate::audit::AuditEvent,
        now_ms: i64,
    ) -> Result<bool, StorageError> {
        Ok(write_tx!(self, |tx, head| {
            let n = sqlx::query("DELETE FROM invitations WHERE id = $1 AND redeemed_at IS NULL")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n > 0 {
                audit_in!(tx, std::slice::from_ref(audit), now_ms, head);
            }
            n > 0
        }))
    }

    /// An invitation by its handle.
    pub async fn invitation_by_handle(
        &self,
        handle: &str,
    ) -> Result<Option<InvitationRow>, StorageError> {
        let row = with_pool!(self, |pool| {
            sqlx::query(
                "SELECT id, code_hash, org_id, team_id, national_id_hmac, display_name, expires_at, \
                 failed_attempts, redeemed_at FROM invitations WHERE handle = $1",
            )
            .bind(handle)
            .fetch_optional(pool)
            .await?
            .map(|r| -> Result<InvitationRow, sqlx::Error> {
                Ok(InvitationRow {
                    id: r.try_get("id")?,
                    code_hash: r.try_get("code_hash")?,
                    org_id: r.try_get("org_id")?,
                    team_id: r.try_get("team_id")?,
                    national_id_hmac: r.try_get("national_id_hmac")?,
                    display_name: r.try_get("display_name")?,
                    expires_at: r.try_get("expires_at")?,
                    failed_attempts: r.try_get("failed_attempts")?,
                    redeemed_at: r.try_get("redeemed_at")?,
                })
            })
            .transpose()?
        });
        Ok(row)
    }

    /// Counts a failed attempt against a handle. Runs the same statement
    /// whether or not the handle exists, so both cost the same.
    pub async fn count_failed_attempt(&self, handle: &str) -> Result<(), StorageError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE invitations SET failed_attempts = failed_attempts + 1 WHERE handle = $1",
            )
            .bind(handle)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Redeems an invitation: the citizen account (or, for an identity that
    /// already has one, the existing account), identity, consent, device and
    /// session, all or nothing.
    pub async fn redeem_invitation(
        &self,
        c: &NewCitizen<'_>,
    ) -> Result<RedeemOutcome, StorageError> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let n = sqlx::query(
                "UPDATE invitations SET redeemed_at = $1 WHERE id = $2 AND redeemed_at IS NULL",
            )
            .bind(c.now)
            .bind(c.invitation_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n != 1 {
                return Ok(RedeemOutcome::AlreadyRedeemed);
            }
            if let Some((hash, expires_at)) = &c.id_token {
                let fresh = sqlx::query(
                    "INSERT INTO used_id_tokens (token_hash, expires_at) VALUES ($1, $2) \
                     ON CONFLICT (token_hash) DO NOTHING",
                )
                .bind(&hash[..])
                .bind(*expires_at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if fresh != 1 {
                    return Ok(RedeemOutcome::IdTokenReplayed);
                }
            }
            let existing: Option<String> = sqlx::query_scalar(
                "SELECT ci.account_id FROM citizen_identities ci JOIN accounts a ON a.id = ci.account_id \
                 WHERE a.org_id = $1 AND (ci.national_id_hmac = $2 OR (ci.issuer = $3 AND ci.subject = $4))",
            )
            .bind(c.org_id)
            .bind(c.national_id_hmac)
            .bind(c.issuer)
            .bind(c.subject)
            .fetch_optional(&mut *tx)
            .await?;
            if c.device_registered {
                let owner: Option<String> =
                    sqlx::query_scalar("SELECT account_id FROM devices WHERE id = $1")
                        .bind(c.device.id)
                        .fetch_optional(&mut *tx)
                        .await?;
                if owner.is_none() || owner != existing {
                    return Ok(RedeemOutcome::AnotherPerson);
                }
            }
            let account_id = match &existing {
                Some(id) => {
                    // A stronger identity proof raises the level; never lowers it.
                    sqlx::query(
                        "UPDATE accounts SET assurance = $1 WHERE id = $2 AND \
                         (CASE assurance WHEN 'unverified' THEN 0 WHEN 'low' THEN 1 WHEN 'substantial' THEN 2 ELSE 3 END) < \
                         (CASE $1 WHEN 'unverified' THEN 0 WHEN 'low' THEN 1 WHEN 'substantial' THEN 2 ELSE 3 END)",
                    )
                    .bind(c.assurance)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    if c.issuer.is_some() {
                        sqlx::query(
                            "UPDATE citizen_identities SET issuer = $1, subject = $2 WHERE account_id = $3 AND issuer IS NULL",
                        )
                        .bind(c.issuer)
                        .bind(c.subject)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    }
                    id.as_str()
                }
                None => {
                    sqlx::query(
                        "INSERT INTO accounts (id, org_id, kind, display_name, roles, assurance, created_at) \
                         VALUES ($1, $2, 'citizen', $3, 0, $4, $5)",
                    )
                    .bind(c.account_id)
                    .bind(c.org_id)
                    .bind(c.display_name)
                    .bind(c.assurance)
                    .bind(c.now)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "INSERT INTO citizen_identities (account_id, national_id_hmac, issuer, subject) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(c.account_id)
                    .bind(c.national_id_hmac)
                    .bind(c.issuer)
                    .bind(c.subject)
                    .execute(&mut *tx)
                    .await?;
                    c.account_id
                }
            };
            sqlx::query("UPDATE invitations SET redeemed_by = $1 WHERE id = $2")
                .bind(account_id)
                .bind(c.invitation_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO team_members (team_id, account_id, added_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (team_id, account_id) DO NOTHING",
            )
            .bind(c.team_id)
            .bind(account_id)
            .bind(c.now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE consents SET withdrawn_at = $1 WHERE account_id = $2 AND withdrawn_at IS NULL",
            )
            .bind(c.now)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO consents (account_id, version, text_sha256, accepted_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (account_id, accepted_at, version) DO UPDATE SET withdrawn_at = NULL",
            )
            .bind(account_id)
            .bind(c.consent_version)
            .bind(c.consent_sha256)
            .bind(c.now)
            .execute(&mut *tx)
            .await?;
            if !c.device_registered {
                insert_device!(tx, account_id, &c.device, c.now);
            }
            insert_session!(tx, c.device.id, &c.session, c.now);
            tx.commit().await?;
            Ok(match existing {
                Some(id) => RedeemOutcome::ExistingAccount(id),
                None => RedeemOutcome::Created,
            })
        })
    }

    /// The citizen account linked to a verified eID identity.
    pub async fn citizen_by_identity(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<AccountRow>, StorageError> {
        let sql = format!(
            "SELECT {} FROM accounts a JOIN citizen_identities ci ON ci.account_id = a.id \
             WHERE ci.issuer = $1 AND ci.subject = $2 AND a.kind = 'citizen'",
            ACCOUNT_COLUMNS
                .split(", ")
                .map(|c| format!("a.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let row = with_pool!(self, |pool| {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(issuer)
                .bind(subject)
                .fetch_optional(pool)
                .await?
                .map(|r| account_from!(&r))
                .transpose()?
        });
        Ok(row)
    }

    /// Records a used eID ID token; `false` if it was used before.
    pub async fn spend_id_token(
        &self,
        token_hash: &[u8],
        expires_at: i64,
    ) -> Result<bool, StorageError> {
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO used_id_tokens (token_hash, expires_at) VALUES ($1, $2) \
                 ON CONFLICT (token_hash) DO NOTHING",
            )
            .bind(token_hash)
            .bind(expires_at)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Whether an eID ID token (by hash) was used for a sign-up before.
    pub async fn id_token_used(&self, token_hash: &[u8]) -> Result<bool, StorageError> {
        let n: i64 = with_pool!(self, |pool| {
            sqlx::query_scalar("SELECT COUNT(*) FROM used_id_tokens WHERE token_hash = $1")
                .bind(token_hash)
                .fetch_one(pool)
                .await?
        });
        Ok(n > 0)
    }

    // ------------------------------------------------------------ citizens

    /// Whether a citizen's latest consent has been withdrawn.
    pub async fn consent_withdrawn(&self, account_id: &str) -> Result<bool, StorageError> {
        let withdrawn: Option<Option<i64>> = with_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT withdrawn_at FROM consents WHERE account_id = $1 ORDER BY accepted_at DESC LIMIT 1",
            )
            .bind(account_id)
            .fetch_optional(pool)
            .await?
        });
        Ok(!matches!(withdrawn, Some(None)))
    }

    /// Withdraws a citizen's consent. Her sessions stay, read-only (the
    /// request layer refuses writes), so she can still read and export what
    /// is held about her.
    pub async fn withdraw_consent(&self, account_id: &str, now: i64) -> Result<(), StorageError> {
        with_pool!(self, |pool| {
            sqlx::query("UPDATE consents SET withdrawn_at = $1 WHERE account_id = $2 AND withdrawn_at IS NULL")
                .bind(now)
                .bind(account_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The citizens of a team.
    pub async fn citizens_of_team(&self, team_id: &str) -> Result<Vec<CitizenRow>, StorageError> {
        let rows: Vec<(String, String, Option<String>, Option<i64>)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT a.id, a.display_name, a.assurance, \
                   (SELECT COUNT(*) FROM consents c WHERE c.account_id = a.id AND c.withdrawn_at IS NULL) \
                 FROM team_members m JOIN accounts a ON a.id = m.account_id \
                 WHERE m.team_id = $1 AND a.kind = 'citizen' ORDER BY a.display_name, a.id",
            )
            .bind(team_id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, display_name, assurance, live)| CitizenRow {
                id,
                display_name,
                assurance: assurance.unwrap_or_else(|| "unverified".into()),
                consent_withdrawn: live.unwrap_or(0) == 0,
            })
            .collect())
    }
}
