//! Which raw source attributes the mapping reads, so a run (and the source
//! cache) carries only those instead of whole vendor profiles.

use std::collections::BTreeSet;

use crate::config::MappingConfig;
use crate::model::Directory;

/// The raw attribute keys (`attributes.<key>` in a template) the mapping's
/// overrides refer to; empty with the default mapping.
pub fn used_attributes(mapping: &MappingConfig) -> BTreeSet<String> {
    [
        &mapping.user_name,
        &mapping.given_name,
        &mapping.family_name,
        &mapping.display_name,
        &mapping.email,
        &mapping.external_id,
    ]
    .into_iter()
    .flatten()
    .flat_map(|template| template.fields())
    .filter_map(|field| field.strip_prefix("attributes."))
    .map(str::to_string)
    .collect()
}

/// Drops every raw attribute not in `used`: mapping reads nothing else, and
/// a vendor profile is most of a user's size.
pub fn keep_used_attributes(directory: &mut Directory, used: &BTreeSet<String>) {
    for user in &mut directory.users {
        if used.is_empty() {
            user.attributes.clear();
        } else {
            user.attributes.retain(|key, _| used.contains(key));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::Template;
    use crate::model::SourceUser;

    #[test]
    fn only_the_attributes_the_mapping_refers_to_are_kept() {
        let mapping = MappingConfig {
            display_name: Some(
                Template::parse("{given_name} ({attributes.profile.costCenter})").unwrap(),
            ),
            ..MappingConfig::default()
        };
        let used = used_attributes(&mapping);
        assert_eq!(used.iter().collect::<Vec<_>>(), ["profile.costCenter"]);
        let user = SourceUser {
            id: "00u1".into(),
            attributes: [
                ("profile.costCenter".to_string(), "42".to_string()),
                ("profile.mobilePhone".to_string(), "555".to_string()),
            ]
            .into(),
            ..SourceUser::default()
        };
        let mut directory = Directory {
            users: vec![user],
            ..Directory::default()
        };
        keep_used_attributes(&mut directory, &used);
        assert_eq!(
            directory.users[0].attributes.keys().collect::<Vec<_>>(),
            ["profile.costCenter"]
        );
        assert!(used_attributes(&MappingConfig::default()).is_empty());
        keep_used_attributes(&mut directory, &BTreeSet::new());
        assert!(directory.users[0].attributes.is_empty());
    }
}
