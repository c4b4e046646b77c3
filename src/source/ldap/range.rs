//! Active Directory range retrieval (MS-ADTS 3.1.1.3.1.3.3): a group with
//! more members than MaxValRange (1500) returns them under
//! `member;range=0-1499`, and the rest must be asked for with
//! `member;range=1500-*` until a chunk ends in `*`.

use super::decode::Entry;

/// One chunk of a ranged attribute as the server named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeChunk {
    /// The attribute (`member`), lower-cased.
    pub attribute: String,
    /// First value index of the chunk.
    pub low: u64,
    /// Last value index, `None` for `*` (the final chunk).
    pub high: Option<u64>,
}

impl RangeChunk {
    /// The attribute name that asks for the next chunk (`member;range=1500-*`),
    /// `None` after the final chunk.
    pub fn next_request(&self) -> Option<String> {
        let next = self.high?.checked_add(1)?;
        Some(format!("{};range={next}-*", self.attribute))
    }
}

/// Parses `member;range=0-1499` (case-insensitive; other options such as
/// `;binary` may come first). `None` for a name without a valid range.
pub fn parse_range_attribute(name: &str) -> Option<RangeChunk> {
    let lower = name.to_ascii_lowercase();
    let mut parts = lower.split(';');
    let attribute = parts.next().filter(|a| !a.is_empty())?.to_owned();
    let range = parts.find_map(|option| option.strip_prefix("range="))?;
    let (low, high) = range.split_once('-')?;
    let low: u64 = low.parse().ok()?;
    let high = if high == "*" {
        None
    } else {
        let high: u64 = high.parse().ok()?;
        if high < low {
            return None;
        }
        Some(high)
    };
    Some(RangeChunk {
        attribute,
        low,
        high,
    })
}

/// The ranged chunk of `attribute` an entry carries, if any, with its
/// values.
pub fn ranged_values<'e>(entry: &'e Entry, attribute: &str) -> Option<(RangeChunk, &'e [Vec<u8>])> {
    entry.attrs.iter().find_map(|(name, values)| {
        let chunk = parse_range_attribute(name)?;
        (chunk.attribute.eq_ignore_ascii_case(attribute)).then_some((chunk, values.as_slice()))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn range_names_parse() {
        let first = parse_range_attribute("member;range=0-1499").unwrap();
        assert_eq!(first.attribute, "member");
        assert_eq!((first.low, first.high), (0, Some(1499)));
        assert_eq!(first.next_request().as_deref(), Some("member;range=1500-*"));
        let last = parse_range_attribute("Member;Range=3000-*").unwrap();
        assert_eq!((last.low, last.high), (3000, None));
        assert_eq!(last.next_request(), None);
        let binary = parse_range_attribute("member;binary;range=10-19").unwrap();
        assert_eq!((binary.low, binary.high), (10, Some(19)));
        for bad in [
            "member",
            "member;range=",
            "member;range=5",
            "member;range=a-b",
            "member;range=9-3",
            ";range=0-1",
            "member;range=-1-4",
        ] {
            assert_eq!(parse_range_attribute(bad), None, "{bad}");
        }
        let overflow = parse_range_attribute(&format!("member;range=0-{}", u64::MAX)).unwrap();
        assert_eq!(overflow.next_request(), None, "no wrap-around");
    }

    #[test]
    fn a_recorded_ranged_group_yields_its_chunk() {
        // The shape AD returns for a 1,501-member group (FACTS §1).
        let entry = Entry::new(
            "CN=Big,DC=corp,DC=example,DC=com",
            &[
                ("cn", b"Big"),
                ("member;range=0-1499", b"CN=u0,DC=corp,DC=example,DC=com"),
                ("member;range=0-1499", b"CN=u1,DC=corp,DC=example,DC=com"),
            ],
        );
        let (chunk, values) = ranged_values(&entry, "member").unwrap();
        assert_eq!(chunk.next_request().as_deref(), Some("member;range=1500-*"));
        assert_eq!(values.len(), 2);
        assert!(ranged_values(&entry, "uniqueMember").is_none());
    }
}
