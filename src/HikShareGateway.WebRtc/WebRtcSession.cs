using System.Net;
using HikShareGateway.WebRtc.Diagnostics;
using HikShareGateway.WebRtc.Dtls;
using HikShareGateway.WebRtc.Ice;
using HikShareGateway.WebRtc.Rtp;
using HikShareGateway.WebRtc.Sdp;
using HikShareGateway.WebRtc.Srtp;
using Microsoft.Extensions.Logging;

namespace HikShareGateway.WebRtc;

/// <summary>What a session needs from the process: the mux, our DTLS identity, options, clock, logging.</summary>
public sealed record WebRtcSessionContext(
    UdpMux Mux,
    DtlsCertificate Certificate,
    WebRtcOptions Options,
    IReadOnlyList<SdpCandidate> Candidates,
    TimeProvider Time,
    ILoggerFactory Loggers);

/// <summary>Why an offer was not turned into a session, mapped to the WHEP status (contract §5.1).</summary>
public sealed record SessionRefusal(int Status, string Reason);

/// <summary>Receives the viewer's talk audio (two-way audio): one RTP payload of the negotiated codec, on the mux's receive loop.</summary>
public interface IWebRtcTalkReceiver
{
    void OnTalkAudio(ReadOnlySpan<byte> payload, uint timestamp, bool marker);
}

/// <summary>
/// One viewer's WebRTC session (send-only video, ICE-lite, DTLS-SRTP server): offer in, answer out, then
/// <see cref="SendVideo"/> per access unit. Joins the ICE agent (checks come through the mux), the DTLS server
/// (started by the browser's first DTLS datagram), SRTP, the H.264 packetizer, per-viewer RTP headers, sender
/// reports, NACK retransmission from a packet history and PLI/FIR as <see cref="KeyframeRequested"/>.
/// Not yet wired to the media core or the WHEP endpoint: the caller feeds access units.
/// </summary>
public sealed partial class WebRtcSession : IUdpMuxSession, IRtcpFeedbackHandler, IAsyncDisposable
{
    private static readonly byte[] CName = "hikshare"u8.ToArray();

    private readonly WebRtcSessionContext _context;
    private readonly ILogger _logger;
    private readonly DtlsSrtpServer _dtls;
    private readonly RtpStreamWriter _video;
    private readonly RtpStreamWriter? _audio;
    private readonly PacketHistory _history = new();
    private readonly Lock _sendLock = new();
    private readonly bool _h265;
    private readonly byte[] _packet = new byte[1600];
    private readonly TaskCompletionSource<DtlsHandshakeResult> _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ITimer _reports;
    private SrtpContext? _sender, _receiver;
    private IPEndPoint? _remoteEndPoint;
    private System.Net.SocketAddress? _remoteAddress;
    private readonly int _talkPayloadType = -1;
    private readonly bool _hasVideo;
    private IWebRtcTalkReceiver? _talk;
    private int _handshakeStarted, _closed;
    private long _nacksServed;

    private WebRtcSession(WebRtcSessionContext context, IceAgent ice, SdpFingerprint remoteFingerprint, SelectedMedia? video, SelectedMedia? audio, uint ssrc)
    {
        _hasVideo = video is not null;
        _talkPayloadType = audio?.Receive?.PayloadType ?? -1;
        TalkCodecName = audio?.Receive?.Name;
        _context = context;
        _logger = context.Loggers.CreateLogger<WebRtcSession>();
        Ice = ice;
        Drops = context.Mux.Drops;
        // Without video (a talk-only session) the writer exists but sends nothing: SendVideo* return early.
        _video = new RtpStreamWriter(ssrc, (byte)(video?.Codec.PayloadType ?? 96), 90000);
        _h265 = video is not null && SdpNegotiator.IsH265(video.Codec);
        if (audio is { Send: true }) _audio = new RtpStreamWriter(AudioSsrcFor(ssrc), (byte)audio.Codec.PayloadType, audio.Codec.ClockRate);
        _dtls = new DtlsSrtpServer(context.Certificate, remoteFingerprint, SendRaw,
            new DtlsOptions { HandshakeTimeout = context.Options.DtlsHandshakeTimeout }, context.Time,
            context.Loggers.CreateLogger<DtlsSrtpServer>(), Drops);
        _dtls.Closed += _ => Close("dtls closed");
        ice.StateChanged += s => { if (s == IceState.Closed) Close("ice consent expired"); };
        _reports = context.Time.CreateTimer(_ => SendSenderReport(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    public IceAgent Ice { get; }

    /// <summary>At most this many candidates are taken from one trickled fragment.</summary>
    public const int MaxTrickledCandidates = 32;

    /// <summary>
    /// The viewer's trickled candidates (WHEP <c>PATCH</c>, an RFC 8840 <c>application/trickle-ice-sdpfrag</c>): the
    /// <c>a=candidate</c> lines of <paramref name="fragment"/> become remote candidates of the agent, which pairs them with
    /// its bases and checks them (a browser that posts its offer before gathering sends its server-reflexive and relayed
    /// candidates this way). A fragment naming another <c>a=ice-ufrag</c> than the offer's is an ICE restart, which this
    /// gateway does not do: nothing is taken and false returned. Lines that are not candidates (<c>a=mid</c>,
    /// <c>a=end-of-candidates</c>) and candidates the agent cannot use (TCP, another component, malformed) are skipped.
    /// </summary>
    public bool AddTrickledCandidates(ReadOnlySpan<byte> fragment, out int added)
    {
        added = 0;
        var text = System.Text.Encoding.UTF8.GetString(fragment);
        var candidates = new List<string>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.StartsWith("a=ice-ufrag:", StringComparison.Ordinal)
                && !string.Equals(line["a=ice-ufrag:".Length..].Trim(), Ice.RemoteUfrag, StringComparison.Ordinal))
            {
                return false;
            }
            if (line.StartsWith("a=candidate:", StringComparison.Ordinal) && candidates.Count < MaxTrickledCandidates)
            {
                candidates.Add(line);
            }
        }
        if (Volatile.Read(ref _closed) == 0 && candidates.Count > 0)
        {
            added = Ice.AddRemoteCandidates(candidates);
        }
        return true;
    }
    public DropCounters Drops { get; }
    public uint VideoSsrc => _video.Ssrc;

    /// <summary>Packets resent from the history on the viewer's NACKs (metrics).</summary>
    public long NacksServed => Interlocked.Read(ref _nacksServed);

    /// <summary>The audio SSRC when the answer accepted audio (G.711 passed as the source sends it), else null.</summary>
    public uint? AudioSsrc => _audio?.Ssrc;

    private static uint AudioSsrcFor(uint videoSsrc) => videoSsrc ^ 0x5A5A5A5A;

    /// <summary>Completes when DTLS-SRTP is up (or failed): media can flow after a success.</summary>
    public Task<DtlsHandshakeResult> Connected => _connected.Task;

    /// <summary>The browser asked for a keyframe (PLI or FIR): the source should send one, or start at the cached GOP.</summary>
    public event Action? KeyframeRequested;

    /// <summary>Raised once with the reason when the session ends.</summary>
    public event Action<string>? Closed;

    /// <summary>Parses and answers an offer for a source; refusals carry the WHEP status (400, 422).</summary>
    public static bool TryCreate(ReadOnlySpan<byte> offerSdp, SourceMedia source, WebRtcSessionContext context,
        out WebRtcSession session, out string answer, out SessionRefusal refusal)
    {
        if (!TryParseOffer(offerSdp, context, out var offer, out refusal))
        {
            session = null!;
            answer = "";
            return false;
        }
        return TryCreate(offer, source, null, context, out session, out answer, out refusal);
    }

    /// <summary>The offer parsed (400 when it is not SDP), counted as a drop when refused.</summary>
    public static bool TryParseOffer(ReadOnlySpan<byte> offerSdp, WebRtcSessionContext context, out SdpOffer offer, out SessionRefusal refusal)
    {
        if (!SdpOfferParser.TryParse(offerSdp, out offer, out var failure))
        {
            context.Mux.Drops.Count(failure.Error == SdpError.TooLarge ? DropReason.SdpTooLarge : DropReason.SdpMalformed);
            refusal = new SessionRefusal(400, $"not a usable offer: {failure.Error} at line {failure.Line}");
            return false;
        }
        refusal = null!;
        return true;
    }

    /// <param name="talk">Non-null when the viewer may talk (a device speaker is open): see <see cref="SdpNegotiator"/>.</param>
    public static bool TryCreate(SdpOffer offer, SourceMedia source, TalkReceive? talk, WebRtcSessionContext context,
        out WebRtcSession session, out string answer, out SessionRefusal refusal)
    {
        session = null!;
        answer = "";
        if (!SdpNegotiator.TryNegotiate(offer, source, out var negotiation, out var negotiationFailure, talk))
        {
            refusal = new SessionRefusal(422, negotiationFailure.Error == NegotiationError.NoTalkCodec
                ? $"no common codec: the viewer talks in {negotiationFailure.Codec}; the device takes {string.Join(", ", talk!.G711)}{(talk.Opus ? " (and Opus through the transcoder)" : " (Opus needs the FFmpeg transcoder, which is off)")}"
                : $"no common codec: the source sends {negotiationFailure.Codec}");
            return false;
        }
        // Video is what a viewing session is for; only a talking viewer may have audio alone.
        if ((negotiation.Video ?? (negotiation.Audio?.Receive is not null ? negotiation.Audio : null)) is not { } first)
        {
            refusal = new SessionRefusal(422, "no common codec: this session sends video only");
            return false;
        }
        var video = negotiation.Video;
        var local = IceCredentials.Generate();
        var ssrc = (uint)Random.Shared.NextInt64(1, uint.MaxValue);
        IceAgent ice;
        if (context.Options.IceLite)
        {
            ice = new IceLiteAgent(local, first.Offer.IceUfrag, context.Time, context.Mux.Drops, context.Options.ConsentTimeout);
        }
        else
        {
            // The full agent (RFC 8445, controlled): checks from every base of the mux to the offer's candidates.
            var transport = new MuxIceTransport(context.Mux);
            ice = new IceAgent(local, first.Offer.IceUfrag, first.Offer.IcePwd,
                new IceAgentOptions { ConsentTimeout = context.Options.ConsentTimeout, Outcomes = context.Mux.IceOutcomes },
                context.Time, context.Mux.Drops, transport);
            transport.Agent = ice;
            foreach (var b in context.Mux.LocalBases) ice.AddLocalBase(b);
            ice.AddRemoteCandidates(first.Offer.Candidates);
        }
        session = new WebRtcSession(context, ice, first.Offer.Fingerprint, video, negotiation.Audio, ssrc);
        answer = SdpAnswerBuilder.Build(negotiation, new AnswerParameters(local.Ufrag, local.Pwd, context.Certificate.Fingerprint,
            context.Candidates, ssrc, AudioSsrcFor(ssrc), "hikshare", (ulong)Random.Shared.NextInt64(1, long.MaxValue), context.Options.IceLite));
        context.Mux.Register(session);
        ice.Start();
        refusal = null!;
        return true;
    }

    /// <summary>
    /// Whether an offer would be answered for <paramref name="source"/> (parsed and negotiated, nothing counted or
    /// started): asked before a transcoder is started for a viewer whose offer lacks the source's codec.
    /// </summary>
    public static bool WouldNegotiate(ReadOnlySpan<byte> offerSdp, SourceMedia source)
        => SdpOfferParser.TryParse(offerSdp, out var offer, out _)
           && SdpNegotiator.TryNegotiate(offer, source, out var negotiation, out _)
           && negotiation.Video is not null;

    /// <summary>Whether an offer would take <paramref name="audio"/> from the gateway: asked before an audio transcoder is started.</summary>
    public static bool WouldReceiveAudio(ReadOnlySpan<byte> offerSdp, SourceAudio audio)
        => SdpOfferParser.TryParse(offerSdp, out var offer, out _)
           && SdpNegotiator.TryNegotiate(offer, new SourceMedia(null, audio), out var negotiation, out _)
           && negotiation.Audio is { Send: true };

    /// <summary>
    /// A remote candidate trickled after the offer (WHEP PATCH, RFC 8840 SDP fragment line, or MQTT signalling):
    /// "candidate:…" with or without "a=". False when it cannot be paired (mDNS name, TCP, lite mode) or is known.
    /// </summary>
    public bool AddRemoteCandidate(string candidate)
        => IceCandidate.TryParse(candidate, out var c) && Ice.AddRemoteCandidate(c);

    /// <summary>The nominated pair's candidate types and addresses, once ICE selected one (full agent).</summary>
    public IceCandidatePair? SelectedPair => Ice.SelectedPair;

    // ---------------------------------------------------------------- from the mux

    public void OnDtls(ReadOnlySpan<byte> datagram, System.Net.SocketAddress from)
    {
        if (Volatile.Read(ref _closed) != 0) return;
        if (Ice.State == IceState.Connected) Ice.PreferRemoteBeforeNomination(UdpMux.ToEndPoint(from));
        if (Interlocked.Exchange(ref _handshakeStarted, 1) == 0) _ = RunHandshakeAsync();
        _dtls.OnDatagram(datagram);
    }

    private async Task RunHandshakeAsync()
    {
        var result = await _dtls.HandshakeAsync().ConfigureAwait(false);
        if (result.Succeeded)
        {
            lock (_sendLock)
            {
                _sender = result.Keys!.CreateSender();
                _receiver = result.Keys.CreateReceiver();
            }
        }
        _connected.TrySetResult(result);
        if (!result.Succeeded) Close("dtls " + result.Failure);
    }

    /// <summary>The encoding the viewer talks in (PCMU, PCMA, opus) when the answer took its audio, else null.</summary>
    public string? TalkCodecName { get; }

    /// <summary>True when the answer took the viewer's audio (two-way audio).</summary>
    public bool ReceivesTalk => _talkPayloadType >= 0;

    /// <summary>Where the viewer's talk audio goes; set before media flows (null: dropped).</summary>
    public void SetTalkReceiver(IWebRtcTalkReceiver? receiver) => Volatile.Write(ref _talk, receiver);

    public void OnSrtp(Span<byte> datagram)
    {
        // RFC 5761 §4: with rtcp-mux, RTCP packet types 192–223 sit where RTP would have marker + PT 64–95.
        if (datagram.Length < 2) return;
        if (datagram[1] is < 192 or > 223)
        {
            OnSrtpRtp(datagram); // browsers send RTP only on a section the answer receives (two-way audio)
            return;
        }
        SrtpContext? receiver;
        lock (_sendLock) receiver = _receiver;
        if (receiver is null) { Drops.Count(DropReason.SrtpMalformed); return; }
        if (!receiver.TryUnprotectRtcp(datagram, datagram.Length, out var plain, out var error))
        {
            Drops.Count(error switch
            {
                SrtpError.BadTag => DropReason.SrtpBadTag,
                SrtpError.Replayed => DropReason.SrtpReplayed,
                SrtpError.TooOld => DropReason.SrtpTooOld,
                _ => DropReason.SrtpMalformed,
            });
            return;
        }
        if (!RtcpFeedbackParser.TryParse(datagram[..plain], this, out _)) Drops.Count(DropReason.RtcpMalformed);
    }

    /// <summary>The viewer's talk audio: authenticated and decrypted in place, the header skipped (CSRCs, RFC 8285 extensions).</summary>
    private void OnSrtpRtp(Span<byte> datagram)
    {
        if (_talkPayloadType < 0 || Volatile.Read(ref _talk) is not { } talk) return;
        SrtpContext? receiver;
        lock (_sendLock) receiver = _receiver;
        if (receiver is null) { Drops.Count(DropReason.SrtpMalformed); return; }
        if (!receiver.TryUnprotectRtp(datagram, datagram.Length, out var plain, out var error))
        {
            Drops.Count(error switch
            {
                SrtpError.BadTag => DropReason.SrtpBadTag,
                SrtpError.Replayed => DropReason.SrtpReplayed,
                SrtpError.TooOld => DropReason.SrtpTooOld,
                _ => DropReason.SrtpMalformed,
            });
            return;
        }
        var rtp = datagram[..plain];
        if ((rtp[1] & 0x7F) != _talkPayloadType || !TryRtpPayload(rtp, out var offset, out var length)) return;
        talk.OnTalkAudio(rtp.Slice(offset, length), System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(rtp[4..]), (rtp[1] & 0x80) != 0);
    }

    /// <summary>RFC 3550 §5.1: the payload after the fixed header, CSRCs and an extension, before any padding.</summary>
    internal static bool TryRtpPayload(ReadOnlySpan<byte> rtp, out int offset, out int length)
    {
        offset = length = 0;
        if (rtp.Length < 12 || rtp[0] >> 6 != 2) return false;
        var at = 12 + (rtp[0] & 0x0F) * 4;
        if ((rtp[0] & 0x10) != 0)
        {
            if (rtp.Length < at + 4) return false;
            at += 4 + System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(rtp[(at + 2)..]) * 4;
        }
        var end = rtp.Length;
        if ((rtp[0] & 0x20) != 0)
        {
            if (end == 0) return false;
            end -= rtp[end - 1];
        }
        if (at >= end || at > rtp.Length) return false;
        offset = at;
        length = end - at;
        return true;
    }

    // ---------------------------------------------------------------- media out

    /// <summary>
    /// Sends one H.264 (or, when negotiated, H.265) access unit (NAL units without start codes, in decoding order) with its 90 kHz source
    /// timestamp. Dropped silently until DTLS-SRTP is up and ICE has a pair.
    /// </summary>
    public void SendVideo(IReadOnlyList<ReadOnlyMemory<byte>> accessUnit, uint timestamp)
    {
        if (!_hasVideo || RemoteAddress() is not { } remote || Volatile.Read(ref _closed) != 0) return;
        var maxPayload = _context.Options.RtpMtu - RtpStreamWriter.HeaderLength;
        lock (_sendLock)
        {
            if (_sender is null) return;
            for (var i = 0; i < accessUnit.Count; i++)
            {
                var endOfUnit = i == accessUnit.Count - 1;
                if (_h265)
                {
                    var h265 = H265Packetizer.ForNal(accessUnit[i].Span, maxPayload);
                    while (h265.TryNext(_packet.AsSpan(RtpStreamWriter.HeaderLength), out var n, out var last))
                    {
                        SendVideoPacketLocked(n, last && endOfUnit, timestamp, remote);
                    }
                    continue;
                }
                var packetizer = H264Packetizer.ForNal(accessUnit[i].Span, maxPayload);
                while (packetizer.TryNext(_packet.AsSpan(RtpStreamWriter.HeaderLength), out var n, out var last))
                {
                    SendVideoPacketLocked(n, last && endOfUnit, timestamp, remote);
                }
            }
        }
    }

    /// <summary>
    /// Sends one video RTP payload under our header; <paramref name="marker"/> is the source packet's (end of access unit).
    /// The plug-in point for the media core's packets. Live viewers get payloads already cut to our MTU once per stream
    /// (<see cref="Viewing.PacketizedStreams"/>): those go as they are, so per viewer only the header, SRTP and the send
    /// remain. A larger payload (H.264: single NAL, STAP-A or FU-A; H.265: single NAL, AP or FU; a playback source) is
    /// re-packetized here.
    /// </summary>
    public void SendVideoRtpPayload(ReadOnlySpan<byte> payload, uint timestamp, bool marker)
    {
        if (!_hasVideo || RemoteAddress() is not { } remote || Volatile.Read(ref _closed) != 0) return;
        var maxPayload = _context.Options.RtpMtu - RtpStreamWriter.HeaderLength;
        lock (_sendLock)
        {
            if (_sender is null) return;
            if (payload.Length <= maxPayload && IsPassable(payload))
            {
                payload.CopyTo(_packet.AsSpan(RtpStreamWriter.HeaderLength));
                SendVideoPacketLocked(payload.Length, marker, timestamp, remote);
                return;
            }
            if (_h265)
            {
                // RFC 7798: the camera's single NAL / AP / FU payloads, re-cut to our MTU.
                var h265 = H265Packetizer.ForRtpPayload(payload, maxPayload);
                while (h265.TryNext(_packet.AsSpan(RtpStreamWriter.HeaderLength), out var n, out var last))
                {
                    SendVideoPacketLocked(n, marker && last, timestamp, remote);
                }
                return;
            }
            var packetizer = H264Packetizer.ForRtpPayload(payload, maxPayload);
            while (packetizer.TryNext(_packet.AsSpan(RtpStreamWriter.HeaderLength), out var n, out var last))
            {
                SendVideoPacketLocked(n, marker && last, timestamp, remote);
            }
        }
    }

    /// <summary>A payload a browser depacketizes as it is: H.264 single NAL, STAP-A or FU-A; H.265 single NAL, AP or FU.</summary>
    private bool IsPassable(ReadOnlySpan<byte> payload)
    {
        if (payload.IsEmpty) return false;
        if (_h265) return payload.Length >= 3 && H265Packetizer.TypeOf(payload[0]) <= H265Packetizer.Fu;
        var type = payload[0] & 0x1F;
        return type is >= 1 and <= 24 || (type == FragmentationUnit.H264FuA && payload.Length >= 2);
    }

    /// <summary>Our header on the payload already in <see cref="_packet"/>, SRTP, history, out. Under the send lock.</summary>
    private void SendVideoPacketLocked(int payloadLength, bool marker, uint timestamp, System.Net.SocketAddress remote)
    {
        var seq = _video.WriteHeader(_packet, marker, timestamp, payloadLength);
        var protectedLength = _sender!.ProtectRtp(_packet, RtpStreamWriter.HeaderLength + payloadLength);
        _history.Store(seq, _packet.AsSpan(0, protectedLength));
        Transmit(_packet.AsSpan(0, protectedLength), remote);
    }

    /// <summary>Sends one G.711 frame (PCMU/PCMA payload as the camera sent it) with its 8 kHz source timestamp.</summary>
    public void SendAudio(ReadOnlySpan<byte> payload, uint timestamp, bool marker = false)
    {
        if (_audio is null || RemoteAddress() is not { } remote || Volatile.Read(ref _closed) != 0) return;
        if (payload.Length > _context.Options.RtpMtu - RtpStreamWriter.HeaderLength) return; // G.711 frames are 160–320 bytes
        lock (_sendLock)
        {
            if (_sender is null) return;
            _audio.WriteHeader(_packet, marker, timestamp, payload.Length);
            payload.CopyTo(_packet.AsSpan(RtpStreamWriter.HeaderLength));
            var n = _sender.ProtectRtp(_packet, RtpStreamWriter.HeaderLength + payload.Length);
            Transmit(_packet.AsSpan(0, n), remote);
        }
    }

    private void SendSenderReport()
    {
        if (RemoteAddress() is not { } remote || Volatile.Read(ref _closed) != 0) return;
        lock (_sendLock)
        {
            if (_sender is null || !_video.Started) return;
            Span<byte> buffer = stackalloc byte[128];
            var ntp = RtcpWriter.NtpTimestamp(_context.Time.GetUtcNow());
            var n = RtcpWriter.WriteSenderReport(buffer, _video.Ssrc, ntp, _video.LastTimestamp, _video.PacketCount, _video.OctetCount, CName);
            n = _sender.ProtectRtcp(buffer, n);
            Transmit(buffer[..n], remote);
        }
    }

    /// <summary>The selected pair's address, serialized once per change (not per packet).</summary>
    private System.Net.SocketAddress? RemoteAddress()
    {
        var selected = Ice.SelectedRemote;
        if (selected is null) return null;
        if (!ReferenceEquals(selected, Volatile.Read(ref _remoteEndPoint)))
        {
            var address = selected.Serialize();
            Volatile.Write(ref _remoteAddress, address);
            Volatile.Write(ref _remoteEndPoint, selected);
            return address;
        }
        return Volatile.Read(ref _remoteAddress);
    }

    /// <summary>To the selected pair: from the mux socket, or through the TURN allocation the pair's base is.</summary>
    private void Transmit(ReadOnlySpan<byte> datagram, System.Net.SocketAddress remote)
    {
        if (Ice.SelectedBase?.Relay is TurnClient turn && Ice.SelectedRemote is { } peer) turn.SendTo(datagram, peer);
        else _context.Mux.Send(datagram, remote);
    }

    private void SendRaw(ReadOnlyMemory<byte> datagram)
    {
        if (RemoteAddress() is { } remote) Transmit(datagram.Span, remote);
    }

    // ---------------------------------------------------------------- RTCP feedback

    void IRtcpFeedbackHandler.OnNack(uint mediaSsrc, ushort sequence)
    {
        if (mediaSsrc != _video.Ssrc || RemoteAddress() is not { } remote) return;
        lock (_sendLock)
        {
            if (_history.TryGet(sequence, out var packet))
            {
                Transmit(packet, remote);
                Interlocked.Increment(ref _nacksServed);
            }
        }
    }

    void IRtcpFeedbackHandler.OnPli(uint mediaSsrc)
    {
        if (mediaSsrc == _video.Ssrc) KeyframeRequested?.Invoke();
    }

    void IRtcpFeedbackHandler.OnFir(uint mediaSsrc, byte sequenceNumber)
    {
        if (mediaSsrc == _video.Ssrc) KeyframeRequested?.Invoke();
    }

    void IRtcpFeedbackHandler.OnReceiverReport(uint sourceSsrc, byte fractionLost, int cumulativeLost, uint jitter) { }

    // ---------------------------------------------------------------- end

    private void Close(string reason)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return;
        Ice.Close(); // stops its checks and consent requests
        _context.Mux.Unregister(this);
        _reports.Dispose();
        _dtls.Dispose();
        _connected.TrySetResult(new DtlsHandshakeResult(DtlsFailure.Closed, null, null));
        LogClosed(_logger, Ice.Local.Ufrag, reason);
        Closed?.Invoke(reason);
    }

    public ValueTask DisposeAsync()
    {
        Close("ended");
        lock (_sendLock)
        {
            _sender?.Dispose();
            _receiver?.Dispose();
            _sender = _receiver = null;
        }
        return ValueTask.CompletedTask;
    }

    [LoggerMessage(EventId = 7020, Level = LogLevel.Information, Message = "WebRTC session {Ufrag} closed: {Reason}")]
    private static partial void LogClosed(ILogger logger, string ufrag, string reason);
}
