//! Mapping's case tables.

mod lowercase_hash_tests {
    use crate::mapping::lowercase_hash;

    #[test]
    fn names_equal_after_to_lowercase_hash_alike() {
        for (a, b) in [
            ("Ada@Example.COM", "ada@example.com"),
            ("XΣ@example.com", "xς@example.com"),
            ("ΣA@example.com", "σa@example.com"),
            ("İ@example.com", "i\u{307}@example.com"),
        ] {
            assert_eq!(a.to_lowercase(), b.to_lowercase(), "{a} {b}");
            assert_eq!(lowercase_hash(a), lowercase_hash(b), "{a} {b}");
        }
        assert_ne!(
            lowercase_hash("a@example.com"),
            lowercase_hash("b@example.com")
        );
        // ASCII takes a byte-wise path: it must agree with the general one.
        assert_eq!(lowercase_hash("\u{212A}@x.com"), lowercase_hash("K@x.com"));
        assert_eq!(
            lowercase_hash("Ada@Example.com"),
            lowercase_hash("ada@example.com")
        );
    }
}

#[allow(clippy::unwrap_used, clippy::expect_used)]
mod mapping_tests {
    use crate::config::Template;
    use crate::mapping::*;
    use crate::model::SourceGroup;

    fn user(id: &str, email: Option<&str>, active: bool) -> SourceUser {
        SourceUser {
            id: id.into(),
            email: email.map(Into::into),
            given_name: Some(format!("Given{id}")),
            family_name: Some(format!("Family{id}")),
            display_name: None,
            active,
            attributes: BTreeMap::new(),
        }
    }

    fn group(id: &str, name: &str, members: &[&str]) -> SourceGroup {
        SourceGroup {
            email: None,
            id: id.into(),
            name: name.into(),
            members: members.iter().map(|m| m.to_string()).collect(),
            built_in: false,
        }
    }

    fn all_teams() -> ScopeConfig {
        ScopeConfig {
            user_groups: vec![],
            team_groups: vec![GroupPattern::new("*").unwrap()],
        }
    }

    fn never(_: &str) -> bool {
        false
    }

    #[test]
    fn default_mapping_follows_penvios_table() {
        let mut u = user("00u1", Some("Ada@Example.com"), true);
        u.display_name = None;
        let mapped = map_user(&u, &MappingConfig::default()).unwrap();
        assert_eq!(mapped.user_name, "Ada@Example.com");
        assert_eq!(mapped.email, "Ada@Example.com");
        assert_eq!(mapped.given_name, "Given00u1");
        assert_eq!(mapped.family_name, "Family00u1");
        assert_eq!(mapped.display_name, "Given00u1 Family00u1");
        assert_eq!(mapped.external_id, "00u1");
        assert!(mapped.active);
    }

    #[test]
    fn display_name_falls_back_to_user_name_without_names() {
        let mut u = user("1", Some("x@example.com"), true);
        u.given_name = None;
        u.family_name = None;
        let mapped = map_user(&u, &MappingConfig::default()).unwrap();
        assert_eq!(mapped.display_name, "x@example.com");
    }

    #[test]
    fn overrides_render_templates_over_raw_attributes() {
        let mut u = user("1", Some("x@example.com"), true);
        u.attributes
            .insert("profile.login".into(), "login@example.com".into());
        let mapping = MappingConfig {
            user_name: Some(Template::parse("{attributes.profile.login}").unwrap()),
            display_name: Some(Template::parse("{family_name}, {given_name}").unwrap()),
            ..Default::default()
        };
        let mapped = map_user(&u, &mapping).unwrap();
        assert_eq!(mapped.user_name, "login@example.com");
        assert_eq!(mapped.email, "x@example.com");
        assert_eq!(mapped.display_name, "Family1, Given1");
    }

    #[test]
    fn an_override_referring_to_a_missing_field_skips_the_user() {
        let mapping = MappingConfig {
            display_name: Some(Template::parse("{attributes.title}").unwrap()),
            ..Default::default()
        };
        let err = map_user(&user("1", Some("x@example.com"), true), &mapping).unwrap_err();
        assert!(err.contains("mapping.displayName"), "{err}");
    }

    #[test]
    fn built_in_groups_become_teams_only_when_named_exactly() {
        let mut everyone = group("g0", "Everyone", &["1"]);
        everyone.built_in = true;
        let directory = Directory {
            users: vec![user("1", Some("a@example.com"), true)],
            groups: vec![everyone, group("g1", "Eng", &["1"])],
            skipped: vec![],
        };
        let by_glob = map_directory(&directory, &all_teams(), &MappingConfig::default(), &never);
        assert_eq!(by_glob.desired.teams.keys().collect::<Vec<_>>(), vec!["g1"]);
        let named = ScopeConfig {
            user_groups: vec![],
            team_groups: vec![
                GroupPattern::new("*").unwrap(),
                GroupPattern::new("Everyone").unwrap(),
            ],
        };
        let by_name = map_directory(&directory, &named, &MappingConfig::default(), &never);
        assert_eq!(by_name.desired.teams.len(), 2);
    }

    #[test]
    fn names_lose_control_and_bidi_characters_and_keep_the_rest() {
        let cases = [
            ("Ada\nLovelace", "Ada Lovelace"),
            ("  Ada\t\u{0}  ", "Ada"),
            ("Ada \u{202E}gpj.exe", "Ada gpj.exe"),
            ("\u{2066}x\u{2069}\u{200E}\u{200F}\u{061C}", "x"),
            ("🦀 Ferris", "🦀 Ferris"),
            ("José\u{85}Núñez", "José Núñez"),
            ("\u{202E}", ""),
        ];
        for (raw, expected) in cases {
            assert_eq!(clean_name(raw), expected, "{raw:?}");
        }
    }

    #[test]
    fn over_long_values_are_refused_and_quoted_briefly() {
        let mut u = user("1", Some("a@example.com"), true);
        u.given_name = Some("g".repeat(MAX_NAME_CHARS));
        u.family_name = Some("f".repeat(10));
        let mapped = map_user(&u, &MappingConfig::default()).unwrap();
        assert_eq!(mapped.display_name.chars().count(), MAX_NAME_CHARS);
        u.given_name = Some("g".repeat(MAX_NAME_CHARS + 1));
        let err = map_user(&u, &MappingConfig::default()).unwrap_err();
        assert!(err.starts_with("givenName is 257 characters long"), "{err}");
        assert!(err.len() < 200, "{err}");
        let long = format!("{}@example.com", "a".repeat(MAX_EMAIL_CHARS));
        let err = map_user(&user("1", Some(&long), true), &MappingConfig::default()).unwrap_err();
        assert!(err.contains("userName is 266 characters"), "{err}");
    }

    #[test]
    fn provisioned_users_with_bad_records_keep_their_last_synced_state() {
        let directory = Directory {
            users: vec![
                user("1", Some("bad"), true),
                user("2", Some("new-bad"), true),
            ],
            groups: vec![group("g1", "Eng", &["1", "2"])],
            skipped: vec![],
        };
        let last = UserAttributes {
            user_name: "a@example.com".into(),
            active: true,
            ..Default::default()
        };
        let synced = |id: &str| (id == "1").then(|| last.clone());
        let mapped = map_directory_with(
            &directory,
            &all_teams(),
            &MappingConfig::default(),
            &|id| id == "1",
            &synced,
        );
        assert_eq!(mapped.desired.users.get("1"), Some(&last.clone().into()));
        assert!(!mapped.desired.users.contains_key("2"));
        assert_eq!(mapped.skipped.len(), 2);
        assert!(mapped.skipped[0].reason.contains("stays in Penvio"));
        let members: Vec<&str> = mapped.desired.teams["g1"]
            .members
            .iter()
            .map(String::as_str)
            .collect();
        assert_eq!(members, vec!["1"]);
    }

    #[test]
    fn a_missing_scope_group_keeps_provisioned_users_in_scope() {
        let directory = Directory {
            users: vec![
                user("1", Some("a@example.com"), true),
                user("2", Some("b@example.com"), true),
                user("3", Some("c@example.com"), true),
            ],
            groups: vec![group("g1", "Engineering", &["1"])],
            skipped: vec![],
        };
        let scope = ScopeConfig {
            user_groups: vec!["Engineering".into(), "Sales".into()],
            team_groups: vec![],
        };
        let provisioned = |id: &str| id == "2";
        let mapped = map_directory(&directory, &scope, &MappingConfig::default(), &provisioned);
        let kept: Vec<&str> = mapped.desired.users.keys().map(String::as_str).collect();
        assert_eq!(kept, vec!["1", "2"]);
        assert_eq!(mapped.out_of_scope_users, 1);
    }

    #[test]
    fn bad_records_are_skipped_with_reasons() {
        let cases = [
            (None, "no email"),
            (Some("not-an-email"), "not a valid address"),
            (Some("a b@example.com"), "whitespace"),
            (Some("a@localhost"), "not a valid address"),
        ];
        for (email, expected) in cases {
            let err = map_user(&user("1", email, true), &MappingConfig::default()).unwrap_err();
            assert!(err.contains(expected), "{email:?}: {err}");
        }
    }

    #[test]
    fn one_bad_user_does_not_stop_the_others() {
        let directory = Directory {
            users: vec![
                user("1", None, true),
                user("2", Some("b@example.com"), true),
            ],
            groups: vec![],
            skipped: vec![],
        };
        let mapped = map_directory(&directory, &all_teams(), &MappingConfig::default(), &never);
        assert_eq!(mapped.desired.users.keys().collect::<Vec<_>>(), vec!["2"]);
        assert_eq!(mapped.skipped.len(), 1);
        assert_eq!(mapped.skipped[0].id, "1");
    }

    #[test]
    fn duplicate_emails_keep_the_provisioned_or_only_active_record() {
        let directory = Directory {
            users: vec![
                user("a", Some("dup@example.com"), true),
                user("b", Some("DUP@example.com"), true),
                user("c", Some("two@example.com"), false),
                user("d", Some("two@example.com"), true),
                user("e", Some("three@example.com"), true),
                user("f", Some("three@example.com"), true),
            ],
            groups: vec![],
            skipped: vec![],
        };
        let provisioned = |id: &str| id == "b";
        let mapped = map_directory(
            &directory,
            &all_teams(),
            &MappingConfig::default(),
            &provisioned,
        );
        let kept: Vec<&str> = mapped.desired.users.keys().map(String::as_str).collect();
        assert_eq!(kept, vec!["b", "d"]);
        let skipped: BTreeMap<&str, &str> = mapped
            .skipped
            .iter()
            .map(|s| (s.id.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(skipped.len(), 4);
        assert!(skipped["a"].contains("also used by b"), "{}", skipped["a"]);
        assert!(skipped["e"].contains("also used by f"));
        assert!(skipped["f"].contains("also used by e"));
    }

    #[test]
    fn user_groups_scope_users_and_report_unknown_groups() {
        let directory = Directory {
            users: vec![
                user("1", Some("a@example.com"), true),
                user("2", Some("b@example.com"), true),
            ],
            groups: vec![group("g1", "Engineering", &["1"])],
            skipped: vec![],
        };
        let scope = ScopeConfig {
            user_groups: vec!["Engineering".into(), "Typo".into()],
            team_groups: vec![],
        };
        let mapped = map_directory(&directory, &scope, &MappingConfig::default(), &never);
        assert_eq!(mapped.desired.users.keys().collect::<Vec<_>>(), vec!["1"]);
        assert_eq!(mapped.out_of_scope_users, 1);
        assert_eq!(mapped.unmatched_user_groups, vec!["Typo".to_string()]);
        assert!(mapped.desired.teams.is_empty());
    }

    #[test]
    fn teams_hold_only_active_in_scope_members_and_follow_patterns() {
        let directory = Directory {
            users: vec![
                user("1", Some("a@example.com"), true),
                user("2", Some("b@example.com"), false),
                user("3", None, true),
            ],
            groups: vec![
                group("g1", "eng-platform", &["1", "2", "3", "ghost"]),
                group("g2", "Everyone", &["1"]),
                group("g3", "Design", &[]),
            ],
            skipped: vec![],
        };
        let scope = ScopeConfig {
            user_groups: vec![],
            team_groups: vec![
                GroupPattern::new("eng-*").unwrap(),
                GroupPattern::new("Design").unwrap(),
            ],
        };
        let mapped = map_directory(&directory, &scope, &MappingConfig::default(), &never);
        let teams: Vec<&str> = mapped.desired.teams.keys().map(String::as_str).collect();
        assert_eq!(teams, vec!["g1", "g3"]);
        let members: Vec<&str> = mapped.desired.teams["g1"]
            .members
            .iter()
            .map(String::as_str)
            .collect();
        assert_eq!(members, vec!["1"]);
    }

    #[test]
    fn scope_matches_a_group_by_email_as_well_as_name() {
        let with_email = |id: &str, name: &str, email: &str, members: &[&str]| SourceGroup {
            email: Some(email.into()),
            ..group(id, name, members)
        };
        let directory = Directory {
            users: vec![
                user("1", Some("a@example.com"), true),
                user("2", Some("b@example.com"), true),
            ],
            groups: vec![
                with_email("g1", "Engineering", "eng@example.com", &["1"]),
                with_email("g2", "Sales", "sales@example.com", &["2"]),
                with_email("g3", "Ops", "ops-team@corp.example.com", &["1"]),
            ],
            skipped: vec![],
        };
        // user_groups: an email names its group, case-insensitively.
        let scope = ScopeConfig {
            user_groups: vec!["ENG@example.com".into(), "nobody@example.com".into()],
            team_groups: vec![
                GroupPattern::new("sales@example.com").unwrap(),
                GroupPattern::new("*@corp.example.com").unwrap(),
            ],
        };
        let mapped = map_directory(&directory, &scope, &MappingConfig::default(), &never);
        assert_eq!(mapped.desired.users.keys().collect::<Vec<_>>(), vec!["1"]);
        assert_eq!(mapped.unmatched_user_groups, vec!["nobody@example.com"]);
        // team_groups: an exact email and a glob over emails; Engineering
        // matches neither by name nor by email.
        let teams: Vec<&str> = mapped.desired.teams.keys().map(String::as_str).collect();
        assert_eq!(teams, vec!["g2", "g3"]);
        assert_eq!(
            mapped.desired.teams["g2"].name, "Sales",
            "the name stays the team name"
        );
        // A built-in group is never selected through its email.
        let mut everyone = with_email("g9", "Everyone", "all@example.com", &[]);
        everyone.built_in = true;
        assert!(!selects_team(
            &GroupPattern::new("all@example.com").unwrap(),
            &everyone
        ));
        assert!(selects_team(
            &GroupPattern::new("Everyone").unwrap(),
            &everyone
        ));
    }
}
