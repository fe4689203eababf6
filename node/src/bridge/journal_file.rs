//! The file under the bridge's small persistent journals (used capability-token
//! ids, live opaque tokens): one text line per change, appended and fsynced
//! before the change is acknowledged; compacted by writing the live state to a
//! temporary file, syncing it and renaming it over the journal (then syncing the
//! directory), so a crash leaves either the old or the new file, at worst with a
//! torn last line that the loader skips.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The text of the journal at `path`; empty if there is none yet.
pub fn read(path: &Path) -> std::io::Result<String> {
    match std::fs::read_to_string(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        read => read,
    }
}

/// An open journal, appended to, with the number of lines it holds.
pub struct JournalFile {
    path: PathBuf,
    file: File,
    lines: usize,
}

impl JournalFile {
    /// Replaces the journal at `path` by `text` (`lines` lines, each ending in `\n`),
    /// durably, and opens it for appending.
    pub fn rewrite(path: &Path, text: &str, lines: usize) -> std::io::Result<JournalFile> {
        let tmp = path.with_extension("tmp");
        let mut file = File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        let file = OpenOptions::new().append(true).open(path)?;
        Ok(JournalFile { path: path.to_owned(), file, lines })
    }

    /// Appends `line` (ending in `\n`) and syncs it.
    pub fn append(&mut self, line: &str) -> std::io::Result<()> {
        self.file.write_all(line.as_bytes())?;
        self.file.sync_data()?;
        self.lines += 1;
        Ok(())
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lines written since it was last rewritten, those of the rewrite included.
    pub fn lines(&self) -> usize {
        self.lines
    }
}
