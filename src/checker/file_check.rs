//! `FILE_CHECK`: the number in a tracked file, read as keepalived reads it,
//! and what it does to the real servers of the checks that follow it.
//!
//! Reading (keepalived 2.2.7's `process_track_file`): at most 127 bytes,
//! up to the first NUL, parsed like `strtol(buf, NULL, 0)`:
//!
//! | file holds        | value                         |
//! |-------------------|-------------------------------|
//! | `5`, `  5\n`, `5 apples` | 5 (leading space ok, trailing text ignored) |
//! | `0x10`, `010`     | 16, 8 (the base comes from the prefix) |
//! | `abc`, nothing, no such file | 0                  |
//! | beyond -2147483648..2147483648 | ignored: the previous value stays |
//!
//! Mapping (`update_track_file_status`), with the check's `weight` W:
//!
//! - W = 0: the check fails while the value is not 0 (with `reverse`:
//!   while it is 0). Nothing else changes.
//! - W ≠ 0: the check passes and adds value × W (× -1 with `reverse`) to its
//!   real server's weight, clamped to the 32-bit range; only a product at
//!   or below -2147483648 fails it.
//!
//! These are pure functions: the watcher (`file_watch.rs`) calls them when
//! inotify says the file changed, and the daemon at start.

use std::borrow::Cow;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::{ProbeResult, WeightAsk};
use crate::config::FileCheck;

/// How much of the file is read, as keepalived reads it.
pub const READ_LIMIT: usize = 127;

/// The number `bytes` hold, as `strtol(bytes, NULL, 0)` reads it, or
/// `None` when keepalived would ignore it (outside -2^31..=2^31, which
/// includes what overflows a `long`).
pub fn parse(bytes: &[u8]) -> Option<i64> {
    // C sees the buffer up to its first NUL.
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let mut rest = &bytes[..end];
    // isspace() in the C locale.
    while let [b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r', tail @ ..] = rest {
        rest = tail;
    }
    let negative = match rest {
        [b'-', tail @ ..] => {
            rest = tail;
            true
        }
        [b'+', tail @ ..] => {
            rest = tail;
            false
        }
        _ => false,
    };
    let radix = match rest {
        // "0x" counts as a prefix only when a hex digit follows; else the
        // "0" is the number and the "x" trailing text.
        [b'0', b'x' | b'X', d, ..] if d.is_ascii_hexdigit() => {
            rest = &rest[2..];
            16
        }
        [b'0', ..] => 8,
        _ => 10,
    };
    let mut magnitude: u64 = 0;
    for &b in rest {
        let Some(digit) = char::from(b).to_digit(radix) else {
            break;
        };
        // Past 2^33 the value is out of range whatever follows: stop
        // growing (strtol's ERANGE is the same verdict).
        magnitude = magnitude
            .saturating_mul(u64::from(radix))
            .saturating_add(u64::from(digit))
            .min(1 << 33);
    }
    let value = if negative {
        -(magnitude as i64)
    } else {
        magnitude as i64
    };
    (i64::from(i32::MIN)..=i64::from(i32::MAX) + 1)
        .contains(&value)
        .then_some(value)
}

/// What keepalived itself reads from `bytes`: the C library's
/// `strtol(bytes, NULL, 0)` with keepalived's range check. The reference
/// [`parse`] is tested against (unit tests, the fuzz target and its corpus);
/// lvsd does not use it.
#[doc(hidden)]
pub fn c_strtol(bytes: &[u8]) -> Option<i64> {
    let mut buf = bytes.to_vec();
    buf.push(0);
    // SAFETY: `buf` is NUL-terminated and outlives the call; errno is this
    // thread's own.
    let (value, errno) = unsafe {
        *libc::__errno_location() = 0;
        let v = libc::strtol(buf.as_ptr().cast(), std::ptr::null_mut(), 0);
        (v, *libc::__errno_location())
    };
    let in_range = (i64::from(i32::MIN)..=i64::from(i32::MAX) + 1).contains(&value);
    (errno == 0 && in_range).then_some(value)
}

/// The value of the file at `path` now: 0 when it cannot be opened or read
/// or is empty, `None` when its number is out of range (keep the previous).
pub fn read(path: &Path) -> Option<i64> {
    // O_NONBLOCK, as keepalived: opening a FIFO never waits for a writer.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path);
    let mut buf = [0u8; READ_LIMIT];
    // One read, as keepalived does: a file being written shows what is there.
    match file.and_then(|mut f| f.read(&mut buf)) {
        Ok(len) => parse(&buf[..len]),
        Err(_) => Some(0),
    }
}

/// What a value means for one FILE_CHECK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Whether the check passes.
    pub up: bool,
    /// What it adds to its real servers' weight: `None` for a weight-0
    /// (up/down only) check; `Some(0)` when a weighted one fails.
    pub add: Option<i32>,
}

/// What `value` means for a check of weight `weight` (`reverse`).
pub fn verdict(value: i64, weight: i32, reverse: bool) -> Verdict {
    if weight == 0 {
        return Verdict {
            up: (value == 0) != reverse,
            add: None,
        };
    }
    let sign = if reverse { -1 } else { 1 };
    // |value| ≤ 2^31 and |weight| < 2^31: the product fits an i64.
    let product =
        (value * i64::from(weight) * sign).clamp(i64::from(i32::MIN), i64::from(i32::MAX));
    if product == i64::from(i32::MIN) {
        // keepalived's IPVS_WEIGHT_FAULT: down, and its weight taken back.
        return Verdict {
            up: false,
            add: Some(0),
        };
    }
    Verdict {
        up: true,
        add: Some(product as i32),
    }
}

/// The probe result of `check` for the file's `value`, with a reason that
/// says what was read.
pub fn result(check: &FileCheck, value: i64) -> ProbeResult {
    let v = verdict(value, check.weight, check.reverse);
    let reason: Cow<'static, str> = match v.add {
        None => format!("{} holds {value}", check.path.display()).into(),
        Some(add) if v.up => {
            format!("{} holds {value}: weight {add:+}", check.path.display()).into()
        }
        Some(_) => format!(
            "{} holds {value}: weight × value at or below -2147483648",
            check.path.display()
        )
        .into(),
    };
    ProbeResult {
        ok: v.up,
        reason,
        latency: std::time::Duration::ZERO,
        weight: v.add.map(WeightAsk::Add),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_read_as_strtol_with_base_0_reads_them() {
        let cases: &[(&[u8], Option<i64>)] = &[
            (b"5", Some(5)),
            (b"5\n", Some(5)),
            (b"  \t\n\x0b\x0c\r42", Some(42)),
            (b"-7", Some(-7)),
            (b"+7", Some(7)),
            (b"0x10", Some(16)),
            (b"0X1f", Some(31)),
            (b"-0x10", Some(-16)),
            (b"010", Some(8)),
            (b"08", Some(0)), // octal: the 8 is trailing text
            (b"0x", Some(0)),
            (b"0xg", Some(0)),
            (b"12abc", Some(12)),
            (b"abc", Some(0)),
            (b"", Some(0)),
            (b"   ", Some(0)),
            (b"- 5", Some(0)),
            (b"3\x009", Some(3)), // C stops at the NUL
            (b"\x005", Some(0)),
            (b"2147483647", Some(2_147_483_647)),
            (b"2147483648", Some(2_147_483_648)), // keepalived's range ends at INT32_MAX + 1
            (b"2147483649", None),
            (b"-2147483648", Some(-2_147_483_648)),
            (b"-2147483649", None),
            (b"99999999999999999999999999", None), // strtol's ERANGE
            (b"0x7fffffff", Some(2_147_483_647)),
            (b"0x100000000", None),
        ];
        for (bytes, want) in cases {
            assert_eq!(parse(bytes), *want, "{:?}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn parse_agrees_with_the_c_library_on_random_input() {
        use rand::{Rng, SeedableRng};
        // Bytes that reach every branch: space, signs, every base's digits
        // and prefix, letters past 'f', NUL, a non-ASCII byte.
        const ALPHABET: &[u8] = b" \t\n\x0b+-0123456789aAfFgxX\0\xa0z";
        let mut rng = rand::rngs::StdRng::seed_from_u64(17);
        for _ in 0..200_000 {
            let len = rng.random_range(0..=14);
            let bytes: Vec<u8> = (0..len)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
                .collect();
            assert_eq!(parse(&bytes), c_strtol(&bytes), "{bytes:?}");
        }
        // Long runs of digits: around and far past the range.
        for digits in 9..=40 {
            for lead in [b"", b"-" as &[u8], b"0x", b"-0", b"0"] {
                let mut bytes = lead.to_vec();
                bytes.extend(std::iter::repeat_n(b'7', digits));
                assert_eq!(parse(&bytes), c_strtol(&bytes), "{bytes:?}");
            }
        }
    }

    #[test]
    fn a_file_is_read_up_to_127_bytes_and_missing_means_0() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("value");
        assert_eq!(read(&path), Some(0), "no such file");
        std::fs::write(&path, "  0x20 trailing\n").unwrap();
        assert_eq!(read(&path), Some(32));
        // 127 spaces, then a digit keepalived never sees.
        std::fs::write(&path, format!("{}9", " ".repeat(127))).unwrap();
        assert_eq!(read(&path), Some(0));
        std::fs::write(&path, format!("{}9", " ".repeat(126))).unwrap();
        assert_eq!(read(&path), Some(9));
        std::fs::write(&path, "4294967296").unwrap();
        assert_eq!(read(&path), None, "out of range: ignored");
    }

    #[test]
    fn weight_zero_is_up_or_down_only() {
        let v = |value, reverse| verdict(value, 0, reverse);
        assert_eq!(
            v(0, false),
            Verdict {
                up: true,
                add: None
            }
        );
        assert_eq!(
            v(1, false),
            Verdict {
                up: false,
                add: None
            }
        );
        assert_eq!(
            v(-3, false),
            Verdict {
                up: false,
                add: None
            }
        );
        assert_eq!(
            v(0, true),
            Verdict {
                up: false,
                add: None
            }
        );
        assert_eq!(
            v(1, true),
            Verdict {
                up: true,
                add: None
            }
        );
        assert_eq!(
            v(-3, true),
            Verdict {
                up: true,
                add: None
            }
        );
    }

    #[test]
    fn a_weight_adds_value_times_weight_and_fails_only_at_the_bottom() {
        let up = |add| Verdict {
            up: true,
            add: Some(add),
        };
        assert_eq!(verdict(0, 5, false), up(0));
        assert_eq!(verdict(3, 5, false), up(15));
        assert_eq!(verdict(3, 5, true), up(-15));
        assert_eq!(verdict(-3, 5, false), up(-15));
        assert_eq!(verdict(-3, -5, true), up(-15));
        assert_eq!(verdict(1 << 31, 254, false), up(i32::MAX), "clamped");
        assert_eq!(verdict(-(1 << 31) + 1, 1, false), up(i32::MIN + 1));
        let fault = Verdict {
            up: false,
            add: Some(0),
        };
        assert_eq!(verdict(-(1 << 31), 1, false), fault);
        assert_eq!(verdict(1 << 30, -4, false), fault, "clamped to the bottom");
        assert_eq!(verdict(1 << 31, 1, true), fault);
    }
}
