//! Port of a Django app's `models.py`: the app's users (an htpasswd file) and its sessions
//! (in memory).
//!
//! Python: the `models.py` of a Django app, with `django.contrib.auth`'s user table and
//! `request.session` as the two models; here both are in-process objects owned by the
//! loop, so no locking is needed.

use std::io;
use std::time::Instant;

use crate::http::{PasswordFile, Session, SessionId, Sessions};

/// What the app knows: who may log in, and who is logged in.
#[derive(Debug)]
pub struct Model {
    /// The users (`--users`): bcrypt hashes, checked off the loop.
    pub users: PasswordFile,
    /// The sessions (`--session-max`, `--session-idle`).
    pub sessions: Sessions,
}

impl Model {
    /// A model of `users` and `sessions`.
    pub fn new(users: PasswordFile, sessions: Sessions) -> Model {
        Model { users, sessions }
    }

    /// The live session a `Cookie` header names, if any.
    pub fn session_of(&mut self, cookie: Option<&str>, now: Instant) -> Option<SessionId> {
        self.sessions.find(cookie, now)
    }

    /// The live session the `Cookie` header names, or a new one (with a new id: never one
    /// the client chose). Returns the id and the session.
    ///
    /// # Errors
    /// As [`Sessions::create`].
    pub fn session_or_new(
        &mut self,
        cookie: Option<&str>,
        now: Instant,
    ) -> io::Result<(SessionId, &mut Session)> {
        let id = match self.sessions.find(cookie, now) {
            Some(id) => id,
            None => self.sessions.create(now)?,
        };
        let session = self
            .sessions
            .get_mut(&id, now)
            .expect("found or created just now");
        Ok((id, session))
    }

    /// Logs `user` in: the session the request came with (if any) ends, and a new one,
    /// with a new id, holds the user. A privilege change gets a new id so that an id an
    /// attacker planted before the login (session fixation) is worth nothing after it.
    ///
    /// # Errors
    /// As [`Sessions::create`].
    pub fn log_in(
        &mut self,
        old: Option<SessionId>,
        user: &str,
        now: Instant,
    ) -> io::Result<SessionId> {
        if let Some(old) = old {
            self.sessions.remove(&old);
        }
        let id = self.sessions.create(now)?;
        if let Some(session) = self.sessions.get_mut(&id, now) {
            session.user = Some(user.to_owned());
        }
        Ok(id)
    }

    /// Ends the session `id`, if there is one.
    pub fn log_out(&mut self, id: Option<SessionId>) {
        if let Some(id) = id {
            self.sessions.remove(&id);
        }
    }
}
