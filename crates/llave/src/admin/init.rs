//! `llave init`: makes a data directory where there is none: the directory, its settings
//! file (`llave.toml`, every key commented out), the database at the latest migration and
//! the key-encryption key. Says what it made and what was already there; running it again
//! changes nothing.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{Config, data_dir};

#[derive(Debug, Serialize)]
pub struct Made {
    pub path: String,
    /// False when it was already there.
    pub created: bool,
}

#[derive(Debug, Serialize)]
pub struct InitReport {
    pub data_dir: Made,
    pub config_file: Made,
    pub database: Made,
    pub kek_file: Made,
    pub migration: usize,
}

fn absolute(path: &Path) -> String {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()).display().to_string()
}

fn sqlite_file(url: &str) -> Option<PathBuf> {
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    Some(PathBuf::from(path.split('?').next().unwrap_or(path)))
}

pub async fn run(config: Config) -> Result<InitReport, crate::StartError> {
    let dir = config.data_dir.clone();
    let dir_existed = dir.is_dir();
    std::fs::create_dir_all(&dir).map_err(|e| crate::StartError::DataDir(absolute(&dir), e))?;
    let settings = data_dir::file(&dir);
    let settings_existed = settings.exists();
    if !settings_existed {
        std::fs::write(&settings, data_dir::TEMPLATE)
            .map_err(|e| crate::StartError::DataDir(absolute(&settings), e))?;
    }
    let url = config.database_url();
    let database_existed = sqlite_file(&url).is_none_or(|file| file.is_file());
    let kek = config.kek_file();
    let kek_existed = kek.is_file();
    let app = crate::start(config).await?;
    let migration = app.store.migrate().await?;
    let shown_url = match sqlite_file(&url) {
        Some(file) => format!("sqlite://{}", absolute(&file)),
        // A server's URL may hold a password: only its scheme and host are shown.
        None => url::Url::parse(&url)
            .map(|u| format!("{}://{}", u.scheme(), u.host_str().unwrap_or("")))
            .unwrap_or_else(|_| "the configured database".into()),
    };
    app.store.close().await;
    Ok(InitReport {
        data_dir: Made { path: absolute(&dir), created: !dir_existed },
        config_file: Made { path: absolute(&settings), created: !settings_existed },
        database: Made { path: shown_url, created: !database_existed },
        kek_file: Made { path: absolute(&kek), created: !kek_existed },
        migration,
    })
}

impl InitReport {
    pub fn to_text(&self) -> String {
        let line = |made: &Made, what: &str| {
            let verb = if made.created { "created" } else { "already there:" };
            format!("{verb} {what} {}\n", made.path)
        };
        let kek = line(&self.kek_file, "the key-encryption key");
        let mut out = line(&self.data_dir, "the data directory");
        out.push_str(&line(&self.config_file, "the settings file"));
        out.push_str(&format!("{} (migration {})\n", line(&self.database, "the database").trim_end(), self.migration));
        out.push_str(&format!("{} (back it up with the database)\n", kek.trim_end()));
        if !(self.data_dir.created || self.config_file.created || self.database.created || self.kek_file.created) {
            out.push_str("llave was already initialised here; nothing changed.\n");
        }
        out.push_str(
            "Next: `llave serve` (with --dev on your own machine for the e-mail outbox and the demo sites), \
             or `llave demo` for demo people.\n",
        );
        out
    }
}
