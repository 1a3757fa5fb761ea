using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using HikShareGateway.Rtsp.Protocol;

namespace HikShareGateway.Rtsp.Server;

/// <summary>
/// Where a viewer's RTSP session is (the server states of RFC 2326 Appendix A.2, with the media opened by DESCRIBE as a
/// state of its own): <see cref="Init"/> → DESCRIBE → <see cref="Described"/> → SETUP → <see cref="Ready"/> → PLAY →
/// <see cref="Playing"/> ⇄ PAUSE → <see cref="Paused"/>; TEARDOWN → <see cref="Closed"/>.
/// </summary>
public enum ViewerState { Init, Described, Ready, Playing, Paused, Closed }

/// <summary>
/// The RTSP state machine of one viewer connection, pure: no socket, no media, no clock. The connection
/// (<see cref="ViewerConnection"/>) parses a request, asks this what the request may do in the current state (a
/// refusal is an <see cref="RtspRefusal"/> with the status RFC 2326 gives it: 455 wrong state, 454 unknown session,
/// 461 unsupported transport, 453 no channel left, 404 no such track), performs the effects (authentication, the
/// media), and reports the outcome back as a transition. It also owns the interleaved channel map (RFC 2326 §10.12) and
/// the headers every response of the session carries.
/// </summary>
public sealed class ViewerProtocol
{
    public const int SessionTimeoutSeconds = 60;
    public const string Methods = "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER";
    private const string Realm = "HikShareGateway";

    private int[] _trackChannels = [];

    public ViewerState State { get; private set; } = ViewerState.Init;

    /// <summary>The RTSP session id, once a SETUP succeeded (it outlives a change of media on the connection).</summary>
    public string? SessionId { get; private set; }

    /// <summary>The path of the open media, when there is one.</summary>
    public ViewerRequestPath? MediaPath { get; private set; }

    public bool HasMedia => MediaPath is not null;

    public bool Playing => State == ViewerState.Playing;

    /// <summary>The interleaved RTP channel of each track (-1: not set up); RTCP is the next one.</summary>
    public IReadOnlyList<int> TrackChannels => _trackChannels;

    /// <summary>A copy of <see cref="TrackChannels"/> for the output.</summary>
    public int[] TrackChannelsCopy() => (int[])_trackChannels.Clone();

    /// <summary>True when <paramref name="path"/> names the stream of the open media.</summary>
    public bool IsOpenMedia(ViewerRequestPath path) => MediaPath is not null && MediaPath.StreamKey == path.StreamKey;

    /// <summary>What to do with the open media for a DESCRIBE or SETUP of <paramref name="path"/>.</summary>
    public MediaDecision DecideOpen(ViewerRequestPath path)
    {
        if (MediaPath is null)
        {
            return MediaDecision.Open;
        }
        if (IsOpenMedia(path) && !Playing)
        {
            return MediaDecision.Keep; // a repeated DESCRIBE
        }
        if (Playing)
        {
            throw new RtspRefusal(455, "a session is already playing on this connection");
        }
        return MediaDecision.Replace;
    }

    /// <summary>The media for <paramref name="path"/> opened, with <paramref name="trackCount"/> tracks none of which is set up.</summary>
    public void OnMediaOpened(ViewerRequestPath path, int trackCount)
    {
        MediaPath = path;
        _trackChannels = new int[trackCount];
        Array.Fill(_trackChannels, -1);
        State = ViewerState.Described;
    }

    /// <summary>The open media was closed (replaced by other media, or its session ended).</summary>
    public void OnMediaClosed()
    {
        MediaPath = null;
        if (State != ViewerState.Closed)
        {
            State = ViewerState.Init;
        }
    }

    /// <summary>
    /// SETUP of <paramref name="track"/> of the open media: checks the session and the offered transport (RTP over the RTSP
    /// connection only) and chooses the interleaved channels — the viewer's own when free, else the first free pair.
    /// Returns the Transport to answer; the state is <see cref="Ready"/> afterwards (or stays playing/paused).
    /// </summary>
    public TransportSpec Setup(int track, string? sessionHeader, string? transportHeader)
    {
        if (MediaPath is null)
        {
            throw new InvalidOperationException("SETUP before the media was opened");
        }
        if (track >= _trackChannels.Length)
        {
            throw new RtspRefusal(404, $"no track {track}");
        }
        CheckSession(sessionHeader);
        var tcp = TransportHeader.Parse(transportHeader).FirstOrDefault(t => t.Tcp && !t.Multicast)
            // Only RTP over the RTSP connection: an immediate 461 makes ffmpeg, VLC and GStreamer retry with TCP.
            ?? throw new RtspRefusal(461, "only RTP/AVP/TCP (interleaved) is supported");
        var (rtp, _) = tcp.Interleaved ?? (2 * track, 2 * track + 1);
        if (rtp is < 0 or > 254 || Array.Exists(_trackChannels, c => c >= 0 && (c == rtp || c + 1 == rtp)) && _trackChannels[track] != rtp)
        {
            rtp = FreeChannel();
        }
        _trackChannels[track] = rtp;
        SessionId ??= Convert.ToHexString(RandomNumberGenerator.GetBytes(8));
        if (State is ViewerState.Init or ViewerState.Described)
        {
            State = ViewerState.Ready;
        }
        return new TransportSpec { Tcp = true, Interleaved = (rtp, rtp + 1), Mode = tcp.Mode };
    }

    /// <summary>Whether a PLAY may go to the media: a set-up track and the right session, else 455 / 454.</summary>
    public void CheckPlay(string? sessionHeader)
    {
        if (MediaPath is null || SessionId is null || !Array.Exists(_trackChannels, c => c >= 0))
        {
            throw new RtspRefusal(455, "SETUP first");
        }
        CheckSession(sessionHeader);
    }

    /// <summary>The path to authorize a PLAY against: the aggregate URL may omit the path a player used for SETUP.</summary>
    public ViewerRequestPath PlayPath(ViewerRequestPath requested)
        => requested.StreamKey == MediaPath!.StreamKey ? requested : MediaPath with { Token = requested.Token };

    /// <summary>The media answered PLAY with <paramref name="status"/>.</summary>
    public void OnPlayAnswered(int status) => State = status == 200 ? ViewerState.Playing : State == ViewerState.Playing ? ViewerState.Ready : State;

    /// <summary>Whether a PAUSE may go to the media (455 without a session).</summary>
    public void CheckPause()
    {
        if (MediaPath is null || SessionId is null)
        {
            throw new RtspRefusal(455, "nothing is playing");
        }
    }

    /// <summary>A PAUSE was handled (or refused): the session no longer plays.</summary>
    public void OnPaused()
    {
        if (State == ViewerState.Playing)
        {
            State = ViewerState.Paused;
        }
    }

    public void OnTeardown() => State = ViewerState.Closed;

    /// <summary>Which track and direction an interleaved frame from the viewer belongs to; false when none (or not playing).</summary>
    public bool TryRouteInterleaved(byte channel, out int track, out bool rtcp)
    {
        track = -1;
        rtcp = false;
        if (!Playing)
        {
            return false;
        }
        for (var i = 0; i < _trackChannels.Length; i++)
        {
            var c = _trackChannels[i];
            if (c >= 0 && (c == channel || c + 1 == channel))
            {
                track = i;
                rtcp = c + 1 == channel;
                return true;
            }
        }
        return false;
    }

    /// <summary>The headers every response carries: CSeq (when the handler set none), Server, and the session's Session.</summary>
    public void Finish(RtspMessage response, RtspMessage request)
    {
        if (response.Headers.Get("CSeq") is null)
        {
            response.Headers.Set("CSeq", CSeqText(request.CSeq));
        }
        response.Headers.Add("Server", "HikShareGateway");
        if (SessionId is not null && request.Method is "SETUP" or "PLAY" or "PAUSE" or "TEARDOWN" or "GET_PARAMETER")
        {
            response.Headers.Set("Session", $"{SessionId};timeout={SessionTimeoutSeconds}");
        }
    }

    /// <summary>The most <see cref="WriteKeepAliveResponse"/> writes (the Public list and a 16-hex-digit session id fit well within).</summary>
    public const int MaxKeepAliveResponseBytes = 256;

    /// <summary>
    /// The answer to a keep-alive, byte for byte what <see cref="Finish"/> and <see cref="RtspMessage.ToBytes"/> make of
    /// the connection's 200 to it (OPTIONS with Public; GET_PARAMETER with the session's Session), written into
    /// <paramref name="destination"/> (at least <see cref="MaxKeepAliveResponseBytes"/>) without allocating. Returns
    /// the length.
    /// </summary>
    public int WriteKeepAliveResponse(RtspKeepAlive request, Span<byte> destination)
    {
        var w = new SpanWriter(destination);
        w.Write("RTSP/1.0 200 OK\r\n"u8);
        if (request.Method == RtspKeepAliveMethod.Options)
        {
            w.Write("Public: "u8);
            w.Write(Methods);
            w.Write("\r\n"u8);
        }
        w.Write("CSeq: "u8);
        w.Write(request.CSeq < 0 ? 0 : request.CSeq);
        w.Write("\r\nServer: HikShareGateway\r\n"u8);
        if (SessionId is not null && request.Method == RtspKeepAliveMethod.GetParameter)
        {
            w.Write("Session: "u8);
            w.Write(SessionId);
            w.Write(";timeout="u8);
            w.Write(SessionTimeoutSeconds);
            w.Write("\r\n"u8);
        }
        w.Write("\r\n"u8);
        return w.Written;
    }

    /// <summary>Appends to a span; throws when it is too small (a bug: the sizes above are bounded).</summary>
    private ref struct SpanWriter(Span<byte> destination)
    {
        private readonly Span<byte> _destination = destination;

        public int Written { get; private set; }

        public void Write(ReadOnlySpan<byte> bytes)
        {
            bytes.CopyTo(_destination[Written..]);
            Written += bytes.Length;
        }

        public void Write(string text) => Written += Encoding.UTF8.GetBytes(text, _destination[Written..]);

        public void Write(int value)
        {
            if (!value.TryFormat(_destination[Written..], out var n, default, CultureInfo.InvariantCulture))
            {
                throw new ArgumentException("the destination is too small for the response", nameof(destination));
            }
            Written += n;
        }
    }

    /// <summary>
    /// An error response. 401 carries the Basic challenge (contract §4); 400, 401, 404 and 5xx a short reason for people
    /// reading a player's log, which never names a device address or a secret.
    /// </summary>
    public static RtspMessage Error(int cseq, int status, string reason)
    {
        var response = RtspMessage.Response(status);
        response.Headers.Add("CSeq", CSeqText(cseq));
        if (status == 401)
        {
            response.Headers.Add("WWW-Authenticate", $"Basic realm=\"{Realm}\"");
        }
        if (status >= 500 || status == 404 || status == 400 || status == 401)
        {
            response.Body = Encoding.UTF8.GetBytes(reason + "\n");
            response.Headers.Add("Content-Type", "text/plain; charset=utf-8");
        }
        return response;
    }

    private static string CSeqText(int cseq) => cseq < 0 ? "0" : cseq.ToString(CultureInfo.InvariantCulture);

    private void CheckSession(string? sessionHeader)
    {
        if (SessionId is not null && sessionHeader is not null && SessionHeader.IdOf(sessionHeader) != SessionId)
        {
            throw new RtspRefusal(454, "session not found");
        }
    }

    private int FreeChannel()
    {
        for (var c = 0; c < 254; c += 2)
        {
            if (!Array.Exists(_trackChannels, x => x == c))
            {
                return c;
            }
        }
        throw new RtspRefusal(453, "no interleaved channel left");
    }
}

/// <summary>What a DESCRIBE or SETUP does with the connection's open media.</summary>
public enum MediaDecision
{
    /// <summary>No media is open: open it.</summary>
    Open,
    /// <summary>The same stream is open and not playing: keep it.</summary>
    Keep,
    /// <summary>Other media is open and not playing: close it, then open.</summary>
    Replace,
}
