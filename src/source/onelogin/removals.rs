//! Removal detection between full reads (see the module above): the ids of
//! all users (`fields=id`: the cheapest complete view the API offers). A
//! user missing from it was deleted; an id listed but unknown (a user whose
//! `updated_at` is older than the cursor, e.g. made visible late) is read by
//! id, so the directory never lags either way.

use std::collections::BTreeSet;

use super::UserSet;
use super::client::OneLoginClient;
use super::proto::id_text;
use crate::source::SourceError;

/// Ids per `user_ids=` read of users the id listing names but the
/// directory lacks (one page's worth, so each read is one request).
const IDS_PER_READ: usize = 100;

/// The ids of every user, or `None` when a listed record has no readable
/// id: then nobody can be called removed, and the caller reads in full.
pub(super) async fn listed_ids(
    client: &OneLoginClient,
) -> Result<Option<BTreeSet<String>>, SourceError> {
    let records = client.list("api/2/users", &[("fields", "id")], "listing user ids");
    Ok(records
        .await?
        .iter()
        .map(|r| id_text(r.get("id")))
        .collect())
}

impl UserSet {
    /// Drops users and skips whose id is not `listed` (deleted in OneLogin)
    /// and returns the listed ids this set does not know yet.
    pub(super) fn keep_listed(&mut self, listed: &BTreeSet<String>) -> Vec<String> {
        self.users.retain(|id, _| listed.contains(id));
        self.skipped.retain(|s| listed.contains(&s.id));
        listed
            .iter()
            .filter(|id| {
                !self.users.contains_key(*id) && !self.skipped.iter().any(|s| s.id == **id)
            })
            .cloned()
            .collect()
    }
}

/// Reads the users named by `ids` (`user_ids=a,b,…`) into `users`.
pub(super) async fn read_by_id(
    client: &OneLoginClient,
    users: &mut UserSet,
    ids: &[String],
    provision_unactivated: bool,
) -> Result<(), SourceError> {
    for chunk in ids.chunks(IDS_PER_READ) {
        let joined = chunk.join(",");
        let ids = [("user_ids", joined.as_str())];
        let records = client.list("api/2/users", &ids, "reading users listed but not yet read");
        users.absorb(records.await?, provision_unactivated);
    }
    Ok(())
}
