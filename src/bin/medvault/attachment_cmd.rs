//! `attach`, and `read --attachment` / `read --attachments`.

use crate::io::{self, print_json};
use crate::{CmdResult, Failure, Global};
use clap::Args;
use medvault::export::files::PrivateFile;
use medvault::{AttachmentId, AttachmentInfo, EntryId, PatientId, Purpose, Section};
use serde_json::json;
use std::path::PathBuf;

#[derive(Args)]
pub struct AttachArgs {
    /// Patient id.
    patient: String,
    /// reports or exams.
    #[arg(long)]
    section: String,
    /// The entry the file belongs to (`read --json` shows entry ids).
    #[arg(long)]
    entry: String,
    /// The file to attach (PDF, scan, image; up to 4 GiB), read as a stream.
    #[arg(long)]
    file: PathBuf,
    /// The name kept with it (default: the file's name).
    #[arg(long)]
    name: Option<String>,
    /// Its media type (default: from the file's extension, else application/octet-stream).
    #[arg(long = "type")]
    media_type: Option<String>,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// The media type of common attachment files, by extension.
fn media_type_of(path: &std::path::Path) -> &'static str {
    let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "pdf" => "application/pdf",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "tif" | "tiff" => "image/tiff",
        "dcm" => "application/dicom",
        "txt" => "text/plain",
        "xml" => "application/xml",
        _ => "application/octet-stream",
    }
}

pub fn attach(g: &Global, a: AttachArgs) -> CmdResult {
    let section = Section::parse(&a.section)?;
    let entry = EntryId::parse(&a.entry)?;
    let name = match &a.name {
        Some(n) => n.clone(),
        None => a.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
    };
    let media_type = a.media_type.clone().unwrap_or_else(|| media_type_of(&a.file).to_string());
    // Open the file before unlocking: a missing file changes nothing.
    let mut file =
        std::fs::File::open(&a.file).map_err(|e| Failure::Other(format!("cannot open {}: {e}", a.file.display())))?;
    let (store, s) = io::session(g, Purpose::Treatment)?;
    let p = crate::patient_cmd::patient_id(&s, &a.patient)?;
    let size = file.metadata().map(|m| m.len()).ok();
    let bar = io::progress("attaching", size, true);
    let id = s.attach(p, section, entry, &name, &media_type, &mut bar.wrap_read(std::io::BufReader::new(&mut file)));
    bar.finish_and_clear();
    let id = id?;
    if g.json {
        print_json(&json!({ "attachment": id.to_string(), "entry": entry.to_string() }))?;
    } else {
        println!("{id}");
    }
    drop(s);
    store.close()?;
    Ok(())
}

/// The file name an attachment is exported under: its id, then its name with anything but
/// letters, digits, `.`, `-` and `_` replaced (at most 100 characters of it).
pub fn file_name(a: &AttachmentInfo) -> String {
    let clean: String = a
        .name
        .chars()
        .map(|c| if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .take(100)
        .collect();
    format!("{}-{}", a.id, clean.trim_start_matches('.'))
}

/// Writes one attachment's content to a new owner-only file (removed again on any failure).
pub fn write_attachment(
    s: &medvault::Session,
    (p, section, entry, id): (PatientId, Section, EntryId, AttachmentId),
    out: &std::path::Path,
    force: bool,
) -> Result<AttachmentInfo, Failure> {
    let mut file = PrivateFile::create(out, force)?;
    let bar = io::progress("writing the attachment", None, true);
    let read = s.read_attachment(p, section, entry, id, &mut bar.wrap_write(&mut file));
    bar.finish_and_clear();
    match read {
        Ok(info) => {
            file.finish()?;
            Ok(info)
        }
        Err(e) => {
            file.discard();
            Err(e.into())
        }
    }
}

/// Writes one attachment to `out` (a new owner-only file, removed again if anything fails).
pub fn read_one(
    g: &Global,
    patient: &str,
    section: Section,
    entry: Option<&str>,
    attachment: &str,
    out: &std::path::Path,
    force: bool,
) -> CmdResult {
    let entry = EntryId::parse(entry.ok_or_else(|| Failure::Usage("--attachment needs --entry".into()))?)?;
    let id = AttachmentId::parse(attachment)?;
    let (store, s) = io::session(g, Purpose::Treatment)?;
    let p = crate::patient_cmd::patient_id(&s, patient)?;
    let info = write_attachment(&s, (p, section, entry, id), out, force)?;
    eprintln!("{} bytes ({}) written to {}", info.size, info.media_type, out.display());
    drop(s);
    store.close()?;
    Ok(())
}

fn view(a: &AttachmentInfo) -> serde_json::Value {
    json!({
        "attachment": a.id.to_string(),
        "entry": a.entry.to_string(),
        "name": a.name,
        "media_type": a.media_type,
        "size": a.size,
        "added_at": a.added_at.to_string(),
        "added_by": a.added_by,
    })
}

/// Lists a section's attachments.
pub fn list(g: &Global, patient: &str, section: Section) -> CmdResult {
    let (store, s) = io::session(g, Purpose::Treatment)?;
    let p = crate::patient_cmd::patient_id(&s, patient)?;
    let list = s.attachments(p, section)?;
    if g.json {
        print_json(&list.iter().map(view).collect::<Vec<_>>())?;
    } else {
        let mut t = io::table(&["entry", "attachment", "name", "type", "bytes", "added", "by"]);
        for a in &list {
            t.add_row(vec![
                a.entry.to_string()[..8].to_string(),
                a.id.to_string(),
                a.name.clone(),
                a.media_type.clone(),
                a.size.to_string(),
                a.added_at.to_string(),
                a.added_by.clone(),
            ]);
        }
        println!("{t}");
    }
    drop(s);
    store.close()?;
    Ok(())
}
