//! The README's replay example is a command the auth service accepts: a key, a tab,
//! and an envelope of `auth.register_user` keyed by its user id.

use shared_events::messages::auth::RegisterUser;
use shared_events::{Envelope, Message};

#[test]
fn the_readme_replay_line_is_a_valid_register_user_command() {
    let readme = include_str!("../../README.md");
    let line = readme
        .lines()
        .find(|line| line.contains("| kafka-console-producer "))
        .expect("README has a replay example");
    let mut quoted = line.split('\'').skip(1).step_by(2);
    assert_eq!(quoted.next(), Some("%s\\t%s\\n"), "{line}");
    let key = line
        .split_whitespace()
        .nth(2)
        .expect("the key follows the format");
    let json = quoted.next().expect("the command, single-quoted");
    let envelope: Envelope<RegisterUser> = serde_json::from_str(json).expect("a valid envelope");
    assert_eq!(envelope.kind, RegisterUser::TYPE);
    assert_eq!(key, envelope.data.user_id.to_string(), "keyed by the user");
    assert!(envelope.data.password_hash.starts_with("$2b$12$"));
}
