//! `--dry-run`: an in-memory table that prints every change as the
//! `ipvsadm` line that would make it, so an operator can watch lvsd work on a
//! machine without IPVS.

use std::io::Write;

use crate::ipvs::format::op_line;
use crate::ipvs::settings::SyncDaemon;
use crate::ipvs::{IpvsError, IpvsTable, MemoryTable, ServiceEntry, TableOp};

/// A [`MemoryTable`] that writes each successful change to `out`.
pub struct PrintingTable<W: Write> {
    table: MemoryTable,
    out: W,
}

impl<W: Write> PrintingTable<W> {
    /// An empty table printing to `out`.
    pub fn new(out: W) -> Self {
        PrintingTable {
            table: MemoryTable::new(),
            out,
        }
    }
}

impl<W: Write> IpvsTable for PrintingTable<W> {
    fn dump(&mut self) -> Result<Vec<ServiceEntry>, IpvsError> {
        self.table.dump()
    }

    fn apply_one(&mut self, op: &TableOp) -> Result<(), IpvsError> {
        self.table.apply_one(op)?;
        let _ = writeln!(self.out, "{}", op_line(op));
        let _ = self.out.flush();
        Ok(())
    }

    fn sync_daemons(&mut self) -> Result<Vec<SyncDaemon>, IpvsError> {
        self.table.sync_daemons()
    }

    fn flush(&mut self) -> Result<(), IpvsError> {
        self.table.flush()?;
        let _ = writeln!(self.out, "-C");
        Ok(())
    }
}
