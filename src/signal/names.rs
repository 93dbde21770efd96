//! Friendly peer names and the rules for names that come from clients.

use rand::Rng;

const ADJECTIVES: &[&str] = &[
    "amber", "brave", "calm", "clever", "cosy", "curious", "daring", "eager", "fancy", "gentle",
    "golden", "happy", "humble", "jolly", "kind", "lively", "lucky", "merry", "mighty", "nimble",
    "noble", "plucky", "polite", "proud", "quick", "quiet", "rapid", "rosy", "shy", "silver",
    "sleepy", "smart", "snowy", "sunny", "swift", "tidy", "witty", "zesty", "bold", "breezy",
];

const ANIMALS: &[&str] = &[
    "otter", "badger", "beaver", "bison", "camel", "crane", "dingo", "dolphin", "eagle", "falcon",
    "ferret", "gecko", "heron", "ibis", "koala", "lemur", "lynx", "marmot", "moose", "newt",
    "ocelot", "owl", "panda", "pelican", "puffin", "quokka", "rabbit", "raven", "seal", "sloth",
    "stork", "tapir", "tiger", "toucan", "walrus", "wombat", "yak", "zebra", "fox", "hedgehog",
];

/// An `adjective-animal` name; after a few collisions a number is appended, so this always
/// terminates even when most pairs are taken.
pub fn generate(rng: &mut impl Rng, taken: impl Fn(&str) -> bool) -> String {
    for attempt in 0.. {
        let adj = ADJECTIVES[rng.random_range(0..ADJECTIVES.len())];
        let animal = ANIMALS[rng.random_range(0..ANIMALS.len())];
        let name = if attempt < 16 {
            format!("{adj}-{animal}")
        } else {
            format!("{adj}-{animal}-{}", rng.random_range(2..10_000u32))
        };
        if !taken(&name) {
            return name;
        }
    }
    unreachable!("the loop above only ends by returning")
}

/// Room names: 1..=max bytes of ASCII letters, digits, `-`, `_`, `.`; nothing that could be
/// mistaken for markup, a path or a control sequence.
pub fn valid_room(name: &str, max_bytes: usize) -> bool {
    !name.is_empty()
        && name.len() <= max_bytes
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Names the seeder may choose: same alphabet as rooms, at most 32 bytes.
pub fn valid_peer_name(name: &str) -> bool {
    valid_room(name, 32)
}

/// Chat text must not be empty and must not carry control characters (other than newline and
/// tab) or bidi overrides that could disguise what other people see.
pub fn valid_text(text: &str) -> bool {
    !text.trim().is_empty() && text.chars().all(allowed_in_text)
}

fn allowed_in_text(c: char) -> bool {
    // The same set as incoming file names (seeder::names): overrides, isolates and marks.
    let bidi = matches!(
        c,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
    );
    let control = c.is_control() && c != '\n' && c != '\t';
    !bidi && !control
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn generated_names_are_unique_and_friendly() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..5000 {
            let n = generate(&mut rng, |n| seen.contains(n));
            assert!(valid_peer_name(&n), "{n}");
            assert!(seen.insert(n));
        }
    }

    #[test]
    fn room_names() {
        assert!(valid_room("kitchen-2.0_x", 64));
        for bad in ["", "a b", "../x", "a/b", "<b>", "caf\u{e9}", "a\nb"] {
            assert!(!valid_room(bad, 64), "{bad:?}");
        }
        assert!(!valid_room(&"a".repeat(65), 64));
        assert!(valid_room(&"a".repeat(64), 64));
    }

    #[test]
    fn chat_text() {
        assert!(valid_text("hi 👋\nthere"));
        assert!(
            valid_text("<script>alert(1)</script>"),
            "markup is the UI's job"
        );
        for bad in [
            "",
            "   ",
            "a\u{1b}[2J",
            "a\u{202E}txt.exe",
            "nul\0",
            "a\u{61C}b",
        ] {
            assert!(!valid_text(bad), "{bad:?}");
        }
    }
}
