//! The state database on SQLite; the same operations against PostgreSQL run in the server's
//! access tests (which start a real server through `scripts/test.sh`).

use super::*;

async fn db() -> (tempfile::TempDir, StateDb) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let location = Location::for_workspace(dir.path(), None).expect("location");
    let db = StateDb::open(&location).await.expect("open");
    (dir, db)
}

#[tokio::test]
async fn opening_twice_applies_migrations_once() {
    let (dir, db) = db().await;
    assert_eq!(db.schema_version().await.unwrap(), MIGRATIONS.len() as i64);
    db.close().await;
    let again = StateDb::open(&Location::for_workspace(dir.path(), None).unwrap())
        .await
        .expect("reopen");
    assert_eq!(
        again.schema_version().await.unwrap(),
        MIGRATIONS.len() as i64
    );
    assert!(dir.path().join("data/tablero.db").is_file());
}

#[tokio::test]
async fn accounts_round_trip_and_duplicates_are_refused() {
    let (_dir, db) = db().await;
    assert!(!db.has_active_accounts().await.unwrap());
    assert!(!db.has_accounts().await.unwrap());
    let owners = vec!["Finances".to_string(), "People Growth".to_string()];
    db.insert_account(&NewAccount {
        email: "ana@example.com",
        role: Role::Editor,
        owners: &owners,
        password_hash: "$argon2id$stand-in",
    })
    .await
    .unwrap();
    let err = db
        .insert_account(&NewAccount {
            email: "ana@example.com",
            role: Role::Viewer,
            owners: &[],
            password_hash: "x",
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StateError::Exists(_)), "{err}");
    let ana = db.account("ana@example.com").await.unwrap().unwrap();
    assert_eq!(ana.role, Role::Editor);
    assert_eq!(ana.owners, owners);
    assert!(db.has_active_accounts().await.unwrap());
    assert!(db.disable_account("ana@example.com").await.unwrap());
    assert!(!db.disable_account("ana@example.com").await.unwrap());
    assert!(!db.has_active_accounts().await.unwrap());
    // A database that held an account still does, disabled: the open mode never returns.
    assert!(db.has_accounts().await.unwrap());
    assert_eq!(db.password_hash("ana@example.com").await.unwrap(), None);
}

#[tokio::test]
async fn a_token_stops_working_when_revoked_or_its_account_disabled() {
    let (_dir, db) = db().await;
    for email in ["a@x.org", "b@x.org"] {
        db.insert_account(&NewAccount {
            email,
            role: Role::Viewer,
            owners: &[],
            password_hash: "h",
        })
        .await
        .unwrap();
    }
    for (id, email, hash) in [("t1", "a@x.org", "h1"), ("t2", "b@x.org", "h2")] {
        db.insert_token(&NewToken {
            id,
            email,
            name: "ci",
            secret_hash: hash,
        })
        .await
        .unwrap();
    }
    let same_name = db
        .insert_token(&NewToken {
            id: "t3",
            email: "a@x.org",
            name: "ci",
            secret_hash: "h3",
        })
        .await
        .unwrap_err();
    assert!(matches!(same_name, StateError::Exists(_)));
    assert_eq!(
        db.account_for_token("h1").await.unwrap().unwrap().email,
        "a@x.org"
    );
    assert!(db.account_for_token("nope").await.unwrap().is_none());
    db.revoke_token("a@x.org", "ci").await.unwrap();
    assert!(db.account_for_token("h1").await.unwrap().is_none());
    db.disable_account("b@x.org").await.unwrap();
    assert!(db.account_for_token("h2").await.unwrap().is_none());
    let listed = db.tokens(None).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(
        listed
            .iter()
            .any(|t| t.id == "t1" && t.revoked_at.is_some())
    );
}

#[tokio::test]
async fn sessions_end_with_a_password_change_or_a_disabled_account() {
    let (_dir, db) = db().await;
    db.insert_account(&NewAccount {
        email: "a@x.org",
        role: Role::Admin,
        owners: &[],
        password_hash: "h",
    })
    .await
    .unwrap();
    let session = |id: &str| StoredSession {
        id_hash: id.into(),
        email: Some("a@x.org".into()),
        data: "{}".into(),
        expires_at: now() + 3600,
    };
    assert!(db.insert_session(&session("s1")).await.unwrap());
    assert!(!db.insert_session(&session("s1")).await.unwrap());
    db.put_session(&session("s2")).await.unwrap();
    assert_eq!(db.session_count("a@x.org").await.unwrap(), 2);
    db.set_password_hash("a@x.org", "h2").await.unwrap();
    assert_eq!(db.session_count("a@x.org").await.unwrap(), 0);
    db.put_session(&session("s3")).await.unwrap();
    db.disable_account("a@x.org").await.unwrap();
    assert!(db.session("s3").await.unwrap().is_none());
    let expired = StoredSession {
        expires_at: now() - 1,
        ..session("old")
    };
    db.put_session(&expired).await.unwrap();
    assert!(db.session("old").await.unwrap().is_none());
    assert_eq!(db.delete_expired_sessions().await.unwrap(), 1);
}

#[test]
fn a_postgres_password_never_shows() {
    let location = Location::parse("postgres://tablero:s3cret@db.internal:5432/tablero").unwrap();
    assert_eq!(location.backend(), Backend::Postgres);
    assert!(!location.to_string().contains("s3cret"));
    assert!(!format!("{location:?}").contains("s3cret"));
    let err = Location::parse("mysql://u:s3cret@h/db").unwrap_err();
    assert!(!err.to_string().contains("s3cret"), "{err}");
}

#[tokio::test]
async fn a_share_link_lives_until_it_expires_or_is_revoked() {
    let (_dir, db) = db().await;
    db.insert_account(&NewAccount {
        email: "ana@acme.cl",
        role: Role::Editor,
        owners: &[],
        password_hash: "x",
    })
    .await
    .unwrap();
    let made_at = now();
    let share = db
        .insert_share(&NewShare {
            id: "s1",
            secret_hash: "h1",
            dashboard: "direccion",
            view: "board",
            created_by: "ana@acme.cl",
            expires_at: made_at + 60,
        })
        .await
        .unwrap();
    // (instant, alive): alive before its expiry, dead at and after it.
    for (at, alive) in [
        (made_at, true),
        (made_at + 59, true),
        (made_at + 60, false),
        (made_at + 3600, false),
    ] {
        assert_eq!(
            db.live_share("h1", at).await.unwrap().is_some(),
            alive,
            "{at}"
        );
    }
    assert_eq!(db.live_share("h2", made_at).await.unwrap(), None);
    assert_eq!(db.shares(Some("ana@acme.cl")).await.unwrap(), vec![share]);
    // Only its creator (or anyone, for an admin) revokes it, once.
    assert!(!db.revoke_share("s1", Some("otra@acme.cl")).await.unwrap());
    assert!(db.revoke_share("s1", Some("ana@acme.cl")).await.unwrap());
    assert!(!db.revoke_share("s1", None).await.unwrap());
    assert_eq!(db.live_share("h1", made_at).await.unwrap(), None);
}
