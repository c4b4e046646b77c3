//! Reading one connection's snapshot out of the state file.
//!
//! Every run starts here, and for the largest customers it is a million user
//! rows and half a million memberships, so it is the agent's biggest fixed
//! cost. Rows come out of redb sorted by key, which is the maps' order: each
//! table is collected into a sorted Vec and the maps are bulk-built from it
//! (linear) instead of a tree insert per row. Large snapshots are read by
//! three threads (users from both ends of their table, teams on the third)
//! in the same read transaction, so all of them see the same commit.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};

use redb::{ReadOnlyTable, ReadTransaction, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::tables::{ConnectionTables, TeamHeader, db_err, decode};
use super::{StateError, user_row};
use crate::snapshot::{Snapshot, StoredUser, TeamRecord};

/// From this many users, the snapshot is read by three threads. Below it
/// one thread reads it in well under 100 ms, and the extra threads' heaps
/// cost more memory (+15 MiB peak at 100,000 users, B2) than the time is worth.
const PARALLEL_FROM_USERS: u64 = 250_000;

type Users = BTreeMap<String, StoredUser>;
type Teams = BTreeMap<String, TeamRecord>;

/// Reads `connection`'s users, teams, memberships and pending team creates
/// (the generation is the caller's).
pub(super) fn read_snapshot(
    txn: &ReadTransaction,
    connection: &str,
) -> Result<Snapshot, StateError> {
    read_snapshot_with(txn, connection, PARALLEL_FROM_USERS)
}

fn read_snapshot_with(
    txn: &ReadTransaction,
    connection: &str,
    parallel_from_users: u64,
) -> Result<Snapshot, StateError> {
    let tables = ConnectionTables::of(connection);
    let users = open_existing(txn, tables.users())?;
    let teams = open_existing(txn, tables.teams())?;
    let members = open_existing(txn, tables.members())?;
    let user_rows = match &users {
        Some(table) => table.len().map_err(db_err)?,
        None => 0,
    };

    let (users, teams) = if user_rows >= parallel_from_users {
        std::thread::scope(|scope| {
            let spawn = |name: &str| std::thread::Builder::new().name(name.into());
            let teams_reader = spawn("penvio-load-teams")
                .spawn_scoped(scope, || read_teams(teams.as_ref(), members.as_ref()));
            let users = read_users_from_both_ends(connection, users.as_ref(), user_rows, |job| {
                spawn("penvio-load-users").spawn_scoped(scope, job).ok()
            });
            let teams = match teams_reader {
                Ok(handle) => handle.join().unwrap_or_else(|_| Err(panicked(connection))),
                // No thread to be had: read them here instead.
                Err(_) => read_teams(teams.as_ref(), members.as_ref()),
            };
            (users, teams)
        })
    } else {
        (
            read_users(connection, users.as_ref(), user_rows),
            read_teams(teams.as_ref(), members.as_ref()),
        )
    };

    let mut snapshot = Snapshot {
        users: users?,
        teams: teams?,
        ..Snapshot::default()
    };
    if let Some(pending) = open_existing(txn, tables.pending())? {
        for row in pending.iter().map_err(db_err)? {
            let (key, _) = row.map_err(db_err)?;
            snapshot
                .pending_team_creates
                .insert(key.value().to_string());
        }
    }
    Ok(snapshot)
}

/// Opens a table for reading, `None` if it was never written: a connection's
/// tables appear with its first write.
pub(super) fn open_existing<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &ReadTransaction,
    table: TableDefinition<'_, K, V>,
) -> Result<Option<ReadOnlyTable<K, V>>, StateError> {
    match txn.open_table(table) {
        Ok(table) => Ok(Some(table)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(error) => Err(db_err(error)),
    }
}

type UserRow = (String, StoredUser);
type RowResult<'a> = redb::Result<(
    redb::AccessGuard<'a, &'static str>,
    redb::AccessGuard<'a, &'static [u8]>,
)>;

/// Rows a reader claims at a time from the shared count of rows left.
const CLAIM: u64 = 4096;

fn panicked(connection: &str) -> StateError {
    StateError::Corrupt {
        key: connection.to_string(),
        message: "a thread reading the snapshot panicked".into(),
    }
}

fn read_users(
    connection: &str,
    table: Option<&ReadOnlyTable<&'static str, &'static [u8]>>,
    rows_held: u64,
) -> Result<Users, StateError> {
    let Some(table) = table else {
        return Ok(Users::new());
    };
    let mut rows = Vec::with_capacity(usize::try_from(rows_held).unwrap_or(0));
    for row in table.iter().map_err(db_err)? {
        rows.push(decode_user(connection, row)?);
    }
    Ok(rows.into_iter().collect())
}

fn decode_user(connection: &str, row: RowResult<'_>) -> Result<UserRow, StateError> {
    let (key, value) = row.map_err(db_err)?;
    let source_id = key.value();
    // Read straight from the page into one packed string per user.
    let user =
        user_row::decode(source_id, value.value()).map_err(|message| StateError::Corrupt {
            key: format!("{connection}/{source_id}"),
            message,
        })?;
    Ok((source_id.to_string(), user))
}

/// Reads the users with two readers, one from each end of the table, that
/// claim rows from the shared count until they meet: an even split for any
/// key distribution. `spawn` starts the backward reader (`None` if no thread
/// can be had, and the forward reader then reads everything). The readers
/// must meet exactly where the forward one stops, which is checked, so a
/// table whose length disagrees with its rows is an error, never a gap.
fn read_users_from_both_ends<'scope>(
    connection: &'scope str,
    table: Option<&'scope ReadOnlyTable<&'static str, &'static [u8]>>,
    rows_held: u64,
    spawn: impl FnOnce(
        Box<dyn FnOnce() -> Result<Vec<UserRow>, StateError> + Send + 'scope>,
    ) -> Option<
        std::thread::ScopedJoinHandle<'scope, Result<Vec<UserRow>, StateError>>,
    >,
) -> Result<Users, StateError> {
    let Some(table) = table else {
        return Ok(Users::new());
    };
    let left = std::sync::Arc::new(AtomicU64::new(rows_held));
    let backward = {
        let left = left.clone();
        spawn(Box::new(move || {
            let mut rows = Vec::new();
            read_claimed(
                connection,
                table.iter().map_err(db_err)?.rev(),
                &left,
                &mut rows,
            )?;
            Ok(rows)
        }))
    };
    let mut rows = Vec::with_capacity(usize::try_from(rows_held).unwrap_or(0));
    let mut forward = table.iter().map_err(db_err)?;
    let forward_result = read_claimed(connection, &mut forward, &left, &mut rows);
    let backward = match backward {
        Some(handle) => handle
            .join()
            .unwrap_or_else(|_| Err(panicked(connection)))?,
        None => Vec::new(),
    };
    forward_result?;
    // The next row forward must be the last one read backward (the smallest
    // key it holds), or there is none when it read nothing.
    let next = forward
        .next()
        .map(|row| row.map(|(key, _)| key.value().to_string()));
    let meets = match (next.transpose().map_err(db_err)?, backward.last()) {
        (None, None) => true,
        (Some(next), Some((smallest, _))) => &next == smallest,
        _ => false,
    };
    if !meets {
        return Err(StateError::Corrupt {
            key: connection.to_string(),
            message: "the users table holds a different number of rows than its length says".into(),
        });
    }
    rows.extend(backward.into_iter().rev());
    Ok(rows.into_iter().collect())
}

/// Reads rows from `rows` while claims on `left` succeed.
fn read_claimed<'a>(
    connection: &str,
    mut rows: impl Iterator<Item = RowResult<'a>>,
    left: &AtomicU64,
    out: &mut Vec<UserRow>,
) -> Result<(), StateError> {
    loop {
        let claimed = match left.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n > 0).then(|| n.saturating_sub(CLAIM))
        }) {
            Ok(before) => before.min(CLAIM),
            Err(_) => return Ok(()),
        };
        for _ in 0..claimed {
            let Some(row) = rows.next() else {
                return Err(StateError::Corrupt {
                    key: connection.to_string(),
                    message: "the users table holds fewer rows than its length says".into(),
                });
            };
            out.push(decode_user(connection, row)?);
        }
    }
}

fn read_teams(
    teams: Option<&ReadOnlyTable<&'static str, &'static [u8]>>,
    members: Option<&ReadOnlyTable<(&'static str, &'static str), ()>>,
) -> Result<Teams, StateError> {
    let Some(teams) = teams else {
        return Ok(Teams::new());
    };
    let mut rows = Vec::new();
    for row in teams.iter().map_err(db_err)? {
        let (key, value) = row.map_err(db_err)?;
        let source_id = key.value();
        let header: TeamHeader = decode(source_id, value.value())?;
        rows.push((
            source_id.to_string(),
            TeamRecord {
                penvio_id: header.penvio_id,
                name: header.name,
                ..TeamRecord::default()
            },
        ));
    }
    let mut teams: Teams = rows.into_iter().collect();
    let Some(members) = members else {
        return Ok(teams);
    };
    // Memberships are sorted by (team, member): one team's members are
    // consecutive, so each set is bulk-built from one run of rows.
    let mut current: Option<(String, Vec<String>)> = None;
    let mut flush = |run: Option<(String, Vec<String>)>| {
        if let Some((team, ids)) = run
            && let Some(record) = teams.get_mut(&team)
        {
            record.members = ids.into_iter().collect::<BTreeSet<_>>();
        }
    };
    for row in members.iter().map_err(db_err)? {
        let (key, _) = row.map_err(db_err)?;
        let (team, member) = key.value();
        match &mut current {
            Some((name, ids)) if name == team => ids.push(member.to_string()),
            _ => flush(current.replace((team.to_string(), vec![member.to_string()]))),
        }
    }
    flush(current);
    Ok(teams)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::UserAttributes;
    use crate::snapshot::Change;
    use crate::state::{RedbStateStore, StateStore};

    fn user(n: usize) -> Change {
        Change::PutUser {
            source_id: format!("u{n:06}"),
            record: StoredUser::new(
                &format!("p-{n}"),
                &UserAttributes {
                    user_name: format!("user{n}@example.com"),
                    email: format!("user{n}@example.com"),
                    active: true,
                    ..UserAttributes::default()
                },
                None,
            ),
        }
    }

    #[test]
    fn two_readers_meeting_in_the_middle_read_every_user_once_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStateStore::open(dir.path()).unwrap();
        let sizes = [
            0,
            1,
            2,
            CLAIM as usize - 1,
            CLAIM as usize,
            2 * CLAIM as usize + 1,
        ];
        for (n, size) in sizes.into_iter().enumerate() {
            let connection = format!("c{n}");
            let changes: Vec<Change> = (0..size).map(user).collect();
            store.apply(&connection, &changes).unwrap();
            let mut expected = Snapshot::default();
            expected.apply(&changes);

            let txn = store.read().unwrap();
            let tables = ConnectionTables::of(&connection);
            let table = open_existing(&txn, tables.users()).unwrap();
            let rows = table.as_ref().map_or(0, |t| t.len().unwrap());
            assert_eq!(rows, size as u64);
            let both = std::thread::scope(|scope| {
                read_users_from_both_ends(&connection, table.as_ref(), rows, |job| {
                    Some(scope.spawn(job))
                })
                .unwrap()
            });
            assert_eq!(both, expected.users, "{size} users, two readers");
            let alone = read_users_from_both_ends(&connection, table.as_ref(), rows, |_| None);
            assert_eq!(alone.unwrap(), expected.users, "{size} users, one reader");
        }
    }

    #[test]
    fn a_length_that_disagrees_with_the_rows_is_an_error_not_a_gap() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStateStore::open(dir.path()).unwrap();
        let changes: Vec<Change> = (0..3 * CLAIM as usize).map(user).collect();
        store.apply("conn", &changes).unwrap();
        let txn = store.read().unwrap();
        let table = open_existing(&txn, ConnectionTables::of("conn").users()).unwrap();
        let held = table.as_ref().unwrap().len().unwrap();
        for claimed in [held - 1, held + 1, 0] {
            let error = std::thread::scope(|scope| {
                read_users_from_both_ends("conn", table.as_ref(), claimed, |job| {
                    Some(scope.spawn(job))
                })
                .err()
                .unwrap()
            });
            assert!(
                error.to_string().contains("rows than its length"),
                "{error}"
            );
        }
    }

    #[test]
    fn the_threaded_read_loads_the_same_as_the_single_one_and_as_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStateStore::open(dir.path()).unwrap();
        let mut changes: Vec<Change> = (0..2 * CLAIM as usize + 7).map(user).collect();
        changes.push(Change::PutTeam {
            source_id: "g1".into(),
            penvio_id: "t1".into(),
            name: "Eng".into(),
        });
        changes.push(Change::AddMembers {
            team: "g1".into(),
            members: vec!["u000001".into(), "u008199".into()],
        });
        changes.push(Change::MarkTeamCreatePending {
            source_id: "g2".into(),
        });
        store.apply("conn", &changes).unwrap();
        let mut expected = Snapshot::default();
        expected.apply(&changes);
        let txn = store.read().unwrap();
        let threaded = read_snapshot_with(&txn, "conn", 1).unwrap();
        let single = read_snapshot_with(&txn, "conn", u64::MAX).unwrap();
        assert_eq!(threaded, single);
        assert_eq!(threaded.users, expected.users);
        assert_eq!(threaded.teams, expected.teams);
        assert_eq!(threaded.teams["g1"].members.len(), 2);
        assert!(threaded.pending_team_creates.contains("g2"));
    }
}
