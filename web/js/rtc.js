// One RTCPeerConnection per remote peer, negotiated through the signaling server.
//
// Who offers: a browser always offers to the seeder; between two browsers the one that
// wants to send first offers (on a collision the one whose name sorts last yields). The offerer
// creates the one reliable, ordered DataChannel `peerbox` (JSON control + binary chunks).

export class PeerLink extends EventTarget {
  /**
   * @param {string} remote   the remote peer's name
   * @param {object} opts     {iceServers, offerer, sendSignal(remote, signal)}
   */
  constructor(remote, { iceServers = [], offerer, sendSignal }) {
    super();
    this.remote = remote;
    this.offerer = offerer;
    this.sendSignal = sendSignal;
    this.pc = new RTCPeerConnection({ iceServers });
    this.channels = {};
    this.pendingCandidates = [];
    this.closed = false;

    this.pc.onicecandidate = (ev) => {
      if (ev.candidate) {
        this.sendSignal(remote, { kind: 'candidate', ...ev.candidate.toJSON() });
      } else {
        this.sendSignal(remote, { kind: 'end-of-candidates' });
      }
    };
    this.pc.onconnectionstatechange = () => {
      const s = this.pc.connectionState;
      this.dispatchEvent(new CustomEvent('state', { detail: s }));
      if (s === 'failed') this.dispatchEvent(new CustomEvent('failed', { detail: 'ICE/DTLS connection failed' }));
    };
    this.pc.ondatachannel = (ev) => this.adopt(ev.channel);
  }

  adopt(ch) {
    ch.binaryType = 'arraybuffer';
    this.channels[ch.label] = ch;
    ch.onopen = () => {
      if (ch.label === 'peerbox') this.dispatchEvent(new CustomEvent('open'));
    };
    ch.onclose = () => this.dispatchEvent(new CustomEvent('channelclose', { detail: ch.label }));
    ch.onmessage = (ev) => this.dispatchEvent(new CustomEvent('message', { detail: { label: ch.label, data: ev.data } }));
    if (ch.readyState === 'open') ch.onopen();
  }

  async start() {
    if (!this.offerer) return;
    this.adopt(this.pc.createDataChannel('peerbox', { ordered: true }));
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    this.sendSignal(this.remote, { kind: 'offer', sdp: offer.sdp });
  }

  async onSignal(signal) {
    if (this.closed) return;
    switch (signal.kind) {
      case 'offer': {
        await this.pc.setRemoteDescription({ type: 'offer', sdp: signal.sdp });
        await this.flushCandidates();
        const answer = await this.pc.createAnswer();
        await this.pc.setLocalDescription(answer);
        this.sendSignal(this.remote, { kind: 'answer', sdp: answer.sdp });
        break;
      }
      case 'answer':
        await this.pc.setRemoteDescription({ type: 'answer', sdp: signal.sdp });
        await this.flushCandidates();
        break;
      case 'candidate': {
        const { candidate, sdpMid, sdpMLineIndex, usernameFragment } = signal;
        const c = { candidate, sdpMid, sdpMLineIndex, usernameFragment };
        if (this.pc.remoteDescription) await this.pc.addIceCandidate(c).catch(() => {});
        else this.pendingCandidates.push(c);
        break;
      }
      // The remote has no more candidates: once every pair has failed, ICE fails now instead of
      // waiting for more, and the page hears of it from its own connection state.
      case 'end-of-candidates':
        if (this.pc.remoteDescription) await this.pc.addIceCandidate().catch(() => {});
        else this.pendingCandidates.push(null);
        break;
      default:
        break;
    }
  }

  async flushCandidates() {
    const list = this.pendingCandidates;
    this.pendingCandidates = [];
    for (const c of list) await (c ? this.pc.addIceCandidate(c) : this.pc.addIceCandidate()).catch(() => {});
  }

  /** The `a=ice-ufrag` of the offer this connection began with: what ties a `bye` to it. */
  ufrag() {
    const offer = this.offerer ? this.pc.localDescription : this.pc.remoteDescription;
    const m = /^a=ice-ufrag:(\S+)/m.exec(offer?.sdp || '');
    return m ? m[1] : undefined;
  }

  close() {
    this.closed = true;
    for (const ch of Object.values(this.channels)) ch.close();
    this.pc.close();
  }
}
