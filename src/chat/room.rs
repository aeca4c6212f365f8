//! Port of the `handle_line`, `choose_nick` and `leave` methods of
//! `docs/python/chat_server.py`: the chat room, who has joined under which nickname, and
//! what each line means. No I/O: the room says what to send to whom through an
//! [`Outbox`], and the server does the rest.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

/// Where the room's output goes: the server's connections.
///
/// The room never writes to a socket itself, so it can be tested with a `Vec` and driven
/// by any loop.
pub trait Outbox<K> {
    /// Queues `line` (it ends in `\n`) for client `to`.
    fn send(&mut self, to: K, line: &[u8]);
    /// Client `who` asked to go (`/quit`): close it once what it is owed has been sent.
    fn close(&mut self, who: K);
}

/// The joined clients, by nickname, and the protocol's rules; `K` names a connection.
///
/// Python: `ChatServer.joined`, and the methods named in the module docs.
///
/// # Examples
///
/// ```
/// use mio_selectors::chat::{Outbox, Room};
///
/// #[derive(Default)]
/// struct Sent(Vec<(u32, String)>);
///
/// impl Outbox<u32> for Sent {
///     fn send(&mut self, to: u32, line: &[u8]) {
///         self.0.push((to, String::from_utf8_lossy(line).into_owned()));
///     }
///     fn close(&mut self, _who: u32) {}
/// }
///
/// let (mut room, mut out) = (Room::new(), Sent::default());
/// room.line(1, b"alice", &mut out);
/// room.line(2, b"bob", &mut out);
/// room.line(1, b"hi", &mut out);
/// assert_eq!(out.0, [
///     (1, "* welcome alice\n".to_string()),
///     (2, "* welcome bob\n".to_string()),
///     (1, "* bob joined\n".to_string()),
///     (2, "<alice> hi\n".to_string()),
/// ]);
/// ```
#[derive(Debug)]
pub struct Room<K> {
    /// Nickname -> client. A `BTreeMap`, so `/who` lists them sorted at no extra cost.
    joined: BTreeMap<Vec<u8>, K>,
    /// Client -> nickname, for the clients that have joined.
    nick_of: HashMap<K, Vec<u8>>,
}

impl<K: Copy + Eq + Hash> Default for Room<K> {
    fn default() -> Room<K> {
        Room::new()
    }
}

/// Whether `nick` is a valid nickname: 1 to 32 bytes of `[A-Za-z0-9_-]`.
///
/// # Examples
///
/// ```
/// use mio_selectors::chat::is_valid_nickname;
///
/// assert!(is_valid_nickname(b"Bob_2-x"));
/// assert!(!is_valid_nickname(b"") && !is_valid_nickname(b"a b") && !is_valid_nickname(&[b'a'; 33]));
/// ```
pub fn is_valid_nickname(nick: &[u8]) -> bool {
    (1..=32).contains(&nick.len())
        && nick
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl<K: Copy + Eq + Hash> Room<K> {
    /// An empty room.
    pub fn new() -> Room<K> {
        Room {
            joined: BTreeMap::new(),
            nick_of: HashMap::new(),
        }
    }

    /// How many clients have joined.
    pub fn len(&self) -> usize {
        self.joined.len()
    }

    /// Whether nobody has joined.
    pub fn is_empty(&self) -> bool {
        self.joined.is_empty()
    }

    /// `who`'s nickname, if it has joined.
    pub fn nick(&self, who: K) -> Option<&[u8]> {
        self.nick_of.get(&who).map(Vec::as_slice)
    }

    /// Handles one line from `who` (without its `\n` or `\r`): the nickname if it has not
    /// joined yet, else a command or a message.
    pub fn line(&mut self, who: K, line: &[u8], out: &mut impl Outbox<K>) {
        let Some(nick) = self.nick_of.get(&who) else {
            self.choose_nick(who, line, out);
            return;
        };
        if line.starts_with(b"/") {
            // The command is the line's first word; /who and /quit ignore the rest.
            let command = line.split(|&b| b == b' ').next().unwrap_or(line);
            match command {
                b"/who" => {
                    let mut answer = b"* users:".to_vec();
                    for nick in self.joined.keys() {
                        answer.push(b' ');
                        answer.extend_from_slice(nick);
                    }
                    answer.push(b'\n');
                    out.send(who, &answer);
                }
                b"/quit" => {
                    out.send(who, b"* bye\n");
                    self.leave(who, out);
                    out.close(who);
                }
                _ => out.send(who, b"! unknown command\n"),
            }
            return;
        }
        // One message, built once, sent to everyone else.
        let message = [b"<", nick.as_slice(), b"> ", line, b"\n"].concat();
        self.broadcast(who, &message, out);
    }

    /// Tells `who` that its line was too long (and discarded).
    pub fn line_too_long(&mut self, who: K, out: &mut impl Outbox<K>) {
        out.send(who, b"! line too long\n");
    }

    /// `who` is gone, for whatever reason: if it had joined, it leaves the room and the
    /// others get `* NICK left`. Does nothing for a client that never joined, or left
    /// already.
    pub fn leave(&mut self, who: K, out: &mut impl Outbox<K>) {
        if let Some(nick) = self.nick_of.remove(&who) {
            self.joined.remove(&nick);
            let notice = [b"* ", nick.as_slice(), b" left\n"].concat();
            self.broadcast(who, &notice, out);
        }
    }

    fn choose_nick(&mut self, who: K, nick: &[u8], out: &mut impl Outbox<K>) {
        if !is_valid_nickname(nick) {
            out.send(who, b"! invalid nickname\n");
        } else if self.joined.contains_key(nick) {
            out.send(who, b"! nickname in use\n");
        } else {
            self.joined.insert(nick.to_vec(), who);
            self.nick_of.insert(who, nick.to_vec());
            out.send(who, &[b"* welcome ", nick, b"\n"].concat());
            self.broadcast(who, &[b"* ", nick, b" joined\n"].concat(), out);
        }
    }

    /// Sends `line` to every joined client but `sender`.
    fn broadcast(&self, sender: K, line: &[u8], out: &mut impl Outbox<K>) {
        for &client in self.joined.values() {
            if client != sender {
                out.send(client, line);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Log {
        sent: Vec<(u8, String)>,
        closed: Vec<u8>,
    }

    impl Outbox<u8> for Log {
        fn send(&mut self, to: u8, line: &[u8]) {
            assert!(line.ends_with(b"\n"), "{line:?}");
            self.sent.push((to, line.escape_ascii().to_string()));
        }
        fn close(&mut self, who: u8) {
            self.closed.push(who);
        }
    }

    fn sent(log: &mut Log) -> Vec<(u8, String)> {
        std::mem::take(&mut log.sent)
    }

    #[test]
    fn nicknames_are_checked_and_unique() {
        let (mut room, mut log) = (Room::new(), Log::default());
        room.line(1, b"no way", &mut log);
        room.line(1, b"ann", &mut log);
        room.line(2, b"ann", &mut log);
        room.line(2, b"bo", &mut log);
        assert_eq!(
            sent(&mut log),
            [
                (1, "! invalid nickname\\n".into()),
                (1, "* welcome ann\\n".into()),
                (2, "! nickname in use\\n".into()),
                (2, "* welcome bo\\n".into()),
                (1, "* bo joined\\n".into()),
            ]
        );
        assert_eq!(room.len(), 2);
        assert_eq!(room.nick(2), Some(&b"bo"[..]));
    }

    #[test]
    fn commands() {
        let (mut room, mut log) = (Room::new(), Log::default());
        for (who, nick) in [(1, "zed"), (2, "Amy"), (3, "bob")] {
            room.line(who, nick.as_bytes(), &mut log);
        }
        sent(&mut log);
        room.line(3, b"/who", &mut log);
        room.line(3, b"/nope", &mut log);
        room.line(3, b"/quit now", &mut log);
        assert_eq!(
            sent(&mut log),
            [
                (3, "* users: Amy bob zed\\n".into()),
                (3, "! unknown command\\n".into()),
                (3, "* bye\\n".into()),
                // In nickname order: Amy (2), then zed (1).
                (2, "* bob left\\n".into()),
                (1, "* bob left\\n".into()),
            ]
        );
        assert_eq!(log.closed, [3]);
        // The nickname is free again, and leaving twice says nothing twice.
        room.leave(3, &mut log);
        room.line(4, b"bob", &mut log);
        assert_eq!(sent(&mut log).len(), 3);
    }

    #[test]
    fn messages_go_to_the_others_and_unjoined_clients_leave_silently() {
        let (mut room, mut log) = (Room::new(), Log::default());
        room.line(1, b"a", &mut log);
        room.line(2, b"b", &mut log);
        sent(&mut log);
        room.line(1, b"\xffbytes", &mut log);
        room.leave(9, &mut log);
        assert_eq!(sent(&mut log), [(2, "<a> \\xffbytes\\n".into())]);
    }
}
