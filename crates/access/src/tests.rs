//! Passwords, tokens, the role rules and the throttle, on a SQLite state database.

use std::net::{IpAddr, Ipv4Addr};

use tablero_state::{Location, StateDb};

use super::*;

async fn db() -> (tempfile::TempDir, StateDb) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let db = StateDb::open(&Location::for_workspace(dir.path(), None).unwrap())
        .await
        .expect("open");
    (dir, db)
}

#[tokio::test]
async fn a_password_signs_in_only_its_own_account() {
    let (_dir, db) = db().await;
    add_account(
        &db,
        " Ana@Example.com ",
        Role::Viewer,
        &[],
        "correct horse battery".into(),
    )
    .await
    .unwrap();
    let stored = db.password_hash("ana@example.com").await.unwrap().unwrap();
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored}"
    );
    assert!(!stored.contains("correct horse"));
    let signed = sign_in(&db, "ANA@example.com", "correct horse battery".into()).await;
    assert_eq!(signed.unwrap().unwrap().email, "ana@example.com");
    for (email, password) in [
        ("ana@example.com", "correct horse batterY"),
        ("ana@example.com", ""),
        ("nobody@example.com", "correct horse battery"),
        ("not an email", "correct horse battery"),
    ] {
        assert!(
            sign_in(&db, email, password.into())
                .await
                .unwrap()
                .is_none(),
            "{email} / {password}"
        );
    }
    set_password(&db, "ana@example.com", "another long secret".into())
        .await
        .unwrap();
    assert!(
        sign_in(&db, "ana@example.com", "correct horse battery".into())
            .await
            .unwrap()
            .is_none()
    );
    db.disable_account("ana@example.com").await.unwrap();
    assert!(
        sign_in(&db, "ana@example.com", "another long secret".into())
            .await
            .unwrap()
            .is_none()
    );
}

#[test]
fn the_password_policy_names_what_is_wrong() {
    for (password, fits) in [
        ("short", false),
        ("ten chars!", true),
        ("line\nbreak here", false),
        (&"x".repeat(257), false),
    ] {
        assert_eq!(check_password_policy(password).is_ok(), fits, "{password}");
    }
}

#[test]
fn emails_are_normalized_or_refused() {
    assert_eq!(normalize_email(" A@B.cl ").unwrap(), "a@b.cl");
    for bad in ["", "ab", "@b", "a@", "a b@c", "a@b@c", "a\u{0}@b"] {
        assert!(normalize_email(bad).is_err(), "{bad:?}");
    }
}

#[tokio::test]
async fn a_token_is_stored_only_as_its_hash() {
    let (dir, db) = db().await;
    add_account(
        &db,
        "bot@x.org",
        Role::Editor,
        &[],
        "a long enough one".into(),
    )
    .await
    .unwrap();
    let issued = create_token(&db, "bot@x.org", "ingest").await.unwrap();
    assert!(issued.secret.starts_with("tbl_"));
    assert_eq!(
        account_for_token(&db, &issued.secret)
            .await
            .unwrap()
            .unwrap()
            .email,
        "bot@x.org"
    );
    assert!(
        account_for_token(&db, "tbl_forged")
            .await
            .unwrap()
            .is_none()
    );
    db.close().await;
    let secret_part = issued.secret.rsplit('_').next().unwrap();
    for file in std::fs::read_dir(dir.path().join("data")).unwrap() {
        let bytes = std::fs::read(file.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(secret_part));
        assert!(!text.contains("a long enough one"));
    }
}

#[test]
fn roles_decide_what_is_seen_and_changed() {
    let account = |role, owners: &[&str]| {
        Visitor::Signed(Principal::new(&Account {
            email: "x@y.z".into(),
            role,
            owners: owners.iter().map(|s| s.to_string()).collect(),
            created_at: 0,
            disabled_at: None,
        }))
    };
    let finance_editor = account(Role::Editor, &["Finances"]);
    let people_viewer = account(Role::Viewer, &["People Growth"]);
    let admin = account(Role::Admin, &["Finances"]); // an admin's owners do not limit it
    // (visitor, owner, sees, edits)
    let table = [
        (&finance_editor, Some("Finances"), true, true),
        (&finance_editor, Some("People Growth"), false, false),
        (&finance_editor, None, false, false),
        (&people_viewer, Some("People Growth"), true, false),
        (&people_viewer, Some("Finances"), false, false),
        (&admin, Some("People Growth"), true, true),
        (&admin, None, true, true),
        (&Visitor::Everyone, Some("Finances"), true, true),
        (&Visitor::Anonymous, Some("Finances"), false, false),
    ];
    for (visitor, owner, sees, edits) in table {
        assert_eq!(
            visitor.sees_owner(owner),
            sees,
            "{visitor:?} sees {owner:?}"
        );
        assert_eq!(
            visitor.edits_owner(owner),
            edits,
            "{visitor:?} edits {owner:?}"
        );
    }
    assert!(finance_editor.may_push_rows());
    assert!(!people_viewer.may_push_rows());
    assert!(!Visitor::Anonymous.may_push_rows());
    let every_owner_editor = account(Role::Editor, &[]);
    // (visitor, the source's owner, the owners of the KPIs reading it, writes)
    let fin = Some("Finances");
    let people = Some("People Growth");
    type Case<'a> = (&'a Visitor, Option<&'a str>, &'a [Option<&'a str>], bool);
    let sources: [Case; 12] = [
        (&finance_editor, fin, &[people], true), // its declared owner decides
        (&finance_editor, people, &[fin], false),
        (&finance_editor, None, &[fin, fin], true), // every reader is Finances'
        (&finance_editor, None, &[fin, people], false),
        (&finance_editor, None, &[None], false), // a KPI of no owner: every owner's
        (&finance_editor, None, &[], true),      // nobody reads it
        (&every_owner_editor, None, &[fin, people, None], true),
        (&people_viewer, people, &[people], false),
        (&admin, people, &[people], true),
        (&admin, None, &[fin, people], true),
        (&Visitor::Everyone, None, &[fin], true),
        (&Visitor::Anonymous, fin, &[fin], false),
    ];
    for (visitor, owner, readers, writes) in sources {
        assert_eq!(
            visitor.writes_source(owner, readers.iter().copied()),
            writes,
            "{visitor:?} writes a source of {owner:?} read by {readers:?}"
        );
    }
}

#[test]
fn the_throttle_slows_one_pair_but_not_the_account_elsewhere() {
    let throttle = SignInThrottle::default();
    let here = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let there = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    for _ in 0..5 {
        throttle.attempt("ana@x.org", here).unwrap();
    }
    let refused = throttle.attempt("ana@x.org", here).unwrap_err();
    assert!(refused.retry_after >= std::time::Duration::from_secs(1));
    assert!(throttle.attempt("ANA@x.org ", there).is_ok());
    // One address trying many accounts: 30 attempts pass, the 31st waits.
    let scanner = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3));
    for n in 0..30 {
        throttle
            .attempt(&format!("user{n}@x.org"), scanner)
            .unwrap();
    }
    assert!(throttle.attempt("user99@x.org", scanner).is_err());
}
