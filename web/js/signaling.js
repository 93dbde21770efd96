// The signaling connection (docs/protocol.md): welcome, rooms, rosters, signals, chat.
// Reconnects by itself with backoff and takes its name back with the resume token, which is
// kept per tab in sessionStorage so a reload or a Wi-Fi blip keeps this device's identity.

const TOKEN_KEY = 'peerbox.resume';

export class Signaling extends EventTarget {
  constructor(room) {
    super();
    this.room = room;
    this.ws = null;
    this.name = null;
    this.welcome = null;
    this.online = false;
    this.attempt = 0;
    this.stopped = false;
  }

  url() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const token = sessionStorage.getItem(TOKEN_KEY);
    const q = token ? `?resume=${encodeURIComponent(token)}` : '';
    return `${proto}//${location.host}/ws${q}`;
  }

  connect() {
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.onmessage = (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      this.handle(msg);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.online = false;
      this.emit('offline', { code: ev.code, reason: ev.reason });
      if (this.stopped) return;
      // 1008 policy / 1009 too big from the server mean this client misbehaved: still retry,
      // but slowly. Otherwise back off 0.5 s, 1 s, 2 s ... up to 10 s, with jitter.
      const base = Math.min(10_000, 500 * 2 ** this.attempt);
      this.attempt += 1;
      setTimeout(() => this.connect(), base / 2 + Math.random() * base / 2);
    };
  }

  handle(msg) {
    switch (msg.type) {
      case 'welcome':
        this.attempt = 0;
        this.online = true;
        this.name = msg.name;
        this.welcome = msg;
        sessionStorage.setItem(TOKEN_KEY, msg.resume_token);
        this.send({ type: 'join', room: this.room });
        this.emit('welcome', msg);
        break;
      case 'peers':
      case 'left':
      case 'signal':
      case 'chat':
      case 'error':
        this.emit(msg.type, msg);
        break;
      default:
        break;
    }
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  send(msg) {
    if (this.ws?.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(msg));
      return true;
    }
    return false;
  }

  signal(to, signal) {
    return this.send({ type: 'signal', to, signal });
  }

  chat(text) {
    return this.send({ type: 'chat', room: this.room, text });
  }
}
