//! The stored form of one user row (schema 2): what a user costs on disk.
//!
//! Every acknowledged user is one row, written while the apply runs and read
//! back on every load, so its size is paid in both places. Most users repeat
//! themselves: the external id is the row's key, the userName is the email,
//! the display name is "given family", and Penvio's id is a UUID. The row
//! says which of those hold in a flags byte and omits the repeated text,
//! which halves a typical row (~135 → ~60 bytes) against the field-by-field
//! postcard record of schema 1.
//!
//! Layout: flags, then `deactivated_at` (8 bytes, little-endian) when
//! flagged, then the Penvio id (16 bytes when it is a lowercase UUID, else
//! text), email, userName (unless it is the email), given name, family name,
//! display name (unless derived), external id (unless it is the key). Text is
//! a LEB128 length and UTF-8 bytes.

use crate::snapshot::StoredUser;

const ACTIVE: u8 = 1;
const DEACTIVATED_AT: u8 = 1 << 1;
const UUID_ID: u8 = 1 << 2;
const USER_NAME_IS_EMAIL: u8 = 1 << 3;
const EXTERNAL_ID_IS_KEY: u8 = 1 << 4;
const DISPLAY_NAME_DERIVED: u8 = 1 << 5;
const KNOWN_FLAGS: u8 = (1 << 6) - 1;

/// Positions of the hyphens in a canonical UUID.
const UUID_HYPHENS: [usize; 4] = [8, 13, 18, 23];
const UUID_TEXT_LEN: usize = 36;

/// Appends the row for the user stored under `source_id` to `out`.
pub(super) fn encode(source_id: &str, user: &StoredUser, out: &mut Vec<u8>) {
    let [
        penvio_id,
        user_name,
        given,
        family,
        display,
        email,
        external_id,
    ] = user.fields();
    let uuid = uuid_bytes(penvio_id);
    let derived = is_derived_display_name(display, given, family);
    let mut flags = 0;
    for (set, flag) in [
        (user.active(), ACTIVE),
        (user.deactivated_at().is_some(), DEACTIVATED_AT),
        (uuid.is_some(), UUID_ID),
        (user_name == email, USER_NAME_IS_EMAIL),
        (external_id == source_id, EXTERNAL_ID_IS_KEY),
        (derived, DISPLAY_NAME_DERIVED),
    ] {
        if set {
            flags |= flag;
        }
    }
    out.push(flags);
    if let Some(at) = user.deactivated_at() {
        out.extend_from_slice(&at.to_le_bytes());
    }
    match uuid {
        Some(bytes) => out.extend_from_slice(&bytes),
        None => push_text(out, penvio_id),
    }
    push_text(out, email);
    if flags & USER_NAME_IS_EMAIL == 0 {
        push_text(out, user_name);
    }
    push_text(out, given);
    push_text(out, family);
    if !derived {
        push_text(out, display);
    }
    if flags & EXTERNAL_ID_IS_KEY == 0 {
        push_text(out, external_id);
    }
}

/// Reads a row written by [`encode`] for `source_id`; the error says what is
/// wrong with it.
pub(super) fn decode(source_id: &str, row: &[u8]) -> Result<StoredUser, String> {
    let mut reader = Reader { row, at: 0 };
    let flags = reader.byte()?;
    if flags & !KNOWN_FLAGS != 0 {
        return Err(format!("unknown flags {flags:#04x}"));
    }
    let deactivated_at = match flags & DEACTIVATED_AT {
        0 => None,
        _ => Some(i64::from_le_bytes(reader.array()?)),
    };
    let mut uuid_text = [0u8; UUID_TEXT_LEN];
    let penvio_id = match flags & UUID_ID {
        0 => reader.text()?,
        _ => format_uuid(&reader.array()?, &mut uuid_text),
    };
    let email = reader.text()?;
    let user_name = match flags & USER_NAME_IS_EMAIL {
        0 => reader.text()?,
        _ => email,
    };
    let given = reader.text()?;
    let family = reader.text()?;
    let display = match flags & DISPLAY_NAME_DERIVED {
        0 => Some(reader.text()?),
        _ => None,
    };
    let external_id = match flags & EXTERNAL_ID_IS_KEY {
        0 => reader.text()?,
        _ => source_id.as_bytes(),
    };
    if reader.at != row.len() {
        return Err(format!("{} bytes left over", row.len() - reader.at));
    }
    let display_parts: &[&[u8]] = match display {
        Some(display) => &[display],
        None if family.is_empty() => &[given],
        None if given.is_empty() => &[family],
        None => &[given, b" ", family],
    };
    // The text is checked as UTF-8 once, whole, by the packer.
    StoredUser::pack_row_parts(
        [
            &[penvio_id],
            &[user_name],
            &[given],
            &[family],
            display_parts,
            &[email],
            &[external_id],
        ],
        flags & ACTIVE != 0,
        deactivated_at,
    )
}

/// Whether `display` is what the row can rebuild from the names: "given
/// family", or the one of them that is not empty.
fn is_derived_display_name(display: &str, given: &str, family: &str) -> bool {
    match (given.is_empty(), family.is_empty()) {
        (true, true) => false,
        (false, true) => display == given,
        (true, false) => display == family,
        (false, false) => {
            display.len() == given.len() + 1 + family.len()
                && display.starts_with(given)
                && display.ends_with(family)
                && display.as_bytes()[given.len()] == b' '
        }
    }
}

/// The 16 bytes of a UUID in canonical lowercase text, or `None` for any
/// other id (which is then stored as text, so it round-trips exactly).
fn uuid_bytes(id: &str) -> Option<[u8; 16]> {
    let text = id.as_bytes();
    if text.len() != UUID_TEXT_LEN || UUID_HYPHENS.iter().any(|&i| text[i] != b'-') {
        return None;
    }
    let mut bytes = [0u8; 16];
    let mut digits = text.iter().filter(|&&c| c != b'-');
    for byte in &mut bytes {
        let high = lower_hex_value(*digits.next()?)?;
        let low = lower_hex_value(*digits.next()?)?;
        *byte = high << 4 | low;
    }
    Some(bytes)
}

fn lower_hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

fn format_uuid<'a>(bytes: &[u8; 16], text: &'a mut [u8; UUID_TEXT_LEN]) -> &'a [u8] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut at = 0;
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            text[at] = b'-';
            at += 1;
        }
        text[at] = HEX[usize::from(byte >> 4)];
        text[at + 1] = HEX[usize::from(byte & 0xf)];
        at += 2;
    }
    text
}

fn push_text(out: &mut Vec<u8>, text: &str) {
    // Field lengths are capped far below 4 GiB by mapping; saturating only
    // matters for a record that cannot come from an IdP.
    let mut len = u32::try_from(text.len()).unwrap_or(u32::MAX);
    while len >= 0x80 {
        out.push((len as u8 & 0x7f) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
    out.extend_from_slice(text.as_bytes());
}

struct Reader<'a> {
    row: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, String> {
        let byte = *self.row.get(self.at).ok_or("the row ends early")?;
        self.at += 1;
        Ok(byte)
    }

    fn bytes(&mut self, len: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(len).ok_or("length overflows")?;
        let bytes = self.row.get(self.at..end).ok_or("the row ends early")?;
        self.at = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let bytes = self.bytes(N)?;
        let mut array = [0u8; N];
        array.copy_from_slice(bytes);
        Ok(array)
    }

    /// A length-prefixed text field, not yet checked as UTF-8.
    fn text(&mut self) -> Result<&'a [u8], String> {
        let mut len: u32 = 0;
        for shift in (0..35).step_by(7) {
            let byte = self.byte()?;
            len |= u32::from(byte & 0x7f)
                .checked_shl(shift)
                .ok_or("length overflows")?;
            if byte & 0x80 == 0 {
                return self.bytes(len as usize);
            }
        }
        Err("length overflows".into())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::UserAttributes;

    fn user(penvio_id: &str, edit: impl FnOnce(&mut UserAttributes)) -> StoredUser {
        let mut attributes = crate::snapshot::stored_user::tests::record().attributes;
        edit(&mut attributes);
        StoredUser::new(penvio_id, &attributes, None)
    }

    fn round_trip(source_id: &str, user: &StoredUser) -> Vec<u8> {
        let mut row = Vec::new();
        encode(source_id, user, &mut row);
        assert_eq!(&decode(source_id, &row).unwrap(), user, "{row:?}");
        row
    }

    #[test]
    fn a_typical_user_shrinks_to_the_text_it_does_not_repeat() {
        let typical = user("2819c223-7f76-453a-919d-413861904646", |_| {});
        let row = round_trip("00u1", &typical);
        // flags + UUID + email + given + family, nothing else.
        assert_eq!(row.len(), 1 + 16 + 16 + 4 + 9);
        let schema_one = postcard::to_stdvec(&typical).unwrap();
        assert!(
            row.len() * 2 < schema_one.len(),
            "{} vs {}",
            row.len(),
            schema_one.len()
        );
    }

    #[test]
    fn every_field_round_trips_when_nothing_repeats() {
        let cases = [
            user("2819C223-7F76-453A-919D-413861904646", |_| {}),
            user("2819c223-7f76-453a-919d-41386190464", |_| {}),
            user("2819c223+7f76-453a-919d-413861904646", |_| {}),
            user("2819c223-7f76-453a-919d-41386190464g", |_| {}),
            user("", |a| *a = UserAttributes::default()),
            user("p-1", |a| a.user_name = "ada".into()),
            user("p-1", |a| a.external_id = "00u2".into()),
            user("p-1", |a| a.display_name = "Countess of Lovelace".into()),
            user("p-1", |a| a.display_name = "Ada  Lovelace".into()),
            user("p-1", |a| a.display_name = "Ada".into()),
            user("p-1", |a| a.family_name.clear()),
            user("p-1", |a| {
                a.family_name.clear();
                a.display_name = "Ada".into();
            }),
            user("p-1", |a| {
                a.given_name.clear();
                a.display_name = "Lovelace".into();
            }),
            user("p-1", |a| {
                a.given_name.clear();
                a.family_name.clear();
                a.display_name.clear();
            }),
            user("p-1", |a| a.given_name = "Ada é".repeat(100)),
            user("p-1", |a| a.active = false),
        ];
        for case in &cases {
            round_trip("00u1", case);
        }
        let deactivated = StoredUser::new(
            "p-1",
            &user("p-1", |a| a.active = false).attributes(),
            Some(-1_780_000_000),
        );
        round_trip("00u1", &deactivated);
    }

    #[test]
    fn a_damaged_row_is_an_error_not_a_wrong_user() {
        let mut row = Vec::new();
        encode(
            "00u1",
            &user("p-1", |a| a.user_name = "ada".into()),
            &mut row,
        );
        for cut in 0..row.len() {
            assert!(decode("00u1", &row[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = row.clone();
        longer.push(0);
        assert!(decode("00u1", &longer).unwrap_err().contains("left over"));
        let mut flags = row.clone();
        flags[0] |= 0x80;
        assert!(
            decode("00u1", &flags)
                .unwrap_err()
                .contains("unknown flags")
        );
        let mut not_utf8 = row;
        let last = not_utf8.len() - 1;
        not_utf8[last] = 0xff;
        assert!(decode("00u1", &not_utf8).unwrap_err().contains("UTF-8"));
        assert!(decode("00u1", &[0, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]).is_err());
        // "é" split across given and family name: valid UTF-8 as a whole,
        // but no field may end inside a character.
        let split = [0, 1, b'p', 1, b'e', 1, b'g', 1, 0xc3, 1, 0xa9, 0, 0];
        let error = decode("00u1", &split).unwrap_err();
        assert!(error.contains("inside a character"), "{error}");
        let mut whole = split;
        (whole[8], whole[10]) = (b'a', b'b');
        assert!(decode("00u1", &whole).is_ok());
    }
}
