use super::*;

fn state() -> State {
    let cfg = SignalConfig {
        max_rooms: 3,
        max_rooms_per_peer: 2,
        max_peers_per_room: 3,
        resume_grace_secs: 30,
        ..Default::default()
    };
    State::with_rng(cfg, StdRng::seed_from_u64(7))
}

fn admit(s: &mut State) -> (ConnId, String) {
    let a = s.admit(Kind::Browser, None, None, 0).unwrap();
    (a.id, s.name_of(a.id).unwrap().to_owned())
}

fn join(room: &str) -> ClientMsg {
    ClientMsg::Join { room: room.into() }
}

fn code_of(outs: &[Out]) -> Option<ErrorCode> {
    outs.iter().find_map(|o| match &o.msg {
        ServerMsg::Error { code, .. } => Some(*code),
        _ => None,
    })
}

fn roster_names(o: &Out) -> Vec<String> {
    match &o.msg {
        ServerMsg::Peers { peers, .. } => peers.iter().map(|p| p.name.clone()).collect(),
        m => panic!("not a roster: {m:?}"),
    }
}

#[test]
fn join_sends_roster_to_everyone_and_leave_removes_empty_room() {
    let mut s = state();
    let (a, an) = admit(&mut s);
    let (b, bn) = admit(&mut s);
    assert_ne!(an, bn);
    let o = s.handle(a, join("r"), 0);
    assert_eq!(o[0].to, vec![a]);
    let o = s.handle(b, join("r"), 0);
    assert_eq!(o.len(), 1);
    let mut to = o[0].to.clone();
    to.sort();
    assert_eq!(to, vec![a, b]);
    assert_eq!(roster_names(&o[0]).len(), 2);
    assert_eq!(s.rooms(), 1);
    let o = s.handle(b, ClientMsg::Leave { room: "r".into() }, 0);
    assert!(matches!(o[0].msg, ServerMsg::Left { .. }));
    assert_eq!(o[1].to, vec![a]);
    assert_eq!(roster_names(&o[1]), vec![an]);
    assert!(s.depart(a, 0).is_empty());
    assert_eq!(s.rooms(), 0);
    assert_eq!(s.memberships(), 0);
}

#[test]
fn signal_only_within_shared_room_and_stamped() {
    let mut s = state();
    let (a, an) = admit(&mut s);
    let (b, bn) = admit(&mut s);
    let (c, cn) = admit(&mut s);
    s.handle(a, join("r"), 0);
    s.handle(b, join("r"), 0);
    s.handle(c, join("other"), 0);
    let offer = Signal::Offer { sdp: "v=0".into() };
    let o = s.handle(
        a,
        ClientMsg::Signal {
            to: bn.clone(),
            signal: offer.clone(),
        },
        0,
    );
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].to, vec![b]);
    assert_eq!(
        o[0].msg,
        ServerMsg::Signal {
            from: an.clone(),
            signal: offer.clone()
        }
    );
    let sig = |to: &str| ClientMsg::Signal {
        to: to.into(),
        signal: offer.clone(),
    };
    let o = s.handle(a, sig(&cn), 0);
    assert_eq!(o[0].to, vec![a]);
    assert_eq!(code_of(&o), Some(ErrorCode::UnknownPeer));
    assert_eq!(
        code_of(&s.handle(a, sig("nobody"), 0)),
        Some(ErrorCode::UnknownPeer)
    );
    assert_eq!(
        code_of(&s.handle(a, sig(&an), 0)),
        Some(ErrorCode::SelfTarget)
    );
}

#[test]
fn chat_fans_out_with_server_time() {
    let mut s = state();
    let (a, an) = admit(&mut s);
    let (b, _) = admit(&mut s);
    s.handle(a, join("r"), 0);
    s.handle(b, join("r"), 0);
    let chat = |room: &str, text: &str| ClientMsg::Chat {
        room: room.into(),
        text: text.into(),
    };
    let o = s.handle(a, chat("r", "hi"), 1234);
    assert_eq!(o[0].to.len(), 2);
    assert!(o[0].forwarded);
    assert!(matches!(&o[0].msg, ServerMsg::Chat { from, ts: 1234, .. } if *from == an));
    assert_eq!(
        code_of(&s.handle(a, chat("x", "hi"), 0)),
        Some(ErrorCode::NotInRoom)
    );
    assert_eq!(
        code_of(&s.handle(a, chat("r", "\u{1b}[2J"), 0)),
        Some(ErrorCode::BadText)
    );
}

#[test]
fn limits_on_rooms() {
    let mut s = state();
    let (a, _) = admit(&mut s);
    assert_eq!(
        code_of(&s.handle(a, join("bad name"), 0)),
        Some(ErrorCode::BadRoomName)
    );
    s.handle(a, join("r1"), 0);
    s.handle(a, join("r2"), 0);
    assert_eq!(
        code_of(&s.handle(a, join("r3"), 0)),
        Some(ErrorCode::TooManyRooms)
    );
    let (b, _) = admit(&mut s);
    s.handle(b, join("r3"), 0);
    let (c, _) = admit(&mut s);
    assert_eq!(
        code_of(&s.handle(c, join("r4"), 0)),
        Some(ErrorCode::ServerFull)
    );
    let (d, _) = admit(&mut s);
    s.handle(c, join("r3"), 0);
    s.handle(d, join("r3"), 0);
    let (e, _) = admit(&mut s);
    assert_eq!(
        code_of(&s.handle(e, join("r3"), 0)),
        Some(ErrorCode::RoomFull)
    );
}

#[test]
fn abrupt_departure_updates_rosters_and_resume_within_grace() {
    let mut s = state();
    let first = s.admit(Kind::Browser, None, None, 0).unwrap();
    let ServerMsg::Welcome {
        name: an,
        resume_token,
        ..
    } = first.welcome
    else {
        unreachable!()
    };
    let a = first.id;
    let (b, _) = admit(&mut s);
    s.handle(a, join("r"), 0);
    s.handle(b, join("r"), 0);
    let o = s.depart(a, 1000);
    assert_eq!(o[0].to, vec![b]);
    assert!(!roster_names(&o[0]).contains(&an));
    // Nobody else can get the name during the grace period.
    for _ in 0..50 {
        assert_ne!(admit(&mut s).1, an);
    }
    let back = s
        .admit(Kind::Browser, None, Some(&resume_token), 20_000)
        .unwrap();
    assert!(matches!(&back.welcome, ServerMsg::Welcome { name, resumed: true, .. } if *name == an));
    assert_eq!(back.evicted, None);
    let ServerMsg::Welcome {
        resume_token: token2,
        ..
    } = back.welcome
    else {
        unreachable!()
    };
    // The first token was rotated away: it cannot take the name from its live holder.
    let stale = s
        .admit(Kind::Browser, None, Some(&resume_token), 20_500)
        .unwrap();
    assert!(
        matches!(&stale.welcome, ServerMsg::Welcome { name, resumed: false, .. } if *name != an)
    );
    assert_eq!(stale.evicted, None);
    // After the grace period a free name still comes back (as after a daemon restart)...
    s.depart(back.id, 21_000);
    let late = s.admit(Kind::Browser, None, Some(&token2), 51_001).unwrap();
    assert!(matches!(&late.welcome, ServerMsg::Welcome { name, resumed: true, .. } if *name == an));
    // ...but once somebody else holds it, the old token gets a fresh name.
    s.depart(late.id, 52_000);
    let ServerMsg::Welcome {
        resume_token: token3,
        ..
    } = late.welcome
    else {
        unreachable!()
    };
    let taker = s.admit(Kind::Seeder, Some(&an), None, 90_000).unwrap();
    let lost = s.admit(Kind::Browser, None, Some(&token3), 90_001).unwrap();
    assert!(
        matches!(&lost.welcome, ServerMsg::Welcome { name, resumed: false, .. } if *name != an)
    );
    assert_eq!(lost.evicted, None);
    assert_eq!(s.name_of(taker.id), Some(an.as_str()));
}

#[test]
fn resume_while_old_connection_lingers_evicts_it() {
    let mut s = state();
    let first = s.admit(Kind::Browser, None, None, 0).unwrap();
    let ServerMsg::Welcome {
        name, resume_token, ..
    } = first.welcome
    else {
        unreachable!()
    };
    let (b, _) = admit(&mut s);
    s.handle(first.id, join("r"), 0);
    s.handle(b, join("r"), 0);
    let second = s
        .admit(Kind::Browser, None, Some(&resume_token), 5)
        .unwrap();
    assert_eq!(second.evicted, Some(first.id));
    assert_eq!(second.outs[0].to, vec![b]);
    assert_eq!(s.name_of(second.id), Some(name.as_str()));
    assert_eq!(s.connections(), 2);
}

#[test]
fn seeder_chooses_a_unique_name() {
    let mut s = state();
    let a = s.admit(Kind::Seeder, Some("peerbox"), None, 0).unwrap();
    assert_eq!(
        s.admit(Kind::Seeder, Some("peerbox"), None, 0).unwrap_err(),
        AdmitError::NameTaken
    );
    assert_eq!(
        s.admit(Kind::Seeder, Some("../x"), None, 0).unwrap_err(),
        AdmitError::BadName
    );
    s.depart(a.id, 0);
    // A restarted seeder gets its name back at once.
    assert!(s.admit(Kind::Seeder, Some("peerbox"), None, 1).is_ok());
}
