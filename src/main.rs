//! The `lvsd` binary: the command line at the edge of the library.

fn main() -> anyhow::Result<()> {
    Ok(())
}
