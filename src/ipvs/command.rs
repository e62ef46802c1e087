//! `lvsd ipvs list|save|restore`: the kernel's table in ipvsadm's formats.

use std::io::{Read, Write};

use super::IpvsError;

/// `lvsd ipvs list`: the table as `ipvsadm -Ln` prints it.
pub fn list(_out: &mut dyn Write) -> Result<(), IpvsError> {
    Err(IpvsError::NotAvailable)
}

/// `lvsd ipvs save`: the table as `ipvsadm -Sn` prints it.
pub fn save(_out: &mut dyn Write) -> Result<(), IpvsError> {
    Err(IpvsError::NotAvailable)
}

/// `lvsd ipvs restore`: apply `ipvsadm -Sn` lines (as `ipvsadm -R` does).
pub fn restore(_input: &mut dyn Read) -> Result<(), IpvsError> {
    Err(IpvsError::NotAvailable)
}
