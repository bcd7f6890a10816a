//! `init`, `user ...`, `recover`.

use crate::io::{self, print_json};
use crate::{CmdResult, Failure, Global};
use clap::{Args, Subcommand};
use medvault::{AccessContext, KdfParams, Policy, Purpose, RecoveryShare, Store, StoreOptions};
use serde_json::json;
use std::path::PathBuf;

#[derive(Args)]
pub struct InitArgs {
    /// Name of the first administrator (passphrase: prompt, --passphrase-env or --passphrase-fd).
    #[arg(long)]
    admin: String,
    /// Recovery shares to issue.
    #[arg(long, default_value_t = 5)]
    shares: u8,
    /// Shares needed to recover.
    #[arg(long, default_value_t = 3)]
    threshold: u8,
    /// Role matrix (JSON policy file) instead of the default one.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Argon2id memory in KiB (default 65536; lower only for tests).
    #[arg(long)]
    kdf_memory_kib: Option<u32>,
    /// Argon2id passes (default 3).
    #[arg(long)]
    kdf_passes: Option<u32>,
    /// Argon2id lanes (default 4).
    #[arg(long)]
    kdf_lanes: Option<u32>,
    /// Keep audit payloads this many days (default: keep everything).
    #[arg(long)]
    audit_retention_days: Option<u32>,
    /// Folder on other media where every closing checkpoint is also written (an anchor).
    #[arg(long)]
    anchor_dir: Option<PathBuf>,
    /// Embedded storage engine: redb (default) or sled (the first release's engine).
    #[arg(long, default_value = "redb", value_parser = ["redb", "sled"])]
    engine: String,
    /// Print the store id and the shares as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum UserCmd {
    /// Create a user (initial passphrase from MEDVAULT_NEW_PASSPHRASE or a prompt).
    Add {
        /// Login name.
        name: String,
        /// Role (repeat for several).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// Name the patient copy shows (`Dr Claire Martin`); with --profession.
        #[arg(long, requires = "profession")]
        full_name: Option<String>,
        /// Profession the patient copy shows (`médecin généraliste`); with --full-name.
        #[arg(long, requires = "full_name")]
        profession: Option<String>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Set the name and profession a patient's copy shows for a user (instead of the login).
    Profile {
        /// Login name.
        name: String,
        /// Full name (`Dr Claire Martin`).
        #[arg(long)]
        full_name: String,
        /// Profession (`médecin généraliste`).
        #[arg(long)]
        profession: String,
    },
    /// Replace a user's roles (keys of removed roles are deleted; those of added roles are
    /// sealed now if you hold them, else by a holder at their next unlock).
    Roles {
        /// Login name.
        name: String,
        /// Role (repeat for several).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a user: they can no longer unlock; their keys are deleted.
    Revoke {
        /// Login name.
        name: String,
    },
    /// Change your own passphrase (new one from MEDVAULT_NEW_PASSPHRASE or a prompt).
    Passwd,
    /// List accounts.
    List {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Deliver the keys you hold to the users still waiting for them (it happens at every
    /// unlock; this command does only that, and says to whom).
    Deliver,
    /// Lift a user's lockout after failed unlocks.
    Unlock {
        /// Login name.
        name: String,
    },
}

#[derive(Args)]
pub struct RecoverArgs {
    /// Files holding recovery shares (one `mvshare1-...` per line).
    #[arg(long = "share-file", required = true)]
    share_files: Vec<PathBuf>,
}

impl UserCmd {
    /// Whether JSON output was asked for.
    pub fn json(&self) -> bool {
        matches!(
            self,
            UserCmd::Add { json: true, .. } | UserCmd::List { json: true } | UserCmd::Roles { json: true, .. }
        )
    }
}

pub fn init(g: &Global, a: InitArgs) -> CmdResult {
    let location = io::store_location(g)?;
    let policy = match &a.policy {
        Some(p) => Policy::from_json(&io::read_text_limited(&p.display().to_string())?)?,
        None => Policy::default(),
    };
    let d = KdfParams::RECOMMENDED;
    let kdf = KdfParams {
        m_kib: a.kdf_memory_kib.unwrap_or(d.m_kib),
        t: a.kdf_passes.unwrap_or(d.t),
        p: a.kdf_lanes.unwrap_or(d.p),
    };
    if !kdf.meets_recommendation() {
        eprintln!("warning: Argon2id parameters below the RFC 9106 recommendation (64 MiB, t=3): for tests only");
    }
    let pass = io::passphrase_confirmed(g, &format!("Passphrase for {}: ", a.admin))?;
    let options = StoreOptions {
        policy,
        kdf,
        recovery_shares: a.shares,
        recovery_threshold: a.threshold,
        audit_retention_days: a.audit_retention_days,
        engine: medvault::Engine::parse(&a.engine).unwrap_or_default(),
        anchor_dir: a.anchor_dir.clone(),
        ..StoreOptions::default()
    };
    let (store, shares) = Store::create_at(&location, &a.admin, pass.as_bytes(), options)?;
    let texts: Vec<String> = shares.iter().map(|s| s.to_text().to_string()).collect();
    if g.json {
        print_json(
            &json!({"store": store.id().to_string(), "admin": a.admin, "recovery_threshold": a.threshold, "recovery_shares": texts}),
        )?;
    } else {
        eprintln!("store {} created in {} with administrator {}", store.id(), location, a.admin);
        println!("=== RECOVERY SHARES: shown once, stored nowhere ===");
        println!("Give each share to a different trusted person. Any {} of {} restore access.", a.threshold, a.shares);
        for (i, t) in texts.iter().enumerate() {
            println!("share {}/{}: {t}", i + 1, texts.len());
        }
        println!("=== END OF RECOVERY SHARES ===");
    }
    store.close()?;
    Ok(())
}

pub fn run(g: &Global, c: UserCmd) -> CmdResult {
    let (store, s) = io::session(g, Purpose::Operations)?;
    match c {
        UserCmd::Roles { name, roles, .. } => {
            let changed = s.set_roles(&name, &roles)?;
            let kinds = |v: &[medvault::KeyKind]| v.iter().map(|k| format!("{k:?}").to_lowercase()).collect::<Vec<_>>();
            if g.json {
                print_json(&json!({"name": name, "roles": roles, "keys_pending": kinds(&changed.pending)}))?;
            } else {
                eprintln!("user {name} now has role(s) {}", roles.join(", "));
                if !changed.pending.is_empty() {
                    eprintln!(
                        "keys pending delivery: {} (delivered when a user holding them next unlocks)",
                        kinds(&changed.pending).join(", ")
                    );
                }
            }
        }
        UserCmd::Profile { name, full_name, profession } => {
            s.set_profile(&name, &full_name, &profession)?;
            eprintln!("{name} is shown as « {full_name} ({profession}) » in patient copies");
        }
        UserCmd::Add { name, roles, full_name, profession, .. } => {
            let pass = io::new_passphrase(&name)?;
            let added = s.add_user(&name, &roles, pass.as_bytes())?;
            if let (Some(n), Some(p)) = (&full_name, &profession) {
                s.set_profile(&name, n, p)?;
            }
            let kinds = |v: &[medvault::KeyKind]| v.iter().map(|k| format!("{k:?}").to_lowercase()).collect::<Vec<_>>();
            if g.json {
                print_json(
                    &json!({"name": name, "id": added.id.to_string(), "roles": roles, "keys_created": kinds(&added.created), "keys_pending": kinds(&added.pending)}),
                )?;
            } else {
                eprintln!("user {name} added with role(s) {}", roles.join(", "));
                if !added.pending.is_empty() {
                    let holders: Vec<String> = s
                        .list_users()?
                        .into_iter()
                        .find(|u| u.name == name)
                        .map(|u| u.deliverable_by)
                        .unwrap_or_default();
                    eprintln!("{name} cannot read yet: keys pending delivery: {}", kinds(&added.pending).join(", "));
                    if holders.is_empty() {
                        eprintln!("no active user holds them yet: they are delivered once a holder exists and unlocks");
                    } else {
                        eprintln!(
                            "delivered at the next unlock of any of: {} (or ask one of them to run `medvault user deliver`)",
                            holders.join(", ")
                        );
                    }
                }
            }
        }
        UserCmd::Revoke { name } => {
            s.revoke_user(&name)?;
            eprintln!(
                "user {name} revoked (rotate section keys so that new data is unreadable with anything they copied: medvault keys rotate --section S)"
            );
        }
        UserCmd::Passwd => {
            let old = io::passphrase(g, "Current passphrase: ")?;
            let new = io::new_passphrase(s.user_name())?;
            s.change_passphrase(old.as_bytes(), new.as_bytes())?;
            eprintln!("passphrase changed");
        }
        UserCmd::List { .. } => {
            let users = s.list_users()?;
            if g.json {
                print_json(&users)?;
            } else {
                let mut t = io::table(&[
                    "user",
                    "name, profession",
                    "roles",
                    "status",
                    "created",
                    "keys pending",
                    "deliverable by",
                ]);
                for u in &users {
                    t.add_row(vec![
                        u.name.clone(),
                        match (&u.full_name, &u.profession) {
                            (Some(n), Some(p)) => format!("{n}, {p}"),
                            _ => "-".into(),
                        },
                        u.roles.join(", "),
                        if u.revoked { "revoked".into() } else { "active".to_string() },
                        u.created_at.to_string(),
                        u.pending_keys.join(", "),
                        u.deliverable_by.join(", "),
                    ]);
                }
                println!("{t}");
            }
        }
        UserCmd::Deliver => {
            let delivered = s.delivered_at_unlock();
            if delivered.is_empty() {
                eprintln!("nobody was waiting for a key you hold");
            }
            for (user, keys) in &delivered {
                println!("delivered to {user}: {}", keys.join(", "));
            }
        }
        UserCmd::Unlock { name } => {
            s.lift_lockout(&name)?;
            eprintln!("lockout of {name} lifted");
        }
    }
    drop(s);
    store.close()?;
    Ok(())
}

pub fn recover(g: &Global, a: RecoverArgs) -> CmdResult {
    let location = io::store_location(g)?;
    let user = io::user(g)?;
    let mut shares = Vec::new();
    for f in &a.share_files {
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(f).map_err(|e| Failure::Other(format!("cannot read {}: {e}", f.display())))?,
        );
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let share = line.rsplit(' ').next().unwrap_or(line);
            shares.push(RecoveryShare::parse(share)?);
        }
    }
    let store = Store::open_at(&location)?;
    let pass = io::new_passphrase(&user)?;
    store.recover(
        &shares,
        &user,
        pass.as_bytes(),
        AccessContext { workstation: g.workstation.clone(), purpose: Purpose::Operations },
    )?;
    eprintln!("access of {user} restored with {} share(s); their new passphrase is set", shares.len());
    store.close()?;
    Ok(())
}
