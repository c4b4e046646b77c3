//! Counted nouns in text people read: "1 member", "2 members". Reports and
//! plans are read by admins deciding whether to apply them; "add 1 members"
//! reads as a bug and makes them doubt the rest.

/// `n` followed by `noun` (a regular English noun, singular), in the plural
/// unless `n` is 1.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn one_is_singular_and_everything_else_plural() {
        assert_eq!(count(1, "member"), "1 member");
        assert_eq!(count(0, "member"), "0 members");
        assert_eq!(count(2, "record"), "2 records");
    }
}
