//! Small grammars for values, written with nom: parameter names, `~SEQ`
//! specs, numbers, timers, addresses, address ranges and status-code ranges.

use super::Timer;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::{char, digit1, multispace0};
use nom::combinator::{all_consuming, map, map_res, opt, recognize};
use nom::multi::separated_list1;
use nom::sequence::{delimited, pair, preceded, separated_pair, terminated};
use nom::IResult;

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// A parameter name: `[A-Za-z_][A-Za-z0-9_]*`.
fn name(input: &str) -> IResult<&str, &str> {
    recognize(pair(take_while1(is_name_start), take_while(is_name_char)))(input)
}

/// `$NAME=value` at the start of `text`: the name and everything after `=`.
pub fn definition(text: &str) -> Option<(&str, &str)> {
    let r: IResult<&str, &str> = terminated(preceded(char('$'), name), char('='))(text);
    r.ok().map(|(value, name)| (name, value))
}

/// `{NAME}` after a `$`: the name and how many bytes `{NAME}` takes.
/// `{_RANDOM 1 10}` is a name too (the predefined random parameter).
pub fn braced_name(after_dollar: &str) -> Option<(&str, usize)> {
    let inner = after_dollar.strip_prefix('{')?;
    let end = inner.find('}')?;
    let name = &inner[..end];
    let valid = match name.split_once(' ') {
        Some((head, _)) => head == "_RANDOM",
        None => name.starts_with(is_name_start) && name.chars().all(is_name_char),
    };
    valid.then_some((name, end + 2))
}

/// `NAME` after a `$`.
pub fn bare_name(after_dollar: &str) -> Option<&str> {
    name(after_dollar).ok().map(|(_, n)| n)
}

/// `_RANDOM [MIN [MAX]]`: the range (default 0..=32767).
pub fn random_spec(name: &str) -> Option<(u64, u64)> {
    let mut words = name.split_whitespace();
    if words.next()? != "_RANDOM" {
        return None;
    }
    let min = words.next().map_or(Some(0), |w| w.parse().ok())?;
    let max = words.next().map_or(Some(32767), |w| w.parse().ok())?;
    Some((min, max))
}

/// A parsed `~SEQ(...)`, `~SEQx(...)` or `~LST(...)`.
#[derive(Debug, Clone, PartialEq)]
pub struct SeqSpec {
    /// The variables set on each round.
    pub vars: Vec<String>,
    /// For `~SEQ`: (start, step, end, hex).
    seq: Option<(i64, i64, i64, bool)>,
    /// For `~LST`: one row of values per round.
    list: Vec<Vec<String>>,
}

impl SeqSpec {
    /// How many rounds there are (without making them).
    pub fn rounds(&self) -> u64 {
        match self.seq {
            Some((start, step, end, _)) => {
                let span = (i128::from(end) - i128::from(start)) / i128::from(step);
                if span < 0 {
                    0
                } else {
                    (span as u64).saturating_add(1)
                }
            }
            None => self.list.len() as u64,
        }
    }

    /// Every round's values, one per variable.
    pub fn rows(&self) -> Vec<Vec<String>> {
        let Some((start, step, end, hex)) = self.seq else {
            return self.list.clone();
        };
        let mut rows = Vec::new();
        let mut v = start;
        while (step > 0 && v <= end) || (step < 0 && v >= end) {
            rows.push(vec![if hex { format!("{v:x}") } else { v.to_string() }]);
            match v.checked_add(step) {
                Some(next) => v = next,
                None => break,
            }
        }
        rows
    }
}

fn ws<'a, O>(
    inner: impl FnMut(&'a str) -> IResult<&'a str, O>,
) -> impl FnMut(&'a str) -> IResult<&'a str, O> {
    delimited(multispace0, inner, multispace0)
}

fn signed(input: &str) -> IResult<&str, i64> {
    alt((
        map_res(
            preceded(
                alt((tag("0x"), tag("0X"))),
                take_while1(|c: char| c.is_ascii_hexdigit()),
            ),
            |h| i64::from_str_radix(h, 16),
        ),
        map_res(
            preceded(
                alt((tag("-0x"), tag("-0X"))),
                take_while1(|c: char| c.is_ascii_hexdigit()),
            ),
            |h| i64::from_str_radix(h, 16).map(|v| -v),
        ),
        map_res(recognize(pair(opt(char('-')), digit1)), str::parse),
    ))(input)
}

fn list_value(input: &str) -> IResult<&str, String> {
    map(
        take_while1(|c: char| c != ',' && c != ')' && c != '}'),
        |v: &str| v.trim().to_owned(),
    )(input)
}

fn group<'a, O>(
    item: impl FnMut(&'a str) -> IResult<&'a str, O>,
) -> impl FnMut(&'a str) -> IResult<&'a str, Vec<O>> {
    delimited(char('{'), separated_list1(char(','), ws(item)), char('}'))
}

/// `~SEQ(...)` / `~SEQx(...)` / `~LST(...)` at the start of `text`: the
/// rest of the line and the spec, or what is wrong with it.
pub fn seq_spec(text: &str) -> Result<(&str, SeqSpec), String> {
    if let Some(body) = text.strip_prefix("~LST(") {
        let vars = alt((
            group(map(name, str::to_owned)),
            map(ws(name), |n| vec![n.to_owned()]),
        ));
        let row = alt((group(list_value), map(ws(list_value), |v| vec![v])));
        let parsed: IResult<&str, (Vec<String>, Vec<Vec<String>>)> = terminated(
            separated_pair(vars, char(','), separated_list1(char(','), ws(row))),
            char(')'),
        )(body);
        let (rest, (vars, list)) = parsed.map_err(|_| {
            "malformed ~LST: expected ~LST(VAR, VALUE, ...) or ~LST({VAR, ...}, {VALUE, ...}, ...)"
                .to_owned()
        })?;
        if let Some(bad) = list.iter().find(|r| r.len() != vars.len()) {
            return Err(format!(
                "~LST row has {} values for {} variables",
                bad.len(),
                vars.len()
            ));
        }
        return Ok((
            rest,
            SeqSpec {
                vars,
                seq: None,
                list,
            },
        ));
    }
    let (hex, body) = if let Some(b) = text.strip_prefix("~SEQx(") {
        (true, b)
    } else if let Some(b) = text.strip_prefix("~SEQ(") {
        (false, b)
    } else {
        return Err("expected ~SEQ(, ~SEQx( or ~LST(".to_owned());
    };
    let parsed: IResult<&str, (&str, Vec<i64>)> = terminated(
        pair(
            ws(name),
            preceded(char(','), separated_list1(char(','), ws(signed))),
        ),
        char(')'),
    )(body);
    let (rest, (var, numbers)) = parsed
        .map_err(|_| "malformed ~SEQ: expected ~SEQ(VAR, [START,] [STEP,] END)".to_owned())?;
    let (start, step, end) = match numbers[..] {
        [end] => (
            if end >= 0 { 1 } else { -1 },
            if end >= 0 { 1 } else { -1 },
            end,
        ),
        [start, end] => (start, if end >= start { 1 } else { -1 }, end),
        [start, step, end] => (start, step, end),
        _ => return Err("~SEQ takes at most three numbers: start, step, end".to_owned()),
    };
    if step == 0 {
        return Err("~SEQ step must not be 0".to_owned());
    }
    let spec = SeqSpec {
        vars: vec![var.to_owned()],
        seq: Some((start, step, end, hex)),
        list: Vec::new(),
    };
    Ok((rest, spec))
}

/// An unsigned integer (decimal), if it fits `T`.
///
/// Read in one pass (ports and weights are in every real server): the
/// answer is the standard parser's for a string of digits.
pub fn uint<T: TryFrom<u64>>(word: &str) -> Option<T> {
    if word.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &b in word.as_bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    T::try_from(v).ok()
}

/// A signed integer (decimal).
pub fn int(word: &str) -> Option<i64> {
    let digits = word.strip_prefix('-').unwrap_or(word);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    word.parse().ok()
}

/// A `<TIMER>`: seconds, fractions allowed, microsecond resolution.
///
/// One pass over the bytes (a config may hold 100,000 of these): the whole
/// seconds, then after a `.` up to six digits of fraction (more are read
/// and dropped). At most `u32::MAX` seconds.
pub fn timer(word: &str) -> Option<Timer> {
    let bytes = word.as_bytes();
    let dot = bytes.iter().position(|&b| b == b'.');
    let (whole, frac) = match dot {
        Some(i) => (&bytes[..i], &bytes[i + 1..]),
        None => (bytes, &[][..]),
    };
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    let mut secs: u64 = 0;
    for &b in whole {
        if !b.is_ascii_digit() {
            return None;
        }
        secs = secs * 10 + u64::from(b - b'0');
        if secs > u64::from(u32::MAX) {
            return None;
        }
    }
    let mut micros = 0u32;
    for (i, &b) in frac.iter().enumerate() {
        if !b.is_ascii_digit() {
            return None;
        }
        if i < 6 {
            micros += u32::from(b - b'0') * 10u32.pow(5 - i as u32);
        }
    }
    Some(Timer::from_micros(secs * 1_000_000 + u64::from(micros)))
}

/// A `<BOOL>`: on|off|true|false|yes|no.
pub fn boolean(word: &str) -> Option<bool> {
    match word.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" => Some(true),
        "off" | "false" | "no" => Some(false),
        _ => None,
    }
}

/// An IPv4 or IPv6 address.
///
/// Plain dotted quads, nearly every address of a config, are read by
/// [`dotted_quad`]; anything else goes to the standard parser, which accepts
/// the same quads, so the fast path changes no answer.
pub fn ip(word: &str) -> Option<IpAddr> {
    match dotted_quad(word.as_bytes()) {
        Some(a) => Some(IpAddr::V4(a)),
        None => word.parse().ok(),
    }
}

/// `A.B.C.D`, each part 0-255 in one to three decimal digits and no
/// leading zero: a subset of what `Ipv4Addr::from_str` accepts, read in one
/// pass. `None` means "not this simple form", not "not an address".
fn dotted_quad(bytes: &[u8]) -> Option<Ipv4Addr> {
    let (a, rest) = octet(bytes)?;
    let (b, rest) = octet(rest.strip_prefix(b".")?)?;
    let (c, rest) = octet(rest.strip_prefix(b".")?)?;
    let (d, rest) = octet(rest.strip_prefix(b".")?)?;
    rest.is_empty().then_some(Ipv4Addr::new(a, b, c, d))
}

/// The 0-255 of one to three digits (no leading zero) at the start of
/// `bytes`, and what follows it.
#[inline(always)]
fn octet(bytes: &[u8]) -> Option<(u8, &[u8])> {
    let digit = |i: usize| {
        bytes
            .get(i)
            .map(|b| b.wrapping_sub(b'0'))
            .filter(|&d| d < 10)
    };
    let first = digit(0)?;
    let Some(second) = digit(1) else {
        return Some((first, &bytes[1..]));
    };
    if first == 0 {
        return None;
    }
    let Some(third) = digit(2) else {
        return Some((first * 10 + second, &bytes[2..]));
    };
    let v = u32::from(first) * 100 + u32::from(second) * 10 + u32::from(third);
    Some((u8::try_from(v).ok()?, &bytes[3..]))
}

/// An address range of a `virtual_server_group`: `A.B.C.D`, `A.B.C.D-E`,
/// `A.B.C.D-A.B.C.E`, `A.B.C.D/NN` (and IPv6 forms, the range on the last
/// group in hex). Returns (first, last).
pub fn ip_range(word: &str) -> Result<(IpAddr, IpAddr), String> {
    if let Some((addr, bits)) = word.split_once('/') {
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{addr}` is not an IP address"))?;
        let bits: u32 = uint(bits).ok_or_else(|| format!("`{bits}` is not a prefix length"))?;
        return match addr {
            IpAddr::V4(a) if bits <= 32 => {
                let mask = if bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - bits)
                };
                let first = u32::from(a) & mask;
                Ok((
                    Ipv4Addr::from(first).into(),
                    Ipv4Addr::from(first | !mask).into(),
                ))
            }
            IpAddr::V6(a) if bits <= 128 => {
                let mask = if bits == 0 {
                    0
                } else {
                    u128::MAX << (128 - bits)
                };
                let first = u128::from(a) & mask;
                Ok((
                    Ipv6Addr::from(first).into(),
                    Ipv6Addr::from(first | !mask).into(),
                ))
            }
            _ => Err(format!("prefix length {bits} is too long")),
        };
    }
    let Some((first, end)) = word.split_once('-') else {
        let a = ip(word).ok_or_else(|| format!("`{word}` is not an IP address"))?;
        return Ok((a, a));
    };
    let first: IpAddr = first
        .parse()
        .map_err(|_| format!("`{first}` is not an IP address"))?;
    let last = if let Ok(full) = end.parse::<IpAddr>() {
        full
    } else {
        match first {
            IpAddr::V4(a) => {
                let v: u8 = uint(end).ok_or_else(|| format!("range end `{end}` is not 0-255"))?;
                let mut o = a.octets();
                o[3] = v;
                Ipv4Addr::from(o).into()
            }
            IpAddr::V6(a) => {
                let v = u16::from_str_radix(end, 16)
                    .map_err(|_| format!("range end `{end}` is not a hex group"))?;
                let mut s = a.segments();
                s[7] = v;
                Ipv6Addr::from(s).into()
            }
        }
    };
    let ordered = match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => a <= b,
        (IpAddr::V6(a), IpAddr::V6(b)) => a <= b,
        _ => return Err("range mixes IPv4 and IPv6".to_owned()),
    };
    if !ordered {
        return Err(format!("range `{word}` ends before it starts"));
    }
    Ok((first, last))
}

/// A `status_code` item: `200` or `200-299` (100..=999).
pub fn status_range(word: &str) -> Option<(u16, u16)> {
    let code = |i| map_res(digit1, str::parse::<u16>)(i);
    let parsed: IResult<&str, (u16, Option<u16>)> =
        all_consuming(pair(code, opt(preceded(char('-'), code))))(word);
    let (_, (a, b)) = parsed.ok()?;
    let b = b.unwrap_or(a);
    ((100..=599).contains(&a) && (100..=599).contains(&b) && a <= b).then_some((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path of [`ip`] must agree with the standard parser on every
    /// input, accepted or not.
    #[test]
    fn ip_agrees_with_std() {
        let words = [
            "10.128.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "256.1.1.1",
            "1.2.3.256",
            "01.2.3.4",
            "1.2.3.04",
            "1.2.3.0",
            "0.0.0.00",
            "1.2.3",
            "1.2.3.4.",
            ".1.2.3.4",
            "1..2.3",
            "1.2.3.4.5",
            "1234.1.1.1",
            "1.2.3.4 ",
            " 1.2.3.4",
            "1.2.3.a",
            "",
            ".",
            "...",
            "::1",
            "::ffff:1.2.3.4",
            "fe80::1",
            "1.2.3.-4",
            "+1.2.3.4",
            "999.999.999.999",
            "100.200.250.199",
            "1.2.3.4/24",
            "1.2.3.",
            "1.2.3.4x",
            "a.b.c.d",
            "1.2..3.4",
        ];
        for w in words {
            assert_eq!(ip(w), w.parse::<IpAddr>().ok(), "{w:?}");
        }
        for w in ["10.128.0.1", "0.0.0.0", "255.255.255.255", "192.168.10.100"] {
            assert!(
                dotted_quad(w.as_bytes()).is_some(),
                "{w:?} takes the fast path"
            );
        }
        for n in 0..10_000u32 {
            for part in [format!("{n}"), format!("{n:02}"), format!("{n:03}")] {
                for w in [format!("1.2.3.{part}"), format!("{part}.2.3.4")] {
                    assert_eq!(ip(&w), w.parse::<IpAddr>().ok(), "{w:?}");
                }
            }
        }
        for a in [0u32, 1, 9, 10, 99, 100, 199, 200, 249, 250, 255, 256, 999] {
            let w = format!("{a}.{a}.{a}.{a}");
            assert_eq!(ip(&w), w.parse::<IpAddr>().ok(), "{w:?}");
        }
    }

    /// [`uint`] answers as the standard parser does on digit strings.
    #[test]
    fn uint_agrees_with_std() {
        let words = [
            "0",
            "80",
            "00080",
            "65535",
            "65536",
            "255",
            "256",
            "4294967295",
            "4294967296",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999999",
            "",
            "+1",
            "-1",
            "1 ",
            "1a",
            "2147483647",
            "2147483648",
        ];
        for w in words {
            agrees::<u8>(w);
            agrees::<u16>(w);
            agrees::<u32>(w);
            agrees::<u64>(w);
            agrees::<i32>(w);
        }
    }

    /// `uint::<T>(w)` is what `w.parse::<T>()` says, for digit strings only.
    fn agrees<T>(w: &str)
    where
        T: TryFrom<u64> + std::str::FromStr + PartialEq + std::fmt::Debug,
    {
        let digits = !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit());
        let std = w.parse::<T>().ok().filter(|_| digits);
        assert_eq!(uint::<T>(w), std, "{w:?} as {}", std::any::type_name::<T>());
    }

    #[test]
    fn timer_reads_seconds_and_fractions() {
        use std::time::Duration;
        let timer = |w| timer(w).map(Timer::duration);
        assert_eq!(timer("5"), Some(Duration::from_secs(5)));
        assert_eq!(timer("2.5"), Some(Duration::from_millis(2500)));
        assert_eq!(timer(".25"), Some(Duration::from_millis(250)));
        assert_eq!(timer("3."), Some(Duration::from_secs(3)));
        assert_eq!(timer("0.0000019"), Some(Duration::from_micros(1)));
        assert_eq!(
            timer("4294967295"),
            Some(Duration::from_secs(4_294_967_295))
        );
        for bad in [
            "",
            ".",
            "4294967296",
            "1.2.3",
            "1e3",
            "-1",
            "1.-5",
            "x",
            "99999999999999999999999",
        ] {
            assert_eq!(timer(bad), None, "{bad:?}");
        }
    }
}
