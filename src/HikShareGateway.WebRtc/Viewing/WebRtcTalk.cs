using HikShareGateway.Core.Audio;
using HikShareGateway.WebRtc.Sdp;

namespace HikShareGateway.WebRtc.Viewing;

/// <summary>
/// A WebRTC viewer's talk audio to the device's speaker (contract §5.1 two-way audio). G.711 the device takes is passed
/// as is (the browser's 8 kHz timestamps kept); Opus goes through one <see cref="ITalkTranscoder"/> (48 kHz → 8 kHz G.711
/// in 20 ms frames, timestamps counted from its output). Fed on the mux's receive loop, one packet at a time; no
/// allocation per packet (the transcoder's callback is one cached delegate).
/// </summary>
internal sealed class WebRtcTalk : IWebRtcTalkReceiver, IAsyncDisposable
{
    private readonly ITalkChannel _channel;
    private readonly TalkCodec _codec;
    private readonly ITalkTranscoder? _transcoder;
    private readonly TalkFrameHandler _onFrame;
    private readonly Lock _gate = new();
    private long _packets;
    private int _disposed;

    private WebRtcTalk(ITalkChannel channel, TalkCodec codec, ITalkTranscoder? transcoder)
    {
        _channel = channel;
        _codec = codec;
        _transcoder = transcoder;
        _onFrame = OnTranscodedFrame;
    }

    /// <summary>The codec names the negotiator may receive for this channel.</summary>
    public static TalkReceive Receivable(ITalkChannel channel, ITalkTranscoders? transcoders)
    {
        var names = new List<string>(channel.Codecs.Count);
        foreach (var c in channel.Codecs)
        {
            names.Add(c == TalkCodec.Pcma ? "PCMA" : "PCMU");
        }
        return new TalkReceive(names, transcoders?.Available == true);
    }

    /// <summary>For the codec the answer chose (<paramref name="receiveCodec"/>: PCMU, PCMA or opus).</summary>
    public static WebRtcTalk Create(ITalkChannel channel, string receiveCodec, ITalkTranscoders? transcoders)
    {
        if (receiveCodec.Equals("PCMA", StringComparison.OrdinalIgnoreCase))
        {
            return new WebRtcTalk(channel, TalkCodec.Pcma, null);
        }
        if (receiveCodec.Equals("PCMU", StringComparison.OrdinalIgnoreCase))
        {
            return new WebRtcTalk(channel, TalkCodec.Pcmu, null);
        }
        var target = channel.Codecs[0];
        return new WebRtcTalk(channel, target, transcoders!.CreateOpusToG711(target));
    }

    public ITalkChannel Channel => _channel;

    /// <summary>True when the viewer's Opus is transcoded (metrics, logs).</summary>
    public bool Transcodes => _transcoder is not null;

    public long PacketsReceived => Interlocked.Read(ref _packets);

    public void OnTalkAudio(ReadOnlySpan<byte> payload, uint timestamp, bool marker)
    {
        if (Volatile.Read(ref _disposed) != 0 || payload.IsEmpty)
        {
            return;
        }
        Interlocked.Increment(ref _packets);
        if (_transcoder is null)
        {
            _channel.Write(_codec, payload, timestamp, marker);
            return;
        }
        lock (_gate)
        {
            if (Volatile.Read(ref _disposed) == 0)
            {
                _transcoder.Push(payload, _onFrame);
            }
        }
    }

    private void OnTranscodedFrame(ReadOnlySpan<byte> samples, long pts) => _channel.Write(_codec, samples, (uint)pts, false);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        lock (_gate)
        {
            _transcoder?.Dispose();
        }
        await _channel.DisposeAsync().ConfigureAwait(false);
    }
}
