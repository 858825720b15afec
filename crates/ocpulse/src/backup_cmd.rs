//! `ocpulse backup` and `ocpulse restore`: the data directory's database copied out while a
//! server serves from it, and put back into a data directory no server holds. The work is
//! `ocpulse_store::backup` / `restore`; this is their command line.

use std::path::PathBuf;

use anyhow::Context as _;

/// `ocpulse backup`.
#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// The server's data directory (the one `ocpulse serve --data-dir` uses).
    #[arg(long, env = "OCPULSE_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// The backup file to write (replaced only once the new copy is whole and checked).
    #[arg(long, value_name = "FILE")]
    pub to: PathBuf,
}

/// `ocpulse restore`.
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The data directory to restore into (no server may be running on it).
    #[arg(long, env = "OCPULSE_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// The backup file (`ocpulse backup --to FILE`).
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
}

fn megabytes(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// `ocpulse backup --to FILE`.
pub async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let to = args.to.clone();
    let report = tokio::task::spawn_blocking(move || ocpulse_store::backup(&args.data_dir, &to))
        .await
        .context("the backup did not finish")?
        .map_err(|e| anyhow::anyhow!("backup failed: {}", e.detail()))?;
    crate::stdout::line(&format!(
        "backed up {} to {}: {:.1} MB, journal up to seq {}, copied in {:.2} s, every page checked in {:.2} s",
        report.source.display(),
        args.to.display(),
        megabytes(report.bytes),
        report.journal_head,
        report.copied_in.as_secs_f64(),
        report.checked_in.as_secs_f64(),
    ));
    Ok(())
}

/// `ocpulse restore --from FILE`.
pub async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let from = args.from.clone();
    let data_dir = args.data_dir.clone();
    let report = tokio::task::spawn_blocking(move || ocpulse_store::restore(&data_dir, &from))
        .await
        .context("the restore did not finish")?
        .map_err(|e| anyhow::anyhow!("restore failed: {}", e.detail()))?;
    crate::stdout::line(&format!(
        "restored {} into {}: {:.1} MB, journal up to seq {}",
        args.from.display(),
        report.database.display(),
        megabytes(report.bytes),
        report.journal_head,
    ));
    match &report.counters {
        ocpulse_store::Counters::Backup => {}
        ocpulse_store::Counters::Carried {
            last_transaction_id,
            journal_seq,
        } => crate::stdout::line(&format!(
            "counters carried over from the database it replaces: journal seq continues after {journal_seq}, 1.6 transaction ids after {last_transaction_id}"
        )),
        ocpulse_store::Counters::Unreadable(why) => eprintln!(
            "warning: the database it replaces could not be read for its counters ({why}): journal seqs and 1.6 transaction ids handed out after the backup was taken may be handed out again"
        ),
    }
    if let Some(previous) = report.previous {
        crate::stdout::line(&format!(
            "the database it replaced is kept as {}",
            previous.display()
        ));
    }
    Ok(())
}
