//! An in-memory Penvio for the executor's unit tests: holds users and teams,
//! enforces unique userNames (409), answers 404 for what it does not hold,
//! and can be told to fail a call, to apply a write but lose the answer, or
//! to stop the run after some writes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::provisioner::{FoundTeam, FoundUser, Provisioner, TargetError, TargetFuture};
use crate::model::UserAttributes;
use crate::plan::AttributeChange;

/// The writes a test can fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// `create_user`.
    CreateUser,
    /// `update_user`.
    UpdateUser,
    /// `deactivate_user`.
    DeactivateUser,
    /// `create_team`.
    CreateTeam,
    /// `add_members`.
    AddMembers,
}

/// What an injected fault does.
#[derive(Debug, Clone)]
enum Fault {
    /// Nothing is applied; the call fails with this error.
    Fail(TargetError),
    /// The write is applied, but the answer is lost (outcome unknown).
    LoseAnswer,
}

/// A team the memory target holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryTeam {
    /// displayName.
    pub name: String,
    /// externalId.
    pub external_id: String,
    /// Member user ids.
    pub members: BTreeSet<String>,
}

#[derive(Default)]
struct Held {
    users: BTreeMap<String, UserAttributes>,
    teams: BTreeMap<String, MemoryTeam>,
    next_id: u64,
    faults: Vec<(Call, Fault)>,
    writes: usize,
    stop_after: Option<(usize, CancellationToken)>,
}

impl Held {
    fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{}", self.next_id)
    }
}

/// The in-memory target; clones share one store.
#[derive(Clone, Default)]
pub struct MemoryTarget {
    held: Arc<Mutex<Held>>,
}

fn not_found(what: &str, id: &str) -> TargetError {
    TargetError::NotFound {
        message: format!("{what} {id}: not found (404)"),
    }
}

impl MemoryTarget {
    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Seeds a user; returns its id.
    pub fn add_user(&self, attributes: &UserAttributes) -> String {
        let mut held = self.lock();
        let id = held.new_id("u");
        held.users.insert(id.clone(), attributes.clone());
        id
    }

    /// Seeds a team; returns its id.
    pub fn add_team(&self, name: &str, external_id: &str, members: &[&str]) -> String {
        let mut held = self.lock();
        let id = held.new_id("t");
        let team = MemoryTeam {
            name: name.into(),
            external_id: external_id.into(),
            members: members.iter().map(|m| m.to_string()).collect(),
        };
        held.teams.insert(id.clone(), team);
        id
    }

    /// The next `call` fails with `error`; nothing is applied.
    pub fn fail_next(&self, call: Call, error: TargetError) {
        self.lock().faults.push((call, Fault::Fail(error)));
    }

    /// The next `call` is applied but its answer is lost.
    pub fn lose_next_answer(&self, call: Call) {
        self.lock().faults.push((call, Fault::LoseAnswer));
    }

    /// Cancels `token` once `writes` writes were applied (a shutdown or a
    /// stop in the middle of a plan).
    pub fn stop_after(&self, writes: usize, token: CancellationToken) {
        self.lock().stop_after = Some((writes, token));
    }

    /// The users held, by id.
    pub fn users(&self) -> BTreeMap<String, UserAttributes> {
        self.lock().users.clone()
    }

    /// The teams held, by id.
    pub fn teams(&self) -> BTreeMap<String, MemoryTeam> {
        self.lock().teams.clone()
    }

    /// Writes applied so far.
    pub fn writes(&self) -> usize {
        self.lock().writes
    }

    /// Runs one write under the injected faults and the stop hook.
    fn write<T>(
        &self,
        call: Option<Call>,
        apply: impl FnOnce(&mut Held) -> Result<T, TargetError>,
    ) -> Result<T, TargetError> {
        let mut held = self.lock();
        let fault = call.and_then(|call| {
            let index = held.faults.iter().position(|(c, _)| *c == call)?;
            Some(held.faults.remove(index).1)
        });
        let result = match fault {
            Some(Fault::Fail(error)) => return Err(error),
            Some(Fault::LoseAnswer) => apply(&mut held).and(Err(TargetError::OutcomeUnknown {
                message: "no answer (connection lost after the request was sent)".into(),
            })),
            None => apply(&mut held),
        };
        held.writes += 1;
        if let Some((after, token)) = &held.stop_after
            && held.writes >= *after
        {
            token.cancel();
        }
        result
    }

    fn patch_user(
        &self,
        call: Call,
        id: &str,
        changes: &[AttributeChange],
        attributes: &UserAttributes,
    ) -> Result<(), TargetError> {
        self.write(Some(call), |held| {
            let user = held
                .users
                .get_mut(id)
                .ok_or_else(|| not_found("PATCH /Users", id))?;
            for change in changes {
                copy_attribute(user, attributes, &change.path);
            }
            Ok(())
        })
    }

    fn patch_team(
        &self,
        call: Option<Call>,
        id: &str,
        edit: impl FnOnce(&mut MemoryTeam),
    ) -> Result<(), TargetError> {
        self.write(call, |held| {
            let team = held
                .teams
                .get_mut(id)
                .ok_or_else(|| not_found("PATCH /Groups", id))?;
            edit(team);
            Ok(())
        })
    }
}

/// Sets one SCIM attribute of `user` to its value in `from`.
fn copy_attribute(user: &mut UserAttributes, from: &UserAttributes, path: &str) {
    match path {
        "userName" => user.user_name.clone_from(&from.user_name),
        "name.givenName" => user.given_name.clone_from(&from.given_name),
        "name.familyName" => user.family_name.clone_from(&from.family_name),
        "displayName" => user.display_name.clone_from(&from.display_name),
        "emails" => user.email.clone_from(&from.email),
        "externalId" => user.external_id.clone_from(&from.external_id),
        "active" => user.active = from.active,
        _ => {}
    }
}

impl Provisioner for MemoryTarget {
    fn create_user<'a>(&'a self, attributes: &'a UserAttributes) -> TargetFuture<'a, String> {
        Box::pin(async move {
            self.write(Some(Call::CreateUser), |held| {
                let wanted = attributes.user_name.to_lowercase();
                if held
                    .users
                    .values()
                    .any(|u| u.user_name.to_lowercase() == wanted)
                {
                    return Err(TargetError::Conflict {
                        message: "POST /Users: conflict (409): userName is taken".into(),
                    });
                }
                let id = held.new_id("u");
                held.users.insert(id.clone(), attributes.clone());
                Ok(id)
            })
        })
    }

    fn update_user<'a>(
        &'a self,
        id: &'a str,
        changes: &'a [AttributeChange],
        attributes: &'a UserAttributes,
    ) -> TargetFuture<'a, ()> {
        Box::pin(async move { self.patch_user(Call::UpdateUser, id, changes, attributes) })
    }

    fn deactivate_user<'a>(
        &'a self,
        id: &'a str,
        changes: &'a [AttributeChange],
        attributes: &'a UserAttributes,
    ) -> TargetFuture<'a, ()> {
        Box::pin(async move { self.patch_user(Call::DeactivateUser, id, changes, attributes) })
    }

    fn delete_user<'a>(&'a self, id: &'a str) -> TargetFuture<'a, bool> {
        Box::pin(async move {
            self.write(None, |held| {
                for team in held.teams.values_mut() {
                    team.members.remove(id);
                }
                Ok(held.users.remove(id).is_some())
            })
        })
    }

    fn find_user_by_user_name<'a>(
        &'a self,
        user_name: &'a str,
    ) -> TargetFuture<'a, Option<FoundUser>> {
        Box::pin(async move {
            let wanted = user_name.to_lowercase();
            Ok(self.lock().users.iter().find_map(|(id, user)| {
                (user.user_name.to_lowercase() == wanted).then(|| FoundUser {
                    id: id.clone(),
                    attributes: user.clone(),
                })
            }))
        })
    }

    fn find_user_by_external_id<'a>(
        &'a self,
        external_id: &'a str,
    ) -> TargetFuture<'a, Option<FoundUser>> {
        Box::pin(async move {
            Ok(self.lock().users.iter().find_map(|(id, user)| {
                (user.external_id == external_id).then(|| FoundUser {
                    id: id.clone(),
                    attributes: user.clone(),
                })
            }))
        })
    }

    fn create_team<'a>(
        &'a self,
        name: &'a str,
        external_id: &'a str,
        member_ids: &'a [String],
    ) -> TargetFuture<'a, String> {
        Box::pin(async move {
            self.write(Some(Call::CreateTeam), |held| {
                let id = held.new_id("t");
                let team = MemoryTeam {
                    name: name.into(),
                    external_id: external_id.into(),
                    members: member_ids.iter().cloned().collect(),
                };
                held.teams.insert(id.clone(), team);
                Ok(id)
            })
        })
    }

    fn rename_team<'a>(&'a self, id: &'a str, name: &'a str) -> TargetFuture<'a, ()> {
        Box::pin(async move { self.patch_team(None, id, |team| team.name = name.into()) })
    }

    fn delete_team<'a>(&'a self, id: &'a str) -> TargetFuture<'a, bool> {
        Box::pin(async move { self.write(None, |held| Ok(held.teams.remove(id).is_some())) })
    }

    fn add_members<'a>(
        &'a self,
        team_id: &'a str,
        member_ids: &'a [String],
    ) -> TargetFuture<'a, ()> {
        Box::pin(async move {
            self.patch_team(Some(Call::AddMembers), team_id, |team| {
                team.members.extend(member_ids.iter().cloned());
            })
        })
    }

    fn remove_members<'a>(
        &'a self,
        team_id: &'a str,
        member_ids: &'a [String],
    ) -> TargetFuture<'a, ()> {
        Box::pin(async move {
            self.patch_team(None, team_id, |team| {
                for id in member_ids {
                    team.members.remove(id);
                }
            })
        })
    }

    fn find_teams_by_external_id<'a>(
        &'a self,
        external_id: &'a str,
    ) -> TargetFuture<'a, Vec<FoundTeam>> {
        Box::pin(async move {
            Ok(self
                .lock()
                .teams
                .iter()
                .filter(|(_, team)| team.external_id == external_id)
                .map(|(id, team)| FoundTeam {
                    id: id.clone(),
                    name: team.name.clone(),
                })
                .collect())
        })
    }
}
